"""Chapter 0 (Start here): three warm-up questions on the MobileNetV2 stem."""

from __future__ import annotations

from typing import Any

import torch

from mbcourse.blocks import ConvNormAct

from ..questions import MultipleChoice, NumericQuestion, ShapeQuestion
from ..registry import define

ch = define(0, "Start here", "book/00_start_here")


def _stem() -> ConvNormAct:
    return ConvNormAct(3, 32, kernel_size=3, stride=2)


@ch.solution_values
def values() -> dict[str, Any]:
    stem = _stem()
    with torch.no_grad():
        out = tuple(stem.eval()(torch.zeros(1, 3, 224, 224)).shape)
    return {
        "ch0_stem_weights": stem.conv.weight.numel(),
        "ch0_stem_params": sum(p.numel() for p in stem.parameters()),
        "ch0_stem_out": str(out),
    }


@ch.exercise("ch0-ex-weights", "number")
def weights(**common: Any) -> NumericQuestion:
    stem = _stem()
    return NumericQuestion(
        "How many weights does a 3×3 convolution from 3 to 32 channels (no bias) hold?",
        answer=stem.conv.weight.numel(),
        units="weights",
        hints=[
            "Each of the 32 filters sees all 3 input channels through a 3×3 window.",
            "C_out · C_in · k · k",
        ],
        mistakes={
            sum(p.numel() for p in stem.parameters()): "That includes BatchNorm's scale and "
            "shift; the question asks for the convolution's weights only.",
            32 * 3 * 3: "That leaves out the input channels: each of the 32 filters has a 3×3 "
            "window on each of the 3 input channels.",
        },
        **common,
    )


@ch.exercise("ch0-ex-shape", "shape")
def shape(**common: Any) -> ShapeQuestion:
    return ShapeQuestion.for_module(
        "Output shape of ConvNormAct(3, 32, kernel_size=3, stride=2) on a 1×3×224×224 input?",
        _stem(),
        (1, 3, 224, 224),
        hints=[
            "The channels become the number of filters.",
            "Padding (k-1)//2 = 1 with stride 2 halves the height and width.",
        ],
        mistakes={(1, 32, 224, 224): "Stride 2 halves the height and width."},
        **common,
    )


@ch.exercise("ch0-ex-flops", "choice")
def flops(**common: Any) -> MultipleChoice:
    return MultipleChoice(
        "torch.utils.flop_counter reports 2,000,000 FLOPs for a layer. How many multiply-adds?",
        options={
            "1,000,000": "Right: one multiply-add is two floating-point operations.",
            "2,000,000": "That is the FLOP count; a multiply-add counts a multiplication and an "
            "addition together.",
            "4,000,000": "The other way round: FLOPs = 2 × MACs, so MACs = FLOPs / 2.",
        },
        correct="1,000,000",
        hints=["A multiply-add (MAC) is one multiplication followed by one addition."],
        **common,
    )
