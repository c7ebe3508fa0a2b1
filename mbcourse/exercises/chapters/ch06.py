"""Chapter 6 (Whole networks)."""

from __future__ import annotations

from typing import Any

import torch

from mbcourse import costs

from ..questions import MultipleChoice, NumericQuestion, ShapeQuestion
from ..registry import define

ch = define(6, "Whole networks", "book/06_whole_networks")


def _head_macs() -> int:
    return costs.conv_norm_act(320, 1280, 1, 7).macs


def _kb() -> float:
    return 16 * 112 * 112 * torch.finfo(torch.float16).bits / 8 / 1000


def _b0_shape() -> tuple[int, ...]:
    from mbcourse.models import efficientnet_b0

    model = efficientnet_b0().eval()
    with torch.no_grad():
        return tuple(model.features[:4](torch.zeros(1, 3, 224, 224)).shape)


@ch.solution_values
def values() -> dict[str, Any]:
    return {
        "ch6_ex_head_macs": _head_macs(),
        "ch6_ex_kb": round(_kb(), 1),
        "ch6_ex_shape": str(_b0_shape()),
    }


@ch.exercise("ch6-ex-head", "number")
def head(**common: Any) -> NumericQuestion:
    answer = _head_macs()
    return NumericQuestion(
        "Multiply-adds of MobileNetV2's head: a 1x1 conv, 320 -> 1280 channels, on a 7x7 map?",
        answer=answer,
        units="multiply-adds",
        hints=[
            "A 1x1 conv costs C_in * C_out multiply-adds at every output position.",
            "320 * 1280 * 7 * 7",
        ],
        mistakes={
            2 * answer: "That is the FLOP count (2 per multiply-add); count MACs.",
            320 * 1280: "That is one output position (the weights); the conv runs at all 7 × 7.",
        },
        **common,
    )


@ch.exercise("ch6-ex-convention", "choice")
def convention(**common: Any) -> MultipleChoice:
    right = "Multiply-adds of the convolutions and the classifier"
    return MultipleChoice(
        "torchvision lists 0.301 'GFLOPS' for mobilenet_v2; FlopCounterMode counts 0.60 G. "
        "What does torchvision's number count?",
        options={
            right: "Right: it equals FlopCounterMode's count divided by 2, the paper's 300M MAdds.",
            "FLOPs, 2 per multiply-add": "That is FlopCounterMode's convention; torchvision's "
            "column is half of it.",
            "FLOPs including BatchNorm and activations": "Those add O(C·H·W) work, far less than "
            "a factor of 2; and the count matches the convolutions alone.",
            "Multiply-adds at torchvision's 256-pixel resize size": "The number is for the "
            "224×224 crop the network sees.",
        },
        correct=right,
        hints=["Divide 0.60 by 0.301."],
        **common,
    )


@ch.exercise("ch6-ex-table3", "number")
def table3(**common: Any) -> NumericQuestion:
    answer = _kb()
    return NumericQuestion(
        "Size of a 16 x 112 x 112 tensor of 16-bit floats, in kB (1 kB = 1000 bytes)?",
        answer=answer,
        rel_tol=0.01,
        units="kB",
        hints=["Count the elements, then 2 bytes each."],
        mistakes={
            2 * answer: "That is float32 (4 bytes per element); the paper assumes 16-bit.",
            answer * 1000 / 1024: "That is KiB (1024 bytes); the question uses 1 kB = 1000 bytes.",
        },
        **common,
    )


@ch.exercise("ch6-ex-shape", "shape")
def shape(**common: Any) -> ShapeQuestion:
    return ShapeQuestion(
        "Output shape of EfficientNet-B0's features[:4] for an input of shape (1, 3, 224, 224)?",
        answer=_b0_shape(),
        hints=[
            "In Table 1, stages 1 (the stem), 3 and 4 have stride 2; stage 2 has stride 1.",
            "Stage 4 has 40 output channels.",
        ],
        **common,
    )
