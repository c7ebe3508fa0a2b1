"""Chapter 2 (Inverted residuals and linear bottlenecks)."""

from __future__ import annotations

from typing import Any

import torch

from mbcourse import costs
from mbcourse.blocks import InvertedResidual

from .. import checkers
from ..questions import CodeExercise, MultipleChoice, NumericQuestion, ShapeQuestion
from ..registry import define

ch = define(2, "Inverted residuals and linear bottlenecks", "book/02_inverted_residuals")


def _macs() -> int:
    return costs.inverted_residual(32, 32, 28, stride=1, expand_ratio=6).macs


def _hidden_shape() -> tuple[int, ...]:
    block = InvertedResidual(24, 32, stride=2, expand_ratio=6).eval()
    with torch.no_grad():
        return tuple(block.depthwise(block.expand(torch.zeros(1, 24, 56, 56))).shape)


@ch.solution_values
def values() -> dict[str, Any]:
    return {"ch2_ex_macs": _macs(), "ch2_ex_hidden_shape": str(_hidden_shape())}


@ch.exercise("ch2-ex-macs", "number")
def macs(**common: Any) -> NumericQuestion:
    answer = _macs()
    no_depthwise = answer - costs.conv(192, 192, 3, 28, groups=192).macs
    return NumericQuestion(
        "Multiply-adds of InvertedResidual(32, 32, stride=1, expand_ratio=6) on a 28×28 input?",
        answer=answer,
        units="multiply-adds",
        hints=["h·w·d'·t·(d' + k² + d'')", "h = w = 28, d' = d'' = 32, t = 6, k = 3"],
        mistakes={
            2 * answer: "That is FLOPs (two per multiply-add).",
            no_depthwise: "That leaves out the depthwise 3×3 convolution (the k² term).",
        },
        **common,
    )


@ch.exercise("ch2-ex-shape", "shape")
def shape(**common: Any) -> ShapeQuestion:
    return ShapeQuestion(
        "Shape of the depthwise conv's output inside InvertedResidual(24, 32, stride=2, "
        "expand_ratio=6) on a 1×24×56×56 input?",
        answer=_hidden_shape(),
        hints=[
            "The expansion gives round(24 · 6) channels.",
            "The stride belongs to the depthwise conv; the projection comes after it.",
        ],
        mistakes={
            (1, 32, 28, 28): "That is the block's output, after the projection; the question "
            "asks for the tensor inside it, before the projection.",
            (1, 144, 56, 56): "That is the expansion's output; the depthwise conv has stride 2.",
        },
        **common,
    )


@ch.exercise("ch2-ex-residual", "choice")
def residual(**common: Any) -> MultipleChoice:
    return MultipleChoice(
        "Which of these blocks has a residual connection?",
        options={
            "InvertedResidual(64, 64, stride=1, expand_ratio=6)": "Right: stride 1 keeps H×W and "
            "64 → 64 keeps C, so F(x) has x's shape.",
            "InvertedResidual(32, 32, stride=2, expand_ratio=6)": "Equal channels, but stride 2 "
            "halves H and W: x and F(x) cannot be added.",
            "InvertedResidual(64, 96, stride=1, expand_ratio=6)": "Stride 1, but the channels "
            "change from 64 to 96.",
            "InvertedResidual(16, 16, stride=2, expand_ratio=1)": "expand_ratio has nothing to do "
            "with it; stride 2 rules the residual out.",
        },
        correct="InvertedResidual(64, 64, stride=1, expand_ratio=6)",
        hints=["x + F(x) needs F(x) to have exactly the shape of x."],
        **common,
    )


@ch.exercise("ch2-ex-linear", "choice")
def linear(**common: Any) -> MultipleChoice:
    right = "A ReLU on the thin bottleneck would destroy information that cannot be recovered"
    return MultipleChoice(
        "Why is there no activation after the 1×1 projection?",
        options={
            right: "Right: in few dimensions, ReLU zeroes whole regions (the spiral at n = 2, 3); "
            "the non-linearities act on the expanded tensor instead.",
            "To save the multiply-adds of the activation": "Activations cost no multiply-adds in "
            "this convention, and a few element-wise operations at most; that is not the reason.",
            "Because the residual adds a non-linearity": "The residual is an addition, which is "
            "linear; and many blocks have no residual.",
            "Because BatchNorm already is a non-linearity": "In inference BatchNorm is an affine "
            "map per channel: linear.",
        },
        correct=right,
        hints=["Look at the spiral for n = 2 and 3."],
        **common,
    )


@ch.exercise("ch2-ex-rule", "code")
def rule(**common: Any) -> CodeExercise:
    return CodeExercise(
        "Write has_residual(in_channels, out_channels, stride), then press Check.",
        checker=checkers.check_residual_rule,
        name="has_residual",
        hints=["Two conditions must hold at once.", "One is about the stride, one about channels."],
        **common,
    )


@ch.exercise("ch2-ex-block", "code")
def block(**common: Any) -> CodeExercise:
    return CodeExercise(
        "Write MyInvertedResidual(in_channels, out_channels, stride, expand_ratio), then press "
        "Check.",
        checker=checkers.check_inverted_residual,
        name="MyInvertedResidual",
        hints=[
            "hidden = round(in_channels * expand_ratio); skip the expansion when "
            "expand_ratio == 1.",
            "Depthwise: nn.Conv2d(hidden, hidden, 3, stride, padding=1, groups=hidden, "
            "bias=False).",
            "Projection: 1×1 conv + BatchNorm, no activation; add x when stride == 1 and "
            "in == out.",
        ],
        **common,
    )
