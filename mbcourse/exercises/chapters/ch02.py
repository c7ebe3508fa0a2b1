"""Chapter 2 (Inverted residuals and linear bottlenecks)."""

from __future__ import annotations

import torch

from mbcourse import costs
from mbcourse.blocks import InvertedResidual

from .. import checkers
from ..book import Built, define
from ..verdicts import choice, code, number, shape


@define(2, "Inverted residuals and linear bottlenecks", "02_inverted_residuals")
def build() -> Built:
    macs = costs.inverted_residual(32, 32, 28, stride=1, expand_ratio=6).macs
    block = InvertedResidual(24, 32, stride=2, expand_ratio=6).eval()
    with torch.no_grad():
        hidden = tuple(block.depthwise(block.expand(torch.zeros(1, 24, 56, 56))).shape)
    linear = "A ReLU on the thin bottleneck would destroy information that cannot be recovered"
    return {
        "ch2-ex-macs": number(macs, "multiply-adds", hints=[
            "h·w·d'·t·(d' + k² + d'')", "h = w = 28, d' = d'' = 32, t = 6, k = 3"], mistakes={
            2 * macs: "That is FLOPs (two per multiply-add).",
            macs - costs.conv(192, 192, 3, 28, groups=192).macs: "That leaves out the depthwise "
            "3×3 convolution (the k² term).",
        }),
        "ch2-ex-shape": shape(hidden, hints=[
            "The expansion gives round(24 · 6) channels.",
            "The stride belongs to the depthwise conv; the projection comes after it.",
        ], mistakes={
            (1, 32, 28, 28): "That is the block's output, after the projection; the question "
            "asks for the tensor inside it, before the projection.",
            (1, 144, 56, 56): "That is the expansion's output; the depthwise conv has stride 2.",
        }),
        "ch2-ex-residual": choice(
            ("InvertedResidual(64, 64, stride=1, expand_ratio=6)", "Right: stride 1 keeps H×W "
             "and 64 → 64 keeps C, so F(x) has x's shape."),
            {"InvertedResidual(32, 32, stride=2, expand_ratio=6)": "Equal channels, but stride 2 "
             "halves H and W: x and F(x) cannot be added.",
             "InvertedResidual(64, 96, stride=1, expand_ratio=6)": "Stride 1, but the channels "
             "change from 64 to 96.",
             "InvertedResidual(16, 16, stride=2, expand_ratio=1)": "expand_ratio has nothing to "
             "do with it; stride 2 rules the residual out."},
            hints=["x + F(x) needs F(x) to have exactly the shape of x."]),
        "ch2-ex-linear": choice(
            (linear, "Right: in few dimensions, ReLU zeroes whole regions (the spiral at n = 2, "
             "3); the non-linearities act on the expanded tensor instead."),
            {"To save the multiply-adds of the activation": "Activations cost no multiply-adds "
             "in this convention, and a few element-wise operations at most; that is not the "
             "reason.",
             "Because the residual adds a non-linearity": "The residual is an addition, which is "
             "linear; and many blocks have no residual.",
             "Because BatchNorm already is a non-linearity": "In inference BatchNorm is an affine "
             "map per channel: linear."},
            hints=["Look at the spiral for n = 2 and 3."]),
        "ch2-ex-rule": code(checkers.check_residual_rule, "has_residual", hints=[
            "Two conditions must hold at once.", "One is about the stride, one about channels."]),
        "ch2-ex-block": code(checkers.check_inverted_residual, "MyInvertedResidual", hints=[
            "hidden = round(in_channels * expand_ratio); skip the expansion when "
            "expand_ratio == 1.",
            "Depthwise: nn.Conv2d(hidden, hidden, 3, stride, padding=1, groups=hidden, "
            "bias=False).",
            "Projection: 1×1 conv + BatchNorm, no activation; add x when stride == 1 and "
            "in == out.",
        ]),
    }, {"ch2_ex_macs": macs, "ch2_ex_hidden_shape": str(hidden)}
