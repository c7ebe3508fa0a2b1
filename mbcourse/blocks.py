"""The building blocks of efficient CNNs, one class per figure.

Every block follows torchvision's reference implementation exactly (layer order, BatchNorm
placement, bias only where there is no norm, channel rounding), so that networks assembled from
these blocks reproduce torchvision's parameter counts and, given the same weights, its outputs.

Arguments are checked once, when a block is built (:func:`check_arguments`: one line above each
``__init__``); every ``forward`` is plain tensor code, so the blocks and the networks built from
them work with ``torch.fx``, ``torch.export``, ``torch.compile`` and TorchScript. A network
checks its input at its entry (:mod:`mbcourse.models`); a block called on its own with the wrong
channel count gets PyTorch's error from its first convolution.

Shapes use ``N`` for the batch, ``C`` for channels and ``H x W`` for the spatial size.
"""

from __future__ import annotations

import functools
import inspect
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .validation import (
    check_int,
    check_module,
    check_positive,
    check_probability,
    is_int,
    is_number,
)

__all__ = [
    "ARGUMENT_RULES",
    "ConvNormAct",
    "DepthwiseSeparableConv",
    "FusedMBConv",
    "InvertedResidual",
    "MBConv",
    "SamePad",
    "SqueezeExcitation",
    "StochasticDepth",
    "check_arguments",
    "make_divisible",
    "record_se_gates",
]

ModuleFactory = Callable[..., nn.Module]


# --------------------------------------------------------------------------------------------
# Argument checking, once, at construction: every message names the block, the argument and
# what was expected. The forward passes are plain tensor code; a network checks its input once,
# at its entry (mbcourse.models), so that a wrong input never reaches a conv unexplained.
# --------------------------------------------------------------------------------------------
def _check_stride(block: str, name: str, stride: object) -> None:
    if not is_int(stride) or stride not in (1, 2):
        raise ValueError(f"{block}: {name} must be 1 or 2, got {stride!r}")


def _check_kernel(block: str, name: str, kernel_size: object) -> None:
    if not is_int(kernel_size) or kernel_size <= 0 or kernel_size % 2 == 0:
        raise ValueError(
            f"{block}: {name} must be a positive odd integer (1, 3, 5, ...), got {kernel_size!r}"
        )


PADDINGS = ("symmetric", "same")


def _check_padding(block: str, name: str, padding: object) -> None:
    if padding not in PADDINGS:
        raise ValueError(f"{block}: {name} must be one of {PADDINGS}, got {padding!r}")


def _check_expand_ratio(block: str, name: str, expand_ratio: object) -> None:
    if not is_number(expand_ratio) or not expand_ratio >= 1:
        raise ValueError(f"{block}: {name} must be a number >= 1, got {expand_ratio!r}")


def _check_optional_int(block: str, name: str, value: object) -> None:
    if value is not None:
        check_int(block, name, value)


Rule = Callable[[str, str, Any], object]

#: How each constructor argument of the blocks is checked, by its name: ``rule(block, name,
#: value)`` raises a ``ValueError`` naming the block, the argument and what was expected.
ARGUMENT_RULES: dict[str, Rule] = {
    "in_channels": check_int,
    "out_channels": check_int,
    "channels": check_int,
    "groups": check_int,
    "squeeze_channels": _check_optional_int,
    "kernel_size": _check_kernel,
    "stride": _check_stride,
    "expand_ratio": _check_expand_ratio,
    "padding": _check_padding,
    "reduction": check_positive,
    "se_ratio": functools.partial(check_probability, closed=True),
    "stochastic_depth_prob": functools.partial(check_probability, closed=False),
    "p": functools.partial(check_probability, closed=False),
}

Init = TypeVar("Init", bound=Callable[..., None])
Relation = Callable[[str, Mapping[str, Any]], None]


