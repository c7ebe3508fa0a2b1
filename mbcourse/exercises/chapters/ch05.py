"""Chapter 5 (Fused-MBConv: trading parameters for speed)."""

from __future__ import annotations

import torch

from mbcourse.blocks import FusedMBConv, MBConv

from .. import checkers
from ..book import Built, define
from ..verdicts import choice, code, number, shape


@define(5, "Fused-MBConv: trading parameters for speed", "05_fused_mbconv")
def build() -> Built:
    fused = FusedMBConv(48, 64, stride=2, expand_ratio=4).fused.conv.weight.numel()
    mb = MBConv(48, 64, stride=2, expand_ratio=4, se_ratio=0.0)
    split = mb.expand.conv.weight.numel() + mb.depthwise.conv.weight.numel()
    block = FusedMBConv(24, 48, stride=2, expand_ratio=4).eval()
    with torch.no_grad():
        after = tuple(block.fused(torch.zeros(1, 24, 192, 192)).shape)
    why = ("Early stages are high-resolution and narrow: the depthwise conv is memory-bound there "
           "and fusing adds few parameters")
    return {
        "ch5-ex-weights": number(fused, "weights", hints=[
            "It maps 48 channels to 48 · 4 = 192 with a regular 3×3 kernel.", "C_in · C_exp · k²",
        ], mistakes={
            split: "That is MBConv's expansion + depthwise (C_in·C_exp + C_exp·k²), the layers "
            "the fused conv replaces.",
            48 * 64 * 9: "The fused conv expands to C_exp = 192 channels; the 1×1 projection "
            "then maps them to 64.",
        }),
        "ch5-ex-claim": choice(
            ("more parameters and more multiply-adds", "Right: C_in·k²/(C_in + k²) times as many "
             "for the replaced layers; the table above gives the ratio for each V2-S stage."),
            {"fewer parameters, because one conv replaces two": "One regular k×k conv holds "
             "C_in·C_exp·k² weights, more than C_in·C_exp + C_exp·k² for the two it replaces.",
             "the same parameters but fewer multiply-adds": "Both grow: the multiply-adds are "
             "the weights times the output positions.",
             "fewer multiply-adds but more parameters": "The multiply-adds grow with the "
             "weights."},
            hints=["Count the weights of a 1×1 conv plus a depthwise k×k against one regular "
                   "k×k."]),
        "ch5-ex-shape": shape(after, hints=[
            "The fused conv expands and carries the stride.", "C_exp = make_divisible(24 · 4, 8)",
        ], mistakes={
            (1, 48, 96, 96): "That is the block's output, after the 1×1 projection.",
            (1, 96, 192, 192): "The fused conv carries the stride: stride 2 halves H and W.",
        }),
        "ch5-ex-why": choice(
            (why, "Right: Table 3 shows fusing stages 1-3 makes the network faster; fusing the "
             "wide late stages adds many parameters and FLOPs and slows it down."),
            {"Fused-MBConv has fewer parameters, which matters most early": "It has more "
             "parameters, in every stage.",
             "Late stages need SE, which Fused-MBConv cannot have": "A fused block can carry an "
             "SE (the FusedMBConv class takes se_ratio); that is not the reason.",
             "Fused-MBConv cannot downsample": "Its k×k conv carries the stride, as the "
             "depthwise conv does in MBConv."},
            hints=["Look at the arithmetic-intensity table and at the parameters added per "
                   "stage."]),
        "ch5-ex-code": code(checkers.check_fused_params, "fused_params", hints=[
            "c_exp = make_divisible(c_in * expand_ratio, 8)",
            "c_exp != c_in: c_in·c_exp·k² + 2·c_exp + c_exp·c_out + 2·c_out",
            "c_exp == c_in: a single k×k conv straight to c_out: c_in·c_out·k² + 2·c_out",
        ]),
    }, {"ch5_ex1_answer": fused, "ch5_ex1_mb": split, "ch5_ex3_shape": str(after)}
