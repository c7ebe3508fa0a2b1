"""Chapter 1 (The cost of a convolution): counting weights and multiply-adds."""

from __future__ import annotations

import torch

from mbcourse import costs
from mbcourse.blocks import DepthwiseSeparableConv

from .. import checkers
from ..book import Built, define
from ..verdicts import choice, code, number, shape


@define(1, "The cost of a convolution", "01_cost_of_convolution")
def build() -> Built:
    dw = costs.conv(64, 64, 3, 1, groups=64).params  # depthwise 3×3 weights
    pw = costs.conv(64, 128, 1, 1).params  # pointwise 1×1 weights
    standard = costs.conv(64, 128, 3, 1).params
    separable, standard_macs = (costs.depthwise_separable(128, 128, 5, 8).macs,
                                costs.standard_conv(128, 128, 5, 8).macs)
    ratio = separable / standard_macs
    with torch.no_grad():
        block = DepthwiseSeparableConv(32, 64, stride=2).eval()
        out = tuple(block(torch.zeros(1, 32, 112, 112)).shape)
    return {
        "ch1-ex-weights": number(dw + pw, "weights", hints=[
            "Depthwise: one 3×3 filter per input channel.",
            "Pointwise: a 1×1 conv from 64 to 128 channels.",
        ], mistakes={
            standard: "That is a standard 3×3 conv from 64 to 128 channels.",
            costs.depthwise_separable(64, 128, 3, 1).params: "That includes BatchNorm's scale and "
            "shift; count conv weights only.",
        }),
        "ch1-ex-shape": shape(out, hints=[
            "The stride is in the depthwise conv; the pointwise conv keeps the size.",
            "The pointwise conv sets the number of channels.",
        ]),
        "ch1-ex-ratio": number(ratio, "", rel_tol=0.01, hints=["1/C_out + 1/k²"], mistakes={
            1 / ratio: "That is standard / separable: the question asks for the fraction the "
            "separable convolution needs, a number below 1."}),
        "ch1-ex-limit": choice(
            ("tends to 1/9", "Right: 1/C_out vanishes and 1/k² = 1/9 remains; the pointwise 1×1 "
             "conv then does almost all the work."),
            {"tends to 0": "The 1/C_out term vanishes, but the 1/k² term does not depend on the "
             "width.",
             "tends to 1/3": "The kernel has k² = 9 weights per channel, not k = 3.",
             "grows towards 1": "The ratio falls with the width: 1/C_out + 1/k² only decreases."},
            hints=["Write the ratio as 1/C_out + 1/k² and let C_out grow."]),
        "ch1-ex-code": code(checkers.check_depthwise_separable_macs, "separable_macs", hints=[
            "Depthwise: c_in·k² multiply-adds per output pixel.",
            "Pointwise: c_in·c_out per output pixel; there are h·w output pixels at stride 1.",
        ]),
    }, {"ch1_ex_weights": dw + pw, "ch1_ex_weights_std": standard, "ch1_ex_shape": str(out),
        "ch1_ex_ratio": ratio, "ch1_ex_ratio_inv": round(1 / ratio, 1), "ch1_ex_dw": dw,
        "ch1_ex_pw": pw}
