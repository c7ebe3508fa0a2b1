"""Closed-form parameter and multiply-add counts for every block: the algebra the book teaches.

Conventions, the ones the MobileNet and EfficientNet papers use:

* **parameters** are learnable tensors only: conv weights, conv biases (the SE layers have them),
  BatchNorm's scale and shift (2 per channel). BatchNorm's running statistics are buffers.
* **multiply-adds** (MACs) count the convolutions (and linear layers): a k x k conv from
  ``C_in`` to ``C_out`` in ``g`` groups over an ``H_out x W_out`` output costs
  ``H_out * W_out * C_out * (C_in / g) * k^2``. BatchNorm, activations, pooling, the SE scale
  and the residual add are not counted (they are ``O(C H W)``, not ``O(C^2 H W)``), and neither
  are biases. This matches ``torch.utils.flop_counter``, which reports ``FLOPs = 2 * MACs``.

Every function takes the *input* spatial size, ``size=(H, W)`` or a single int for square
inputs, and returns a :class:`Cost`. The tests check each formula against the modules in
:mod:`mbcourse.blocks`, parameter by parameter and FLOP by FLOP.
"""

from __future__ import annotations

from dataclasses import dataclass

from .blocks import make_divisible, mobilenet_v3_squeeze_channels

__all__ = [
    "Cost",
    "arithmetic_intensity",
    "conv",
    "conv_norm_act",
    "conv_out_size",
    "depthwise_separable",
    "fused_mbconv",
    "inverted_residual",
    "mbconv",
    "mobilenet_v3_block",
    "squeeze_excitation",
    "standard_conv",
]

Size = int | tuple[int, int]


@dataclass(frozen=True)
class Cost:
    """Parameters, multiply-adds and the output spatial size ``(H_out, W_out)`` of a layer."""

    params: int
    macs: int
    out_size: tuple[int, int]

    @property
    def flops(self) -> int:
        """``2 * macs``, the convention of ``torch.utils.flop_counter``.

        (torchvision's documented "GFLOPS" are multiply-adds, i.e. ``macs``.)
        """
        return 2 * self.macs

    def then(self, other: Cost) -> Cost:
        """The cost of running ``self`` and then ``other`` (sizes follow ``other``)."""
        return Cost(self.params + other.params, self.macs + other.macs, other.out_size)


def _pair(size: Size) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def conv_out_size(size: int, kernel_size: int, stride: int = 1) -> int:
    """Output length of a conv with padding ``(k - 1) // 2``: ``floor((n + 2p - k) / s) + 1``."""
    padding = (kernel_size - 1) // 2
    return (size + 2 * padding - kernel_size) // stride + 1


