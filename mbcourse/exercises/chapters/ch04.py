"""Chapter 4 (MBConv: the inverted residual with squeeze-and-excitation)."""

from __future__ import annotations

from typing import Any

import torch

from mbcourse.blocks import MBConv

from .. import checkers
from ..questions import CodeExercise, MultipleChoice, NumericQuestion, ShapeQuestion
from ..registry import define

ch = define(4, "MBConv: the inverted residual with squeeze-and-excitation", "book/04_mbconv")


def _se_input_shape() -> tuple[int, ...]:
    block = MBConv(40, 80, stride=2, expand_ratio=6, kernel_size=3).eval()
    with torch.no_grad():
        return tuple(block.depthwise(block.expand(torch.zeros(1, 40, 28, 28))).shape)


def _squeeze() -> tuple[int, int]:
    """(squeeze channels, gated channels) of the SE in MBConv(112, 192, s2, e6, k5)."""
    se = MBConv(112, 192, stride=2, expand_ratio=6, kernel_size=5).se
    return se.squeeze_channels, se.channels


def _b0_rates() -> list[float]:
    from mbcourse.models import efficientnet_b0

    return [m.stochastic_depth.p for m in efficientnet_b0().modules() if isinstance(m, MBConv)]


@ch.solution_values
def values() -> dict[str, Any]:
    squeeze, gated = _squeeze()
    return {
        "ch4_ex1_shape": str(_se_input_shape()),
        "ch4_ex2_answer": squeeze,
        "ch4_ex2_r": gated // squeeze,
        "ch4_ex4_answer": _b0_rates()[10],
    }


@ch.exercise("ch4-ex-shape", "shape")
def shape(**common: Any) -> ShapeQuestion:
    answer = _se_input_shape()
    return ShapeQuestion(
        "Shape entering the SE of MBConv(40, 80, stride=2, expand_ratio=6) for x of shape "
        "(1, 40, 28, 28)?",
        answer=answer,
        hints=[
            "The SE comes after the depthwise convolution.",
            "The expansion widens 40 channels six-fold; the depthwise conv has the stride.",
        ],
        mistakes={
            (1, 240, 28, 28): "That is the expansion's output; the stride-2 depthwise conv comes "
            "before the SE.",
            (1, 80, 14, 14): "That is the block's output, after the projection; the SE sits "
            "before the projection.",
        },
        **common,
    )


@ch.exercise("ch4-ex-squeeze", "number")
def squeeze(**common: Any) -> NumericQuestion:
    answer, gated = _squeeze()
    return NumericQuestion(
        "SE squeeze channels of MBConv(112, 192, stride=2, expand_ratio=6, kernel_size=5)?",
        answer=answer,
        units="channels",
        hints=[
            "EfficientNet sizes the SE from the block input, not from the expanded width.",
            "max(1, in_channels // 4)",
        ],
        mistakes={
            gated // 4: "That is a quarter of the expanded width; EfficientNet uses the input "
            "width.",
            192 // 4: "That is a quarter of the output width; EfficientNet uses the input width.",
        },
        **common,
    )


@ch.exercise("ch4-ex-eval", "choice")
def evaluation(**common: Any) -> MultipleChoice:
    return MultipleChoice(
        "What does StochasticDepth(p=0.2) do in evaluation mode?",
        options={
            "Returns the input unchanged": "Right: the 1/(1-p) scaling in training already makes "
            "the training output unbiased, so evaluation needs no correction.",
            "Multiplies the input by 0.8": "That was the original paper's test-time rule (scale "
            "by the survival probability); with training-time scaling by 1/(1-p) it is not "
            "needed.",
            "Drops 20 % of the samples at random": "Only in training mode; evaluation is "
            "deterministic.",
            "Multiplies the input by 1.25": "Kept samples are scaled by 1/(1-p) = 1.25 in "
            "training mode, not in evaluation.",
        },
        correct="Returns the input unchanged",
        hints=["Compare E[y] in training with the evaluation output."],
        **common,
    )


@ch.exercise("ch4-ex-rate", "number")
def rate(**common: Any) -> NumericQuestion:
    rates = _b0_rates()
    n = len(rates)
    return NumericQuestion(
        f"Stochastic depth rate of block index 10 (counting from 0) of EfficientNet-B0's {n} "
        "blocks?",
        answer=rates[10],
        rel_tol=1e-6,
        hints=["The rate grows linearly: 0.2 · i / N.", f"i = 10, N = {n}"],
        mistakes={
            rates[11]: "That is block 11: count from 0, so index 10 is the eleventh block.",
            1 - rates[10]: "That is the survival probability; the question asks for the drop rate.",
        },
        **common,
    )


@ch.exercise("ch4-ex-code", "code")
def code(**common: Any) -> CodeExercise:
    return CodeExercise(
        "Build MyMBConv from ConvNormAct, SqueezeExcitation and StochasticDepth.",
        checker=checkers.check_mbconv_forward,
        name="MyMBConv",
        hints=[
            "ConvNormAct(c_in, c_out, kernel_size, stride, groups=..., activation=nn.SiLU)",
            "The depthwise conv has groups=expanded and carries the stride.",
            "SqueezeExcitation(expanded, squeeze_channels=max(1, in_channels // 4), "
            "activation=nn.SiLU)",
            "StochasticDepth(0.0) is the identity until you train with a rate > 0.",
        ],
        **common,
    )
