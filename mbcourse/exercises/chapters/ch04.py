"""Chapter 4 (MBConv: the inverted residual with squeeze-and-excitation)."""

from __future__ import annotations

import torch

from mbcourse.blocks import MBConv
from mbcourse.models import efficientnet_b0

from .. import checkers
from ..book import Built, define
from ..verdicts import choice, code, number, shape


@define(4, "MBConv: the inverted residual with squeeze-and-excitation", "04_mbconv")
def build() -> Built:
    block = MBConv(40, 80, stride=2, expand_ratio=6, kernel_size=3).eval()
    with torch.no_grad():
        se_input = tuple(block.depthwise(block.expand(torch.zeros(1, 40, 28, 28))).shape)
    se = MBConv(112, 192, stride=2, expand_ratio=6, kernel_size=5).se
    squeeze, gated = se.squeeze_channels, se.channels
    rates = [m.stochastic_depth.p for m in efficientnet_b0().modules() if isinstance(m, MBConv)]
    return {
        "ch4-ex-shape": shape(se_input, hints=[
            "The SE comes after the depthwise convolution.",
            "The expansion widens 40 channels six-fold; the depthwise conv has the stride.",
        ], mistakes={
            (1, 240, 28, 28): "That is the expansion's output; the stride-2 depthwise conv comes "
            "before the SE.",
            (1, 80, 14, 14): "That is the block's output, after the projection; the SE sits "
            "before the projection.",
        }),
        "ch4-ex-squeeze": number(squeeze, "channels", hints=[
            "EfficientNet sizes the SE from the block input, not from the expanded width.",
            "max(1, in_channels // 4)",
        ], mistakes={
            gated // 4: "That is a quarter of the expanded width; EfficientNet uses the input "
            "width.",
            192 // 4: "That is a quarter of the output width; EfficientNet uses the input width.",
        }),
        "ch4-ex-eval": choice(
            ("Returns the input unchanged", "Right: the 1/(1-p) scaling in training already "
             "makes the training output unbiased, so evaluation needs no correction."),
            {"Multiplies the input by 0.8": "That was the original paper's test-time rule (scale "
             "by the survival probability); with training-time scaling by 1/(1-p) it is not "
             "needed.",
             "Drops 20 % of the samples at random": "Only in training mode; evaluation is "
             "deterministic.",
             "Multiplies the input by 1.25": "Kept samples are scaled by 1/(1-p) = 1.25 in "
             "training mode, not in evaluation."},
            hints=["Compare E[y] in training with the evaluation output."]),
        "ch4-ex-rate": number(rates[10], "", rel_tol=0.01, hints=[
            "The rate grows linearly: 0.2 · i / N.", f"i = 10, N = {len(rates)}"], mistakes={
            rates[11]: "That is block 11: count from 0, so index 10 is the eleventh block.",
            1 - rates[10]: "That is the survival probability; the question asks for the drop "
            "rate.",
        }),
        "ch4-ex-code": code(checkers.check_mbconv_forward, "MyMBConv", hints=[
            "ConvNormAct(c_in, c_out, kernel_size, stride, groups=..., activation=nn.SiLU)",
            "The depthwise conv has groups=expanded and carries the stride.",
            "SqueezeExcitation(expanded, squeeze_channels=max(1, in_channels // 4), "
            "activation=nn.SiLU)",
            "StochasticDepth(0.0) is the identity until you train with a rate > 0.",
        ]),
    }, {"ch4_ex1_shape": str(se_input), "ch4_ex2_answer": squeeze,
        "ch4_ex2_r": gated // squeeze, "ch4_ex4_answer": rates[10]}
