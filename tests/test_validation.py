"""Bad input gets a clear error naming the block, the argument and what was expected."""

from __future__ import annotations

import inspect
import math

import pytest
import torch

from mbcourse.blocks import (
    ARGUMENT_RULES,
    ConvNormAct,
    DepthwiseSeparableConv,
    FusedMBConv,
    InvertedResidual,
    MBConv,
    SqueezeExcitation,
    StochasticDepth,
)
from mbcourse.models import efficientnet_b0, mobilenet_v2
from mbcourse.validation import check_shape

CHANNEL_BLOCKS = [ConvNormAct, DepthwiseSeparableConv, InvertedResidual, MBConv, FusedMBConv]
STRIDED_BLOCKS = CHANNEL_BLOCKS
EXPANDING_BLOCKS = [InvertedResidual, MBConv, FusedMBConv]
MB_BLOCKS = [MBConv, FusedMBConv]


@pytest.mark.parametrize("block", CHANNEL_BLOCKS)
@pytest.mark.parametrize("arg", ["in_channels", "out_channels"])
@pytest.mark.parametrize("bad", [0, -3, 2.5, "8", True, None])
def test_channels_must_be_positive_integers(block, arg: str, bad: object) -> None:
    kwargs = {"in_channels": 8, "out_channels": 8, arg: bad}
    with pytest.raises(ValueError, match=rf"{block.__name__}: {arg} must be a positive integer"):
        block(**kwargs)


@pytest.mark.parametrize("block", STRIDED_BLOCKS)
@pytest.mark.parametrize("bad", [0, 3, -1, 1.0, "2"])
def test_stride_must_be_1_or_2(block, bad: object) -> None:
    with pytest.raises(ValueError, match=rf"{block.__name__}: stride must be 1 or 2, got"):
        block(8, 8, stride=bad)


@pytest.mark.parametrize("block", STRIDED_BLOCKS)
@pytest.mark.parametrize("bad", [0, 2, 4, -3, 3.0])
def test_kernel_size_must_be_positive_odd(block, bad: object) -> None:
    with pytest.raises(ValueError, match=rf"{block.__name__}: kernel_size must be a positive odd"):
        block(8, 8, kernel_size=bad)


@pytest.mark.parametrize("block", EXPANDING_BLOCKS)
@pytest.mark.parametrize("bad", [0, 0.5, -1, math.nan, "6", None])
def test_expand_ratio_at_least_one(block, bad: object) -> None:
    with pytest.raises(ValueError, match=rf"{block.__name__}: expand_ratio must be a number >= 1"):
        block(8, 8, expand_ratio=bad)


@pytest.mark.parametrize("block", MB_BLOCKS)
@pytest.mark.parametrize("bad", [-0.1, 1.5, math.nan, "0.25"])
def test_se_ratio_in_unit_interval(block, bad: object) -> None:
    message = rf"{block.__name__}: se_ratio must be a number in \[0, 1\]"
    with pytest.raises(ValueError, match=message):
        block(8, 8, se_ratio=bad)


@pytest.mark.parametrize("block", MB_BLOCKS)
@pytest.mark.parametrize("bad", [-0.1, 1.0, 2, math.nan])
def test_drop_probability_in_half_open_interval(block, bad: object) -> None:
    with pytest.raises(
        ValueError, match=rf"{block.__name__}: stochastic_depth_prob must be a number in \[0, 1\)"
    ):
        block(8, 8, stochastic_depth_prob=bad)


@pytest.mark.parametrize("bad", [-0.1, 1.0, math.inf])
def test_stochastic_depth_p(bad: float) -> None:
    with pytest.raises(ValueError, match=r"StochasticDepth: p must be a number in \[0, 1\)"):
        StochasticDepth(bad)


def test_groups_must_divide_channels() -> None:
    with pytest.raises(ValueError, match="ConvNormAct: groups must divide"):
        ConvNormAct(8, 6, groups=4)
    with pytest.raises(ValueError, match="ConvNormAct: groups must be a positive integer"):
        ConvNormAct(8, 8, groups=0)


@pytest.mark.parametrize("bad", [0, -4, math.nan, "4", None])
def test_se_reduction_must_be_positive(bad: object) -> None:
    with pytest.raises(ValueError, match="SqueezeExcitation: reduction must be a positive number"):
        SqueezeExcitation(16, reduction=bad)


def test_se_reduction_leaving_zero_squeeze_channels() -> None:
    with pytest.raises(ValueError, match=r"SqueezeExcitation: reduction=32 leaves .* = 0 squeeze"):
        SqueezeExcitation(16, reduction=32)


