"""The closed-form costs equal what the modules hold (parameters) and compute (FLOP counter)."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from mbcourse import costs
from mbcourse.blocks import (
    ConvNormAct,
    DepthwiseSeparableConv,
    FusedMBConv,
    InvertedResidual,
    MBConv,
    SqueezeExcitation,
)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def measured(module: nn.Module, cin: int, size: tuple[int, int]) -> tuple[int, int, tuple]:
    """(parameters, multiply-adds, output H x W) as the module holds and computes them."""
    module.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        y = module(torch.randn(1, cin, *size))
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return n_params(module), flops // 2, tuple(y.shape[-2:])


def assert_matches(cost: costs.Cost, module: nn.Module, cin: int, size: tuple[int, int]) -> None:
    params, macs, out = measured(module, cin, size)
    assert cost.params == params
    assert cost.macs == macs
    assert cost.flops == 2 * macs
    assert cost.out_size == out


SIZES = [(8, 8), (7, 5), (1, 1)]
CHANNELS = [(8, 8), (16, 24), (24, 16), (3, 32)]
GRID = list(itertools.product(CHANNELS, [1, 2], [3, 5], SIZES))


@pytest.mark.parametrize(("channels", "stride", "k", "size"), GRID)
def test_conv_norm_act_and_depthwise_separable(channels, stride, k, size) -> None:
    cin, cout = channels
    assert_matches(
        costs.standard_conv(cin, cout, k, size, stride),
        ConvNormAct(cin, cout, k, stride),
        cin,
        size,
    )
    assert_matches(
        costs.depthwise_separable(cin, cout, k, size, stride),
        DepthwiseSeparableConv(cin, cout, k, stride),
        cin,
        size,
    )


@pytest.mark.parametrize(("channels", "stride", "k", "size"), GRID)
@pytest.mark.parametrize("t", [1, 3, 6])
def test_inverted_residual(channels, stride, k, size, t) -> None:
    cin, cout = channels
    assert_matches(
        costs.inverted_residual(cin, cout, size, stride, t, k),
        InvertedResidual(cin, cout, stride, t, k),
        cin,
        size,
    )


@pytest.mark.parametrize(("channels", "stride", "k", "size"), GRID)
@pytest.mark.parametrize(("e", "se"), [(1, 0.25), (4, 0.25), (6, 0.0), (6, 0.25), (2.5, 1.0)])
def test_mbconv_and_fused(channels, stride, k, size, e, se) -> None:
    cin, cout = channels
    assert_matches(
        costs.mbconv(cin, cout, size, stride, e, k, se), MBConv(cin, cout, stride, e, k, se),
        cin, size,
    )
    assert_matches(
        costs.fused_mbconv(cin, cout, size, stride, e, k, se),
        FusedMBConv(cin, cout, stride, e, k, se),
        cin,
        size,
    )


@pytest.mark.parametrize(("channels", "squeeze"), [(16, 4), (64, 16), (7, 1), (96, 96)])
def test_squeeze_excitation(channels: int, squeeze: int) -> None:
    cost = costs.squeeze_excitation(channels, squeeze, size=(5, 6))
    assert cost.params == 2 * channels * squeeze + squeeze + channels
    assert_matches(cost, SqueezeExcitation(channels, squeeze_channels=squeeze), channels, (5, 6))


def test_depthwise_separable_saving_ratio() -> None:
    """MobileNet's reduction 1/C_out + 1/k^2 holds exactly for the multiply-adds of the convs."""
    cin, cout, k = 64, 128, 3
    std = costs.conv(cin, cout, k, 14)
    dw = costs.conv(cin, cin, k, 14, groups=cin)
    pw = costs.conv(cin, cout, 1, 14)
    assert (dw.macs + pw.macs) / std.macs == pytest.approx(1 / cout + 1 / k**2)


def test_fusing_adds_parameters() -> None:
    """A fused k x k conv holds C_in C_exp k^2 weights; expand + depthwise hold
    C_in C_exp + C_exp k^2."""
    for cin in (16, 24, 48, 64):
        fused = costs.fused_mbconv(cin, cin, 32, expand_ratio=4)
        mb = costs.mbconv(cin, cin, 32, expand_ratio=4, se_ratio=0.0)
        cexp = 4 * cin
        weights = cin * cexp * 9 - (cin * cexp + cexp * 9)
        # ... and one BatchNorm (2 C_exp) where MBConv has two (4 C_exp)
        assert fused.params - mb.params == weights - 2 * cexp
        assert fused.params > mb.params


@pytest.mark.parametrize(("n", "k", "s", "expected"), [(7, 3, 2, 4), (8, 3, 2, 4), (5, 5, 1, 5)])
def test_conv_out_size(n: int, k: int, s: int, expected: int) -> None:
    assert costs.conv_out_size(n, k, s) == expected


def test_cost_then_chains_sizes() -> None:
    a = costs.Cost(1, 2, (4, 4))
    b = costs.Cost(10, 20, (2, 2))
    assert a.then(b) == costs.Cost(11, 22, (2, 2))


def test_arithmetic_intensity() -> None:
    # depthwise 3x3 on 64 channels at 56x56, stride 1: 9 MACs per output value
    c, size = 64, 56
    expected = 9 * c * size * size / (4 * (2 * c * size * size + 9 * c))
    assert costs.arithmetic_intensity(c, c, 3, size, groups=c) == pytest.approx(expected)
    # stride 2 halves the output; float16 doubles the intensity
    s2 = costs.arithmetic_intensity(c, 2 * c, 3, size, 2)
    moved = 4 * (c * size * size + 2 * c * 28 * 28 + 2 * c * c * 9)
    assert s2 == pytest.approx(2 * c * c * 9 * 28 * 28 / moved)
    assert costs.arithmetic_intensity(c, c, 1, size, bytes_per_element=2) == pytest.approx(
        2 * costs.arithmetic_intensity(c, c, 1, size)
    )
    # a regular conv reuses each input value for all output channels: far more intense
    assert costs.arithmetic_intensity(c, 4 * c, 3, size) > 10 * costs.arithmetic_intensity(
        4 * c, 4 * c, 3, size, groups=4 * c
    )
