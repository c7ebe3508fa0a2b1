"""Chapter 1 (The cost of a convolution): counting weights and multiply-adds."""

from __future__ import annotations

from typing import Any

from mbcourse import costs
from mbcourse.blocks import DepthwiseSeparableConv

from .. import checkers
from ..questions import CodeExercise, MultipleChoice, NumericQuestion, ShapeQuestion
from ..registry import define

ch = define(1, "The cost of a convolution", "book/01_cost_of_convolution")


def _weights() -> dict[str, int]:
    dw = costs.conv(64, 64, 3, 1, groups=64).params  # depthwise 3×3 weights
    pw = costs.conv(64, 128, 1, 1).params  # pointwise 1×1 weights
    return {
        "dw": dw,
        "pw": pw,
        "total": dw + pw,
        "standard": costs.conv(64, 128, 3, 1).params,
        "with_bn": costs.depthwise_separable(64, 128, 3, 1).params,
    }


def _ratio() -> float:
    return costs.depthwise_separable(128, 128, 5, 8).macs / costs.standard_conv(128, 128, 5, 8).macs


def _shape() -> tuple[int, ...]:
    import torch

    block = DepthwiseSeparableConv(32, 64, stride=2).eval()
    with torch.no_grad():
        return tuple(block(torch.zeros(1, 32, 112, 112)).shape)


@ch.solution_values
def values() -> dict[str, Any]:
    w = _weights()
    ratio = _ratio()
    return {
        "ch1_ex_weights": w["total"],
        "ch1_ex_weights_std": w["standard"],
        "ch1_ex_shape": str(_shape()),
        "ch1_ex_ratio": ratio,
        "ch1_ex_ratio_inv": round(1 / ratio, 1),
        "ch1_ex_dw": w["dw"],
        "ch1_ex_pw": w["pw"],
    }


@ch.exercise("ch1-ex-weights", "number")
def weights(**common: Any) -> NumericQuestion:
    w = _weights()
    return NumericQuestion(
        "Conv weights (no BatchNorm) of a depthwise separable conv, 64 → 128 channels, 3×3?",
        answer=w["total"],
        units="weights",
        hints=[
            "Depthwise: one 3×3 filter per input channel.",
            "Pointwise: a 1×1 conv from 64 to 128 channels.",
        ],
        mistakes={
            w["standard"]: "That is a standard 3×3 conv from 64 to 128 channels.",
            w["with_bn"]: "That includes BatchNorm's scale and shift; count conv weights only.",
        },
        **common,
    )


@ch.exercise("ch1-ex-shape", "shape")
def shape(**common: Any) -> ShapeQuestion:
    return ShapeQuestion(
        "Output shape of DepthwiseSeparableConv(32, 64, stride=2) on a 1×32×112×112 input?",
        answer=_shape(),
        hints=[
            "The stride is in the depthwise conv; the pointwise conv keeps the size.",
            "The pointwise conv sets the number of channels.",
        ],
        **common,
    )


@ch.exercise("ch1-ex-ratio", "number")
def ratio(**common: Any) -> NumericQuestion:
    value = _ratio()
    return NumericQuestion(
        "Separable / standard multiply-adds for 128 → 128 channels with a 5×5 kernel?",
        answer=value,
        rel_tol=0.01,
        hints=["1/C_out + 1/k²"],
        mistakes={
            1 / value: "That is standard / separable: the question asks for the fraction "
            "the separable convolution needs, a number below 1."
        },
        **common,
    )


@ch.exercise("ch1-ex-limit", "choice")
def limit(**common: Any) -> MultipleChoice:
    return MultipleChoice(
        "A 3×3 layer gets ever wider (C_in = C_out → ∞). The separable/standard MAC ratio…",
        options={
            "tends to 1/9": "Right: 1/C_out vanishes and 1/k² = 1/9 remains; the pointwise 1×1 "
            "conv then does almost all the work.",
            "tends to 0": "The 1/C_out term vanishes, but the 1/k² term does not depend on the "
            "width.",
            "tends to 1/3": "The kernel has k² = 9 weights per channel, not k = 3.",
            "grows towards 1": "The ratio falls with the width: 1/C_out + 1/k² only decreases.",
        },
        correct="tends to 1/9",
        hints=["Write the ratio as 1/C_out + 1/k² and let C_out grow."],
        **common,
    )


@ch.exercise("ch1-ex-code", "code")
def code(**common: Any) -> CodeExercise:
    return CodeExercise(
        "Write separable_macs(c_in, c_out, k, h, w), then press Check.",
        checker=checkers.check_depthwise_separable_macs,
        name="separable_macs",
        hints=[
            "Depthwise: c_in·k² multiply-adds per output pixel.",
            "Pointwise: c_in·c_out per output pixel; there are h·w output pixels at stride 1.",
        ],
        **common,
    )