@pytest.mark.parametrize("bad", [0, -1, 1.5])
def test_se_squeeze_channels_positive(bad: object) -> None:
    with pytest.raises(ValueError, match="SqueezeExcitation: squeeze_channels must be a positive"):
        SqueezeExcitation(16, squeeze_channels=bad)


def test_se_channels_positive() -> None:
    with pytest.raises(ValueError, match="SqueezeExcitation: channels must be a positive integer"):
        SqueezeExcitation(0)


# ------------------------------------------------------------ run time: the network's entry
NETWORKS = [
    (lambda: mobilenet_v2(width_mult=0.25), "MobileNetV2"),
    (lambda: efficientnet_b0(width_mult=0.25, depth_mult=0.25), "EfficientNet"),
]


@pytest.mark.parametrize(("make", "name"), NETWORKS)
def test_wrong_channel_count_is_named_at_the_network_entry(make, name: str) -> None:
    with pytest.raises(ValueError, match=rf"{name}: expected 3 input channels .* got 1 channels"):
        make()(torch.randn(1, 1, 32, 32))


@pytest.mark.parametrize(("make", "name"), NETWORKS)
@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 3, 32, 32, 1), (3,)])
def test_wrong_rank_is_named_at_the_network_entry(make, name: str, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=rf"{name}: expected a 4-D input .* got a {len(shape)}-D"):
        make()(torch.randn(*shape))


def test_non_tensor_input_to_a_network() -> None:
    with pytest.raises(TypeError, match=r"MobileNetV2: expected a torch\.Tensor input, got list"):
        mobilenet_v2(width_mult=0.25)([1, 2, 3])


BLOCKS = [
    lambda: ConvNormAct(8, 4),
    lambda: DepthwiseSeparableConv(8, 4),
    lambda: InvertedResidual(8, 8),
    lambda: MBConv(8, 8),
    lambda: FusedMBConv(8, 8),
]


@pytest.mark.parametrize("make", BLOCKS)
def test_a_block_called_alone_gets_pytorchs_own_error(make) -> None:
    # The blocks check their arguments once, at construction; at run time only the network's
    # entry checks (the blocks' forward passes are plain tensor code, which tracing needs).
    with pytest.raises(RuntimeError, match=r"expected input.* to have 8 channels"):
        make()(torch.randn(1, 3, 8, 8))


# ------------------------------------------------------------------ the checks themselves
def test_arguments_are_checked_by_name_in_signature_order() -> None:
    assert set(ARGUMENT_RULES) >= {"in_channels", "stride", "kernel_size", "expand_ratio"}
    # several bad arguments: the first in the signature is reported
    with pytest.raises(ValueError, match="MBConv: in_channels must be a positive integer"):
        MBConv(0, 8, stride=3)
    with pytest.raises(TypeError, match="unexpected keyword argument 'strides'"):
        MBConv(8, 8, strides=2)  # type: ignore[call-arg]


def test_a_subclass_is_named_in_its_own_messages() -> None:
    class LiteMBConv(MBConv):
        pass

    with pytest.raises(ValueError, match="LiteMBConv: stride must be 1 or 2, got 3"):
        LiteMBConv(8, 8, stride=3)


def test_check_arguments_keeps_signature_and_source() -> None:
    signature = inspect.signature(MBConv)
    assert list(signature.parameters)[:3] == ["in_channels", "out_channels", "stride"]
    source = inspect.getsource(InvertedResidual.__init__)
    assert source.lstrip().startswith("@check_arguments")  # the one validation line shown
    assert "raise" not in source and "check_" not in source.split("\n", 1)[1]


@pytest.mark.parametrize(
    ("value", "ndim", "ok"),
    [((1, 3, 8, 8), None, True), ([2, 5], None, True), (torch.Size([1, 3, 4, 4]), 4, True),
     ((1, 3, 8), 4, False), ((1, 0, 8, 8), None, False), ((8,), None, False),
     ("1,3,8,8", None, False), ((1, True, 8, 8), None, False), ((1, 3.0, 8, 8), None, False)],
)
def test_check_shape(value: object, ndim: int | None, ok: bool) -> None:
    if ok:
        assert check_shape("f", "shape", value, ndim=ndim) == tuple(value)  # type: ignore[arg-type]
    else:
        with pytest.raises(ValueError, match=r"f: shape must be"):
            check_shape("f", "shape", value, ndim=ndim)
