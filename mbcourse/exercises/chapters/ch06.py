"""Chapter 6 (Whole networks)."""

from __future__ import annotations

import torch

from mbcourse import costs
from mbcourse.models import efficientnet_b0

from ..book import Built, define
from ..verdicts import choice, number, shape


@define(6, "Whole networks", "06_whole_networks")
def build() -> Built:
    head = costs.conv_norm_act(320, 1280, 1, 7).macs
    kb = 16 * 112 * 112 * torch.finfo(torch.float16).bits / 8 / 1000
    with torch.no_grad():
        out = tuple(efficientnet_b0().eval().features[:4](torch.zeros(1, 3, 224, 224)).shape)
    macs = "Multiply-adds of the convolutions and the classifier"
    return {
        "ch6-ex-head": number(head, "multiply-adds", hints=[
            "A 1x1 conv costs C_in * C_out multiply-adds at every output position.",
            "320 * 1280 * 7 * 7",
        ], mistakes={
            2 * head: "That is the FLOP count (2 per multiply-add); count MACs.",
            320 * 1280: "That is one output position (the weights); the conv runs at all 7 × 7.",
        }),
        "ch6-ex-convention": choice(
            (macs, "Right: it equals FlopCounterMode's count divided by 2, the paper's 300M "
             "MAdds."),
            {"FLOPs, 2 per multiply-add": "That is FlopCounterMode's convention; torchvision's "
             "column is half of it.",
             "FLOPs including BatchNorm and activations": "Those add O(C·H·W) work, far less than "
             "a factor of 2; and the count matches the convolutions alone.",
             "Multiply-adds at torchvision's 256-pixel resize size": "The number is for the "
             "224×224 crop the network sees."},
            hints=["Divide 0.60 by 0.301."]),
        "ch6-ex-table3": number(kb, "kB", rel_tol=0.01, hints=[
            "Count the elements, then 2 bytes each."], mistakes={
            2 * kb: "That is float32 (4 bytes per element); the paper assumes 16-bit.",
            kb * 1000 / 1024: "That is KiB (1024 bytes); the question uses 1 kB = 1000 bytes.",
        }),
        "ch6-ex-shape": shape(out, hints=[
            "In Table 1, stages 1 (the stem), 3 and 4 have stride 2; stage 2 has stride 1.",
            "Stage 4 has 40 output channels.",
        ]),
    }, {"ch6_ex_head_macs": head, "ch6_ex_kb": round(kb, 1), "ch6_ex_shape": str(out)}