def conv(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    size: Size,
    stride: int = 1,
    groups: int = 1,
    bias: bool = False,
) -> Cost:
    """A bare conv: ``C_out * (C_in / g) * k^2`` weights (+ ``C_out`` biases), applied at every
    output position."""
    h, w = _pair(size)
    ho, wo = conv_out_size(h, kernel_size, stride), conv_out_size(w, kernel_size, stride)
    weights = out_channels * (in_channels // groups) * kernel_size**2
    params = weights + (out_channels if bias else 0)
    return Cost(params, weights * ho * wo, (ho, wo))


def arithmetic_intensity(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    size: Size,
    stride: int = 1,
    groups: int = 1,
    *,
    bytes_per_element: int = 4,
) -> float:
    """Multiply-adds per byte of a bare conv (:func:`conv`) whose input, output and weights each
    cross memory once, the best case: ``macs / (bytes_per_element * (C_in * H * W +
    C_out * H_out * W_out + weights))``. Taught in chapters 5 and 8 (book/05_fused_mbconv.ipynb,
    book/08_performance.ipynb)."""
    h, w = _pair(size)
    cost = conv(in_channels, out_channels, kernel_size, size, stride, groups)
    ho, wo = cost.out_size
    moved = bytes_per_element * (in_channels * h * w + out_channels * ho * wo + cost.params)
    return cost.macs / moved


def conv_norm_act(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    size: Size,
    stride: int = 1,
    groups: int = 1,
) -> Cost:
    """Conv (no bias) + BatchNorm (2 parameters per channel) + activation (free)."""
    c = conv(in_channels, out_channels, kernel_size, size, stride, groups)
    return Cost(c.params + 2 * out_channels, c.macs, c.out_size)


def standard_conv(
    in_channels: int, out_channels: int, kernel_size: int, size: Size, stride: int = 1
) -> Cost:
    """A regular k x k :class:`~mbcourse.blocks.ConvNormAct`: ``C_in C_out k^2`` weights.

    Taught in chapter 1 (book/01_cost_of_convolution.ipynb).
    """
    return conv_norm_act(in_channels, out_channels, kernel_size, size, stride)


def depthwise_separable(
    in_channels: int, out_channels: int, kernel_size: int, size: Size, stride: int = 1
) -> Cost:
    """Depthwise ``C_in k^2`` + pointwise ``C_in C_out`` (+ BatchNorm).

    Against a standard conv the multiply-adds shrink by ``1 / C_out + 1 / k^2``.
    Taught in chapter 1 (book/01_cost_of_convolution.ipynb).
    """
    dw = conv_norm_act(in_channels, in_channels, kernel_size, size, stride, groups=in_channels)
    pw = conv_norm_act(in_channels, out_channels, 1, dw.out_size)
    return dw.then(pw)


def squeeze_excitation(channels: int, squeeze_channels: int, size: Size = 1) -> Cost:
    """SE: fc1 ``C -> S`` and fc2 ``S -> C``, both with bias: ``2 C S + S + C`` parameters.

    They act on the pooled ``1 x 1`` map, so they cost ``2 C S`` multiply-adds whatever the input
    size; the output size is the input size.
    Taught in chapter 3 (book/03_squeeze_excitation.ipynb).
    """
    fc1 = conv(channels, squeeze_channels, 1, 1, bias=True)
    fc2 = conv(squeeze_channels, channels, 1, 1, bias=True)
    return Cost(fc1.params + fc2.params, fc1.macs + fc2.macs, _pair(size))


def inverted_residual(
    in_channels: int,
    out_channels: int,
    size: Size,
    stride: int = 1,
    expand_ratio: float = 6,
    kernel_size: int = 3,
) -> Cost:
    """MobileNetV2: expand ``C_in -> t C_in`` (absent if t = 1), depthwise, linear project.

    Taught in chapter 2 (book/02_inverted_residuals.ipynb).
    """
    hidden = round(in_channels * expand_ratio)
    total = Cost(0, 0, _pair(size))
    if expand_ratio != 1:
        total = total.then(conv_norm_act(in_channels, hidden, 1, total.out_size))
    total = total.then(
        conv_norm_act(hidden, hidden, kernel_size, total.out_size, stride, groups=hidden)
    )
    return total.then(conv_norm_act(hidden, out_channels, 1, total.out_size))


def _se_cost(channels: int, in_channels: int, se_ratio: float, size: Size) -> Cost:
    if se_ratio == 0:
        return Cost(0, 0, _pair(size))
    return squeeze_excitation(channels, max(1, int(in_channels * se_ratio)), size)


def _se_then_project(
    total: Cost, expanded: int, in_channels: int, out_channels: int, se_ratio: float
) -> Cost:
    """``total`` followed by the SE on the ``expanded`` width and the linear 1x1 projection: the
    tail that MBConv and Fused-MBConv share."""
    total = total.then(_se_cost(expanded, in_channels, se_ratio, total.out_size))
    return total.then(conv_norm_act(expanded, out_channels, 1, total.out_size))


def mbconv(
    in_channels: int,
    out_channels: int,
    size: Size,
    stride: int = 1,
    expand_ratio: float = 6,
    kernel_size: int = 3,
    se_ratio: float = 0.25,
) -> Cost:
    """EfficientNet MBConv: expand (if ``make_divisible(C_in e) != C_in``), depthwise, SE, project.

    The SE squeezes to ``max(1, C_in * se_ratio)`` channels: sized from the block *input*.
    Taught in chapter 4 (book/04_mbconv.ipynb).
    """
    expanded = make_divisible(in_channels * expand_ratio, 8)
    total = Cost(0, 0, _pair(size))
    if expanded != in_channels:
        total = total.then(conv_norm_act(in_channels, expanded, 1, total.out_size))
    total = total.then(
        conv_norm_act(expanded, expanded, kernel_size, total.out_size, stride, groups=expanded)
    )
    return _se_then_project(total, expanded, in_channels, out_channels, se_ratio)


def fused_mbconv(
    in_channels: int,
    out_channels: int,
    size: Size,
    stride: int = 1,
    expand_ratio: float = 4,
    kernel_size: int = 3,
    se_ratio: float = 0.0,
) -> Cost:
    """EfficientNetV2 Fused-MBConv: a regular k x k ``C_in -> C_exp`` (+ SE) + project 1x1.

    The fused conv has ``C_in C_exp k^2`` weights where MBConv's expand + depthwise have
    ``C_in C_exp + C_exp k^2``: fusing *adds* parameters whenever ``C_in > 1``.
    Taught in chapter 5 (book/05_fused_mbconv.ipynb).
    """
    expanded = make_divisible(in_channels * expand_ratio, 8)
    start = _pair(size)
    if expanded == in_channels:
        fused = conv_norm_act(in_channels, out_channels, kernel_size, start, stride)
        return fused.then(_se_cost(out_channels, in_channels, se_ratio, fused.out_size))
    fused = conv_norm_act(in_channels, expanded, kernel_size, start, stride)
    return _se_then_project(fused, expanded, in_channels, out_channels, se_ratio)


def mobilenet_v3_block(
    in_channels: int,
    expanded_channels: int,
    out_channels: int,
    size: Size,
    kernel_size: int = 3,
    stride: int = 1,
    use_se: bool = False,
) -> Cost:
    """MobileNetV3's block: expand to ``C_exp`` (absent if ``C_exp == C_in``), depthwise, SE,
    linear project.

    The SE (when ``use_se``) squeezes to ``make_divisible(C_exp // 4, 8)``: sized from the
    *expanded* width, where MBConv's :func:`mbconv` uses ``max(1, C_in // 4)`` of the input.
    Activations (ReLU, h-swish, hard-sigmoid) have no parameters and no multiply-adds here.
    Taught in chapter 4 (book/04_mbconv.ipynb).
    """
    total = Cost(0, 0, _pair(size))
    if expanded_channels != in_channels:
        total = total.then(conv_norm_act(in_channels, expanded_channels, 1, total.out_size))
    total = total.then(conv_norm_act(expanded_channels, expanded_channels, kernel_size,
                                     total.out_size, stride, groups=expanded_channels))
    if use_se:
        squeeze = mobilenet_v3_squeeze_channels(expanded_channels)
        total = total.then(squeeze_excitation(expanded_channels, squeeze, total.out_size))
    return total.then(conv_norm_act(expanded_channels, out_channels, 1, total.out_size))