def check_arguments(init: Init | None = None, /, *, relation: Relation | None = None) -> Any:
    """Decorate a block's ``__init__`` so that its arguments are checked before it runs.

    Every argument named in :data:`ARGUMENT_RULES` is checked by its rule (defaults included),
    in the order of the signature, then ``relation(block, arguments)`` checks how arguments fit
    together (e.g. ``groups`` dividing the channels). ``block`` in the messages is the class
    name of the module being built. ``@check_arguments`` or ``@check_arguments(relation=...)``.
    """

    def decorate(func: Init) -> Init:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def checked(self: nn.Module, *args: Any, **kwargs: Any) -> None:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            block = type(self).__name__
            for name, value in bound.arguments.items():
                rule = ARGUMENT_RULES.get(name)
                if rule is not None:
                    rule(block, name, value)
            if relation is not None:
                relation(block, bound.arguments)
            func(self, *args, **kwargs)

        return checked  # type: ignore[return-value]

    return decorate if init is None else decorate(init)


def _groups_divide_channels(block: str, args: Mapping[str, Any]) -> None:
    in_c, out_c, groups = args["in_channels"], args["out_channels"], args["groups"]
    if in_c % groups or out_c % groups:
        raise ValueError(
            f"{block}: groups must divide in_channels ({in_c}) and out_channels ({out_c}), "
            f"got {groups}"
        )


