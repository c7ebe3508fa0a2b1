"""Chapter 0 (Start here): three warm-up questions on the MobileNetV2 stem."""

from __future__ import annotations

import torch

from mbcourse.blocks import ConvNormAct

from ..book import Built, define
from ..verdicts import choice, number, shape


@define(0, "Start here", "00_start_here")
def build() -> Built:
    stem = ConvNormAct(3, 32, kernel_size=3, stride=2).eval()
    with torch.no_grad():
        out = tuple(stem(torch.zeros(1, 3, 224, 224)).shape)
    weights, params = stem.conv.weight.numel(), sum(p.numel() for p in stem.parameters())
    return {
        "ch0-ex-weights": number(weights, "weights", hints=[
            "Each of the 32 filters sees all 3 input channels through a 3×3 window.",
            "C_out · C_in · k · k",
        ], mistakes={
            params: "That includes BatchNorm's scale and shift; the question asks for the "
            "convolution's weights only.",
            32 * 3 * 3: "That leaves out the input channels: each of the 32 filters has a 3×3 "
            "window on each of the 3 input channels.",
        }),
        "ch0-ex-shape": shape(out, hints=[
            "The channels become the number of filters.",
            "Padding (k-1)//2 = 1 with stride 2 halves the height and width.",
        ], mistakes={(1, 32, 224, 224): "Stride 2 halves the height and width."}),
        "ch0-ex-flops": choice(
            ("1,000,000", "Right: one multiply-add is two floating-point operations."),
            {"2,000,000": "That is the FLOP count; a multiply-add counts a multiplication and an "
             "addition together.",
             "4,000,000": "The other way round: FLOPs = 2 × MACs, so MACs = FLOPs / 2."},
            hints=["A multiply-add (MAC) is one multiplication followed by one addition."]),
    }, {"ch0_stem_weights": weights, "ch0_stem_params": params, "ch0_stem_out": str(out)}
