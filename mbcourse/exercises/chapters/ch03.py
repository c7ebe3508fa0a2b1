"""Chapter 3 (Channel attention: Squeeze-and-Excitation)."""

from __future__ import annotations

from typing import Any

import torch

from mbcourse import costs
from mbcourse.blocks import MBConv, SqueezeExcitation

from .. import checkers
from ..questions import CodeExercise, MultipleChoice, NumericQuestion, ShapeQuestion
from ..registry import define

ch = define(3, "Channel attention: Squeeze-and-Excitation", "book/03_squeeze_excitation")


def _se_params() -> int:
    return costs.squeeze_excitation(256, 256 // 16).params


def _effnet_se() -> SqueezeExcitation:
    return MBConv(112, 112, stride=1, expand_ratio=6, kernel_size=5).se


@ch.solution_values
def values() -> dict[str, Any]:
    se = _effnet_se()
    return {
        "ch3_ex1_answer": _se_params(),
        "ch3_ex4_answer": sum(p.numel() for p in se.parameters()),
        "ch3_ex4_squeeze": se.squeeze_channels,
        "ch3_ex4_r": se.channels // se.squeeze_channels,
    }


@ch.exercise("ch3-ex-params", "number")
def params(**common: Any) -> NumericQuestion:
    answer = _se_params()
    no_bias = answer - 256 // 16 - 256
    return NumericQuestion(
        "How many parameters does SqueezeExcitation(256, reduction=16) hold?",
        answer=answer,
        units="parameters",
        hints=["S = 256 // 16. Both layers have a bias.", "2·C·S + S + C"],
        mistakes={
            no_bias: "You forgot the biases: both 1×1 convolutions have one (S + C more).",
            no_bias // 2: "That is one of the two layers' weights; the excitation MLP has two "
            "layers, each with a bias.",
        },
        **common,
    )


@ch.exercise("ch3-ex-shape", "shape")
def shape(**common: Any) -> ShapeQuestion:
    se = SqueezeExcitation(96, reduction=4).eval()
    with torch.no_grad():
        answer = tuple(se.fc1(se.avgpool(torch.zeros(8, 96, 28, 28))).shape)
    return ShapeQuestion(
        "Shape after fc1 for an (8, 96, 28, 28) input to SqueezeExcitation(96, reduction=4)?",
        answer=answer,
        hints=["The squeeze has already removed H and W.", "fc1 maps C to C // r."],
        mistakes={
            (8, 24, 28, 28): "The squeeze (global average pooling) comes before fc1: H and W "
            "are already 1.",
            (1, 24, 1, 1): "The batch dimension stays 8: SE gates each image separately.",
        },
        **common,
    )


@ch.exercise("ch3-ex-table10", "choice")
def table10(**common: Any) -> MultipleChoice:
    right = "Error is nearly flat from r = 4 to r = 16 while parameters grow"
    return MultipleChoice(
        "Which statement does SENet's reduction study (Table 10, SE-ResNet-50) support?",
        options={
            "r = 1 gives the lowest error": "r = 1 was not measured, and the errors do not fall "
            "as r shrinks from 16 to 4.",
            right: "Right: the top-1 error moves by a few hundredths of a point between r = 4 "
            "and r = 16, while the parameters grow by millions (the table above).",
            "SE only helps when r <= 8": "Every r beats plain ResNet-50, r = 32 included.",
            "Parameters do not depend on r": "SE's parameters are about 2C²/r: they double when r "
            "halves.",
        },
        correct=right,
        hints=["Compare the r = 4 and r = 16 rows in both columns."],
        **common,
    )


@ch.exercise("ch3-ex-effnet", "number")
def effnet(**common: Any) -> NumericQuestion:
    se = _effnet_se()
    answer = sum(p.numel() for p in se.parameters())
    return NumericQuestion(
        "Parameters of the SE inside MBConv(112, 112, expand_ratio=6, kernel_size=5)?",
        answer=answer,
        units="parameters",
        hints=["C = 672 channels are gated; S = max(1, 112 // 4).", "2·C·S + S + C"],
        mistakes={
            costs.squeeze_excitation(672, 672 // 4).params: "That squeezes a quarter of the "
            "expanded width; EfficientNet squeezes a quarter of the block input (112 // 4).",
            costs.squeeze_excitation(112, 112 // 4).params: "The SE gates the 672 expanded "
            "channels, not the 112 input channels; only the squeeze width comes from the input.",
        },
        **common,
    )


@ch.exercise("ch3-ex-code", "code")
def code(**common: Any) -> CodeExercise:
    return CodeExercise(
        "Write MySE: squeeze, excitation MLP with reduction r, sigmoid gate, scale.",
        checker=checkers.check_se,
        name="MySE",
        hints=[
            "fc1 = nn.Conv2d(channels, squeeze, 1) (bias on by default).",
            "forward: return x * self.scale_activation(self.fc2(self.activation(self.fc1("
            "self.avgpool(x)))))",
        ],
        **common,
    )