def _reduction_leaves_a_channel(block: str, args: Mapping[str, Any]) -> None:
    channels, reduction = args["channels"], args["reduction"]
    if args["squeeze_channels"] is None and int(channels // reduction) < 1:
        raise ValueError(
            f"{block}: reduction={reduction!r} leaves {channels} // {reduction!r} = 0 "
            f"squeeze channels; use a reduction <= {channels}"
        )


# --------------------------------------------------------------------------------------------
# Channel rounding (torchvision's ``_make_divisible``)
# --------------------------------------------------------------------------------------------
def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never going down by more than 10%.

    This is the rounding used by MobileNetV2 and EfficientNet (torchvision's ``_make_divisible``).
    """
    if min_value is None:
        min_value = divisor
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < 0.9 * value:
        new_value += divisor
    return new_value


class SamePad(nn.Module):
    """TensorFlow's "SAME" padding for a strided conv: ``(N, C, H, W) -> (N, C, H + p_h, W + p_w)``.

    The total padding along a side of length ``i`` is ``max((ceil(i / s) - 1) * s + k - i, 0)``,
    computed for each input's size (as timm's ``Conv2dSame`` does); the extra pixel of an odd
    total goes to the bottom and right, so a stride-2 conv sees ``(0, 1)`` for ``k = 3`` and
    ``(1, 2)`` for ``k = 5`` on an even size. The conv after it then pads nothing and gives
    ``ceil(i / s)`` outputs. For stride 1 and odd ``k`` this equals the symmetric
    ``(k - 1) // 2``, so :class:`ConvNormAct` uses it only for strided convs. For one fixed
    input size it is the static ``nn.ZeroPad2d(pad.padding_for(h, w))``, which is what
    :func:`mbcourse.deploy.export_onnx` exports. Taught in chapter 10
    (book/10_trained_network.ipynb).
    """

    def __init__(self, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride

    def padding_for(self, height: int, width: int) -> tuple[int, int, int, int]:
        """``(left, right, top, bottom)`` for an input of ``height x width``."""
        k, s = self.kernel_size, self.stride
        pad_h = max((-(-height // s) - 1) * s + k - height, 0)
        pad_w = max((-(-width // s) - 1) * s + k - width, 0)
        return pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2

    def forward(self, x: Tensor) -> Tensor:
        return F.pad(x, self.padding_for(x.shape[-2], x.shape[-1]))

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


# --------------------------------------------------------------------------------------------
# Conv -> Norm -> Act
# --------------------------------------------------------------------------------------------
class ConvNormAct(nn.Sequential):
    """Convolution, BatchNorm, activation: ``(N, C_in, H, W) -> (N, C_out, H/s, W/s)``.

    Padding is ``(k - 1) // 2`` on every side (``padding="symmetric"``, torchvision's rule;
    "same" size for stride 1). ``padding="same"`` is TensorFlow's rule, which weights trained
    in TensorFlow expect: a strided conv gets a :class:`SamePad` before it (``pad``) and pads
    nothing itself. The conv has no bias because the BatchNorm that follows has one.
    ``activation=None`` makes the block linear. A plain ``nn.Sequential`` (``pad``, ``conv``,
    ``norm``, ``act``): its forward is Sequential's own.
    Taught in chapter 1 (book/01_cost_of_convolution.ipynb).
    """

    @check_arguments(relation=_groups_divide_channels)
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        activation: ModuleFactory | None = nn.ReLU6,
        *,
        norm_layer: ModuleFactory = nn.BatchNorm2d,
        padding: str = "symmetric",
    ) -> None:
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        tf_same = padding == "same" and stride > 1
        if tf_same:
            layers["pad"] = SamePad(kernel_size, stride)
        layers["conv"] = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=0 if tf_same else (kernel_size - 1) // 2,
            groups=groups,
            bias=False,
        )
        layers["norm"] = norm_layer(out_channels)
        if activation is not None:
            layers["act"] = _make_activation(activation)
        super().__init__(layers)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride


def _make_activation(activation: ModuleFactory) -> nn.Module:
    """Build an activation in place mode when it supports it (as torchvision does)."""
    try:
        return activation(inplace=True)
    except TypeError:
        return activation()


# --------------------------------------------------------------------------------------------
# MobileNet (v1): depthwise separable convolution
# --------------------------------------------------------------------------------------------
class DepthwiseSeparableConv(nn.Module):
    """MobileNet's factorised convolution: depthwise k x k, then pointwise 1 x 1.

    ``(N, C_in, H, W) -> depthwise -> (N, C_in, H/s, W/s) -> pointwise -> (N, C_out, H/s, W/s)``.
    Taught in chapter 1 (book/01_cost_of_convolution.ipynb).
    """

    @check_arguments
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        *,
        activation: ModuleFactory | None = nn.ReLU6,
        norm_layer: ModuleFactory = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.depthwise = ConvNormAct(
            in_channels, in_channels, kernel_size, stride, groups=in_channels,
            activation=activation, norm_layer=norm_layer,
        )
        self.pointwise = ConvNormAct(
            in_channels, out_channels, 1, activation=activation, norm_layer=norm_layer
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.pointwise(self.depthwise(x))


# --------------------------------------------------------------------------------------------
# MobileNetV2: inverted residual with linear bottleneck
# --------------------------------------------------------------------------------------------
class InvertedResidual(nn.Module):
    """MobileNetV2's block: expand 1x1 + ReLU6 -> depthwise k x k + ReLU6 -> linear 1x1 project.

    ``(N, C_in, H, W) -> (N, t*C_in, H, W) -> (N, t*C_in, H/s, W/s) -> (N, C_out, H/s, W/s)``,
    plus the input when ``use_residual`` (stride 1 and ``C_in == C_out``). The expansion is
    absent when ``expand_ratio`` is 1. The expanded ("hidden") width is ``round(C_in * t)``, as in
    torchvision. The arguments are checked once, here (:func:`check_arguments`); the input is
    checked at the network's entry, so a block called on its own with the wrong channel count
    gets PyTorch's error from its first conv. Taught in chapter 2
    (book/02_inverted_residuals.ipynb).
    """

    @check_arguments
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        expand_ratio: float = 6,
        kernel_size: int = 3,
        *,
        norm_layer: ModuleFactory = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        expanded = round(in_channels * expand_ratio)  # no rounding to a multiple of 8
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.expanded_channels = expanded
        self.use_residual = stride == 1 and in_channels == out_channels
        self.expand: nn.Module = (
            ConvNormAct(in_channels, expanded, 1, activation=nn.ReLU6, norm_layer=norm_layer)
            if expand_ratio != 1
            else nn.Identity()
        )
        self.depthwise = ConvNormAct(
            expanded, expanded, kernel_size, stride, groups=expanded,
            activation=nn.ReLU6, norm_layer=norm_layer,
        )
        self.project = ConvNormAct(
            expanded, out_channels, 1, activation=None, norm_layer=norm_layer
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.expand(x)
        out = self.depthwise(out)
        out = self.project(out)  # linear bottleneck: no activation
        return x + out if self.use_residual else out


# --------------------------------------------------------------------------------------------
# Squeeze-and-Excitation
# --------------------------------------------------------------------------------------------
class SqueezeExcitation(nn.Module):
    """Channel attention: squeeze (global average pool) -> excitation MLP -> sigmoid -> scale.

    ``(N, C, H, W) -> (N, C, 1, 1) -> fc1 -> (N, C/r, 1, 1) -> fc2 -> (N, C, 1, 1)``; the sigmoid
    gate multiplies each channel of the input. The two "fully connected" layers are 1x1 convs
    with bias (torchvision's layout). ``squeeze_channels`` overrides ``reduction``. To look at
    the gates a forward pass computed, run it inside :func:`record_se_gates`.
    Taught in chapter 3 (book/03_squeeze_excitation.ipynb).
    """

    @check_arguments(relation=_reduction_leaves_a_channel)
    def __init__(
        self,
        channels: int,
        reduction: float = 4,
        *,
        squeeze_channels: int | None = None,
        activation: ModuleFactory = nn.ReLU,
    ) -> None:
        super().__init__()
        if squeeze_channels is None:
            squeeze_channels = int(channels // reduction)
        self.channels = channels
        self.squeeze_channels = squeeze_channels
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.activation = _make_activation(activation)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.scale_activation = nn.Sigmoid()

    def gate(self, x: Tensor) -> Tensor:
        """The per-channel weights in (0, 1): ``(N, C, H, W) -> (N, C, 1, 1)``."""
        s = self.avgpool(x)  # squeeze
        s = self.fc1(s)  # excitation: C -> C/r
        s = self.activation(s)
        s = self.fc2(s)  # C/r -> C
        return self.scale_activation(s)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(x)  # scale


@contextmanager
def record_se_gates(module: nn.Module) -> Iterator[dict[str, Tensor]]:
    """Record the gate of every :class:`SqueezeExcitation` in ``module`` while the block runs.

    Yields a dict ``{name: gate}`` (names as ``module.named_modules()`` gives them; ``""`` when
    ``module`` is itself the SE) that each forward pass fills with that SE's gate, shape
    ``(N, C)``, detached; a later pass replaces it. Forward hooks on each SE's
    ``scale_activation`` (the sigmoid that makes the gate) do the recording, and are removed
    on exit: outside the ``with`` block the modules keep no state. Taught in chapter 3
    (book/03_squeeze_excitation.ipynb)::

        with record_se_gates(model) as gates:
            model(x)
        gates["features.1.0.se"]  # (N, C)
    """
    check_module("record_se_gates", "module", module)
    gates: dict[str, Tensor] = {}

    def recorder(name: str) -> Callable[[nn.Module, tuple[Tensor, ...], Tensor], None]:
        def hook(_: nn.Module, __: tuple[Tensor, ...], gate: Tensor) -> None:
            gates[name] = gate.detach().flatten(1)

        return hook

    handles = [
        se.scale_activation.register_forward_hook(recorder(name))
        for name, se in module.named_modules()
        if isinstance(se, SqueezeExcitation)
    ]
    try:
        yield gates
    finally:
        for handle in handles:
            handle.remove()


# --------------------------------------------------------------------------------------------
# Stochastic depth
# --------------------------------------------------------------------------------------------
class StochasticDepth(nn.Module):
    """Drop whole residual branches per sample ("row" mode) with probability ``p``.

    In training each sample's branch is kept with probability ``1 - p`` and rescaled by
    ``1 / (1 - p)``, so the expectation is unchanged; in eval mode this is the identity.
    Shape: ``(N, ...) -> (N, ...)``. Taught in chapter 4 (book/04_mbconv.ipynb).
    """

    @check_arguments
    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        shape = [x.shape[0]] + [1] * (x.dim() - 1)  # one draw per sample
        noise = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(survival)
        return x * noise.div_(survival)

    def extra_repr(self) -> str:
        return f"p={self.p}, mode=row"


# --------------------------------------------------------------------------------------------
# EfficientNet: MBConv
# --------------------------------------------------------------------------------------------
def _se_or_identity(channels: int, in_channels: int, se_ratio: float) -> nn.Module:
    """EfficientNet's SE: squeeze width from the block *input*, max(1, C_in * se_ratio), SiLU."""
    if se_ratio == 0:
        return nn.Identity()
    squeeze = max(1, int(in_channels * se_ratio))
    return SqueezeExcitation(channels, squeeze_channels=squeeze, activation=nn.SiLU)


class MBConv(nn.Module):
    """EfficientNet's mobile inverted bottleneck with squeeze-and-excitation.

    ``expand 1x1 + SiLU -> depthwise k x k + SiLU -> SE -> linear project 1x1`` and, when
    ``use_residual`` (stride 1 and ``C_in == C_out``), ``x + StochasticDepth(branch)``.
    Expanded width: ``make_divisible(C_in * e, 8)``; the expansion is skipped when that equals
    ``C_in``. ``se_ratio=0`` removes the SE. Shapes: ``(N, C_in, H, W) -> (N, C_out, H/s, W/s)``.
    ``activation`` (SiLU) is that of the expansion and the depthwise conv (EfficientNet-Lite:
    ReLU6), ``padding`` that of the depthwise conv (:class:`ConvNormAct`).
    Arguments are checked once, at construction (:func:`check_arguments`). Taught in chapter 4
    (book/04_mbconv.ipynb).
    """

    @check_arguments
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        expand_ratio: float = 6,
        kernel_size: int = 3,
        se_ratio: float = 0.25,
        stochastic_depth_prob: float = 0.0,
        *,
        norm_layer: ModuleFactory = nn.BatchNorm2d,
        activation: ModuleFactory = nn.SiLU,
        padding: str = "symmetric",
    ) -> None:
        super().__init__()
        expanded = make_divisible(in_channels * expand_ratio, 8)
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.expanded_channels = expanded
        self.use_residual = stride == 1 and in_channels == out_channels
        self.expand: nn.Module = (
            ConvNormAct(in_channels, expanded, 1, activation=activation, norm_layer=norm_layer)
            if expanded != in_channels
            else nn.Identity()
        )
        self.depthwise = ConvNormAct(
            expanded, expanded, kernel_size, stride, groups=expanded,
            activation=activation, norm_layer=norm_layer, padding=padding,
        )
        self.se = _se_or_identity(expanded, in_channels, se_ratio)
        self.project = ConvNormAct(
            expanded, out_channels, 1, activation=None, norm_layer=norm_layer
        )
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob)

    def forward(self, x: Tensor) -> Tensor:
        out = self.expand(x)
        out = self.depthwise(out)
        out = self.se(out)
        out = self.project(out)
        if self.use_residual:
            out = x + self.stochastic_depth(out)
        return out


