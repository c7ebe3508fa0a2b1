"""Chapter 9 (Deploying the blocks)."""

from __future__ import annotations

from mbcourse.measure import count_parameters
from mbcourse.models import mobilenet_v2

from .. import checkers
from ..book import Built, define
from ..verdicts import choice, code, number


@define(9, "Deploying the blocks", "09_deployment")
def build() -> Built:
    n = count_parameters(mobilenet_v2())  # the chapter's network: 1000 classes
    int8 = ("Each SiLU as two integer passes (a sigmoid, then a product) where float32 fuses it "
            "into one kernel, and the SE gates, with their pooling in float")
    engine = ("The engines' depthwise kernels differ in speed, and only MBConv has a depthwise "
              "convolution; the fused block is regular convolutions")
    return {
        "ch9-ex-size": number(n / 1e6, "MB", rel_tol=0.02, hints=[
            "One byte per weight.", "float32 takes four times as much."], mistakes={
            4 * n / 1e6: "That is float32, four bytes per weight.",
            n / 2**20: "That is in MiB (2²⁰ bytes); the question asks for MB, 10⁶ bytes.",
        }),
        "ch9-ex-why-int8": choice(
            (int8, "Right: the profile puts those passes and the float pooling beside the "
             "integer convolutions; the lite B0, with ReLU6 and no SE, runs none of them."),
            {"Float sigmoids, because ONNX Runtime has no integer sigmoid kernel": "The int8 "
             "*file* stores each sigmoid as a float op between a dequantize and a quantize, as "
             "it stores every convolution; the optimized graph runs them as QLinearSigmoid.",
             "It has more parameters": "Parameters set the file size; the time goes to the "
             "operators the optimized graph runs.",
             "Its 5×5 depthwise kernels cannot be quantized": "Depthwise convolutions of any size "
             "have integer kernels in ONNX Runtime.",
             "int8 is less accurate for it": "Accuracy does not change the speed of a kernel."},
            hints=["Compare the optimized int8 and fp32 graphs' operator counts, then the "
                   "profile's 'SiLU and SE gate' and 'pooling' rows."]),
        "ch9-ex-engine": choice(
            (engine, "Right: how fast an engine's depthwise kernel is decides MBConv's time; "
             "the fused block's regular convolutions run well in both."),
            {"ONNX Runtime computes fewer multiply-adds": "The multiply-adds are the graph's; an "
             "engine changes how fast they run, not how many there are.",
             "ONNX Runtime trains the blocks differently": "Nothing is trained here: the same "
             "weights run in both engines (checked to 1e-4).",
             "The TPU results of Table 3 apply to ONNX Runtime": "Table 3 measured training "
             "throughput on TPUs and GPUs, not a CPU engine."},
            hints=["Which layer does MBConv have that Fused-MBConv does not?"]),
        "ch9-ex-lite": code(checkers.check_make_lite, "make_lite", hints=[
            "lite = copy.deepcopy(model)",
            "for parent in list(lite.modules()): for name, child in "
            "list(parent.named_children()): ...",
            "setattr(parent, name, nn.ReLU6()) or setattr(parent, name, nn.Identity())",
        ]),
    }, {"ch9_ex_params": n, "ch9_ex_int8_mb": round(n / 1e6, 2)}
