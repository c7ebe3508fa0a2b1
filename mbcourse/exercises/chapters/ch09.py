"""Chapter 9 (Deploying the blocks)."""

from __future__ import annotations

from functools import cache
from typing import Any

from mbcourse.measure import count_parameters
from mbcourse.models import mobilenet_v2

from .. import checkers
from ..questions import CodeExercise, MultipleChoice, NumericQuestion
from ..registry import define

ch = define(9, "Deploying the blocks", "book/09_deployment")


@cache
def _mnv2_params() -> int:
    """MobileNetV2's parameter count (the chapter's network: 1000 classes)."""
    return count_parameters(mobilenet_v2())


@ch.solution_values
def values() -> dict[str, Any]:
    n = _mnv2_params()
    return {"ch9_ex_params": n, "ch9_ex_int8_mb": round(n / 1e6, 2)}


@ch.exercise("ch9-ex-size", "number")
def size(**common: Any) -> NumericQuestion:
    n = _mnv2_params()
    return NumericQuestion(
        f"int8 weights of MobileNetV2 ({n:,} parameters), in MB (10⁶ bytes)?",
        answer=n / 1e6,
        rel_tol=0.02,
        units="MB",
        hints=["One byte per weight.", "float32 takes four times as much."],
        mistakes={
            4 * n / 1e6: "That is float32, four bytes per weight.",
            n / 2**20: "That is in MiB (2²⁰ bytes); the question asks for MB, 10⁶ bytes.",
        },
        **common,
    )


@ch.exercise("ch9-ex-why-int8", "choice")
def why_int8(**common: Any) -> MultipleChoice:
    right = (
        "Its SiLU and SE sigmoids have no integer kernel, so the graph keeps dequantizing to "
        "float and quantizing back"
    )
    return MultipleChoice(
        "Why does int8 speed up EfficientNet-B0 less than MobileNetV2 on a CPU?",
        options={
            right: "Right: the lite B0, with ReLU6 and no SE, gains like MobileNetV2.",
            "It has more parameters": "Parameters set the file size; the time goes to the "
            "operators that stay in float.",
            "Its 5×5 depthwise kernels cannot be quantized": "Depthwise convolutions of any size "
            "have integer kernels in ONNX Runtime.",
            "int8 is less accurate for it": "Accuracy does not change the speed of a kernel.",
        },
        correct=right,
        hints=["Count the Sigmoid operators left in the int8 graph."],
        **common,
    )


@ch.exercise("ch9-ex-engine", "choice")
def engine(**common: Any) -> MultipleChoice:
    right = (
        "Their depthwise kernels differ in speed, which changes MBConv's time far more than the "
        "fused block's"
    )
    return MultipleChoice(
        "Why can eager and ONNX Runtime disagree on MBConv against Fused-MBConv on one CPU?",
        options={
            right: "Right: the fused block is one regular convolution, fast in both.",
            "ONNX Runtime computes fewer multiply-adds": "The multiply-adds are the graph's; an "
            "engine changes how fast they run, not how many there are.",
            "ONNX Runtime trains the blocks differently": "Nothing is trained here: the same "
            "weights run in both engines (checked to 1e-4).",
            "The TPU results of Table 3 apply to ONNX Runtime": "Table 3 measured training "
            "throughput on TPUs and GPUs, not a CPU engine.",
        },
        correct=right,
        hints=["Which layer does MBConv have that Fused-MBConv does not?"],
        **common,
    )


@ch.exercise("ch9-ex-lite", "code")
def lite(**common: Any) -> CodeExercise:
    return CodeExercise(
        "Write make_lite(model): a copy with ReLU6 for every SiLU and no SqueezeExcitation.",
        checker=checkers.check_make_lite,
        name="make_lite",
        hints=[
            "lite = copy.deepcopy(model)",
            "for parent in list(lite.modules()): for name, child in "
            "list(parent.named_children()): ...",
            "setattr(parent, name, nn.ReLU6()) or setattr(parent, name, nn.Identity())",
        ],
        **common,
    )