# --------------------------------------------------------------------------------------------
# EfficientNetV2: Fused-MBConv
# --------------------------------------------------------------------------------------------
class FusedMBConv(nn.Module):
    """EfficientNetV2's Fused-MBConv: one regular k x k conv replaces expand 1x1 + depthwise.

    ``fused k x k + SiLU -> (SE) -> linear project 1x1`` when the expanded width differs from
    ``C_in``; otherwise a single ``k x k + SiLU`` conv straight to ``C_out``. Residual with
    stochastic depth exactly when stride is 1 and ``C_in == C_out``. EfficientNetV2 uses no SE
    here (``se_ratio=0``, the default). Shapes: ``(N, C_in, H, W) -> (N, C_out, H/s, W/s)``.
    Arguments are checked once, at construction (:func:`check_arguments`). Taught in chapter 5
    (book/05_fused_mbconv.ipynb).
    """

    @check_arguments
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        expand_ratio: float = 4,
        kernel_size: int = 3,
        se_ratio: float = 0.0,
        stochastic_depth_prob: float = 0.0,
        *,
        norm_layer: ModuleFactory = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        expanded = make_divisible(in_channels * expand_ratio, 8)
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.expanded_channels = expanded
        self.use_residual = stride == 1 and in_channels == out_channels
        if expanded != in_channels:
            self.fused = ConvNormAct(
                in_channels, expanded, kernel_size, stride,
                activation=nn.SiLU, norm_layer=norm_layer,
            )
            self.se = _se_or_identity(expanded, in_channels, se_ratio)
            self.project: nn.Module = ConvNormAct(
                expanded, out_channels, 1, activation=None, norm_layer=norm_layer
            )
        else:
            self.fused = ConvNormAct(
                in_channels, out_channels, kernel_size, stride,
                activation=nn.SiLU, norm_layer=norm_layer,
            )
            self.se = _se_or_identity(out_channels, in_channels, se_ratio)
            self.project = nn.Identity()
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob)

    def forward(self, x: Tensor) -> Tensor:
        out = self.fused(x)  # expansion and spatial mixing in one regular conv
        out = self.se(out)
        out = self.project(out)
        if self.use_residual:
            out = x + self.stochastic_depth(out)
        return out
