"""Chapter 3's numbers and studies (book/03_squeeze_excitation.ipynb).

The chapter's prose prints two kinds of numbers, and both come from here:

* :func:`facts` returns :class:`Ch03Facts`, every number that does not depend on a measurement:
  SENet's reduction study (Table 10) and ECA-Net's SE variants (Table 2) as published, beside
  their parameter counts by our formula (:func:`mbcourse.costs.squeeze_excitation`); what SE
  costs ResNet-50 (parameters, multiply-adds, and the passes over the feature maps that are
  not multiply-adds); SE's share of EfficientNet-B0's blocks and of the whole network; and
  MobileNetV3's SE sizing beside EfficientNet's, for the same block widths.
* Study functions return records of what the page measured: :func:`gate_facts` (the gates one
  forward pass computed), :func:`b0_se_variants` / :func:`se_share_rows` (B0's 80-channel block
  with SE of each reduction) and :func:`timing_facts` (their latencies, worded by
  :mod:`mbcourse.studies.verdicts`: every speed sentence names its device, engine, batch and
  threads and quotes no effect inside the noise of its timing rounds).

The tables the chapter shows (:func:`senet_table`, :func:`eca_table`) and its plots
(:func:`plot_gates`, :func:`plot_se_params`, :func:`plot_se_cost`) live here too, so that the
chapter's cells stay short lessons. The chapter glues each record with
:func:`mbcourse.display.glue_facts` (``ch3_<field>``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import matplotlib.pyplot as plt
import torch
from IPython.display import Markdown
from matplotlib.figure import Figure
from torch import Tensor

from .. import costs
from ..blocks import HardSigmoidSE, MBConv, SqueezeExcitation, mobilenet_v3_squeeze_channels
from ..measure import count_parameters
from ..measure.timing import Latency, round_spread
from ..models import efficientnet_b0
from ..validation import check_int
from ..viz import mark_within_noise
from .experiments import attach_se
from .verdicts import NOISE, Setting, SpeedResult, speed_sentence, speed_summary

__all__ = [
    "B0_BLOCK",
    "ECA_ABSTRACT_WEIGHTS",
    "ECA_RELEASED_K",
    "ECA_TABLE2",
    "RESNET50",
    "RESNET50_GMACS",
    "RESNET50_SE_STAGES",
    "SENET_TABLE10",
    "SWEEP",
    "Ch03Facts",
    "Ch03Timing",
    "EcaVariant",
    "GateFacts",
    "ShareRow",
    "b0_se_variants",
    "eca_table",
    "facts",
    "gate_facts",
    "plot_gates",
    "plot_se_cost",
    "plot_se_params",
    "se_resnet50",
    "se_resnet50_passes",
    "se_share_rows",
    "senet_table",
    "speed_results",
    "timing_facts",
    "timing_setting",
]

# --------------------------------------------------------------------------------------------
# Published numbers (the facts the chapter is held to)
# --------------------------------------------------------------------------------------------
#: SENet, journal version {cite}`hu2019senet`, Table 10: SE-ResNet-50 on ImageNet (single crop)
#: for each reduction r: (top-1 error %, parameters in millions).
SENET_TABLE10: dict[int, tuple[float, float]] = {
    2: (22.29, 45.7),
    4: (22.25, 35.7),
    8: (22.26, 30.7),
    16: (22.28, 28.1),
    32: (22.72, 26.9),
}
#: The same table's ResNet-50 row: (top-1 error %, parameters in millions).
RESNET50: tuple[float, float] = (23.30, 25.6)
#: SENet's multiply-adds ("GFLOPs") per image: ResNet-50 and SE-ResNet-50 (r = 16).
RESNET50_GMACS: tuple[float, float] = (3.86, 3.87)
#: ResNet-50's bottleneck blocks as SE sees them: (channels gated, blocks, feature-map side at
#: 224 x 224) per stage; SE-ResNet puts one SE after each of the 16 blocks.
RESNET50_SE_STAGES: tuple[tuple[int, int, int], ...] = (
    (256, 3, 56), (512, 4, 28), (1024, 6, 14), (2048, 3, 7),
)


@dataclass(frozen=True)
class EcaVariant:
    """One excitation of ECA-Net's Table 2 {cite}`wang2020ecanet` (ResNet-50, ImageNet): its
    name, what it computes from the pooled vector ``z``, its top-1 accuracy (%) and its
    weights for ``C`` gated channels (``weights(C)``, as our modules would hold them)."""

    name: str
    computes: str
    top1: float

    def weights(self, channels: int) -> int:
        c = channels
        return {
            "SE": costs.squeeze_excitation(c, c // 16).params,  # fc1, fc2 with biases
            "SE-Var1": 0,  # the pooled vector itself, through the sigmoid
            "SE-Var2": c,  # one weight per channel
            "SE-Var3": c * c + c,  # one C x C layer (with bias), no reduction
            "ECA, k = 3": 3,  # a 1-D convolution of 3 taps across channels, no bias
        }[self.name]


#: ECA-Net, Table 2 (ResNet-50 top-1 %, its own training setup): SE and its variants.
ECA_TABLE2: tuple[EcaVariant, ...] = (
    EcaVariant("SE", "two layers, C → C/16 → C", 76.71),
    EcaVariant("SE-Var1", "no weights: σ(z)", 76.00),
    EcaVariant("SE-Var2", "one weight per channel", 77.07),
    EcaVariant("SE-Var3", "one C × C layer, no reduction", 77.42),
    EcaVariant("ECA, k = 3", "1-D convolution of 3 taps across channels", 77.43),
)
#: The kernel sizes of ECA-Net's released ResNet-50 ("eca_resnet50_k3557"), by stage: its
#: adaptive k, whose weights over the 16 blocks are the abstract's figure.
ECA_RELEASED_K: tuple[int, ...] = (3, 5, 5, 7)
#: ECA-Net's abstract: "80 vs. 24.37M" parameters for ResNet-50.
ECA_ABSTRACT_WEIGHTS = 80

#: The block the chapter measures: EfficientNet-B0's MBConv6 3 x 3 with 80 channels (the
#: stage of EfficientNet's Table 1 with 80 output channels), at 14 x 14.
B0_BLOCK: dict[str, int] = {"in_channels": 80, "out_channels": 80, "stride": 1,
                            "expand_ratio": 6, "kernel_size": 3}
B0_BLOCK_SIZE = 14
#: The SE variants of the measurement: ``None`` (no SE), ``"B0"`` (EfficientNet's own SE,
#: squeeze C_in / 4) and reductions r over the expanded channels.
SWEEP: tuple[int | str | None, ...] = (None, "B0", 16, 8, 4, 2, 1)


# --------------------------------------------------------------------------------------------
# Counting
# --------------------------------------------------------------------------------------------
def se_resnet50(reduction: int) -> costs.Cost:
    """What SE of reduction ``r`` adds to ResNet-50: one SE over each block's output channels
    (parameters, and multiply-adds per 224 x 224 image, from
    :func:`mbcourse.costs.squeeze_excitation`)."""
    check_int("se_resnet50", "reduction", reduction)
    params = macs = 0
    for channels, blocks, _ in RESNET50_SE_STAGES:
        cost = costs.squeeze_excitation(channels, channels // reduction)
        params += blocks * cost.params
        macs += blocks * cost.macs
    return costs.Cost(params, macs, (1, 1))


def se_resnet50_passes() -> int:
    """Feature-map elements SE-ResNet-50's SE blocks touch per 224 x 224 image: each pools its
    ``C x H x W`` input once and scales it once (one multiply per element). None of it is a
    multiply-add of a convolution; all of it is memory traffic."""
    return sum(blocks * channels * side * side for channels, blocks, side in RESNET50_SE_STAGES)


def _share(part: float, whole: float) -> float:
    return round(100 * part / whole, 1)


# --------------------------------------------------------------------------------------------
# The facts record
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ch03Facts:
    """Chapter 3's numbers that need no measurement (glued as ``ch3_<field>``).

    Percentages are in percent, millions in M, both rounded as printed.
    """

    # SENet Table 10, and our SE formula over ResNet-50's blocks
    formula_gap: float  # largest |ours - paper| of the parameter column (M)
    err_spread: float  # top-1 error range over r = 2 ... 16 (points)
    param_growth: float  # parameters of r = 2 minus r = 16 (M)
    r2_over_r16: float  # parameters of r = 2 / r = 16
    err_r32: float  # error of r = 32 minus r = 16 (points)
    se_gain: float  # error of ResNet-50 minus SE-ResNet-50 with r = 16 (points)
    r1_params: float  # ResNet-50 with SE of r = 1, by our count (M)
    r1_ratio: float  # that / ResNet-50
    r1_over_r16: float  # that / the paper's r = 16 network
    # ECA-Net Table 2
    eca_se: float  # SE's top-1 (%)
    eca_var2: float  # SE-Var2's
    eca_var3: float  # SE-Var3's
    eca_k3: float  # ECA's (k = 3)
    eca_var3_gain: float  # SE-Var3 minus SE (points)
    eca_var2_gain: float  # SE-Var2 minus SE (points)
    eca_k3_gain: float  # ECA (k = 3) minus SE (points)
    eca_se16_block: int  # SE (r = 16) parameters at C = 2048
    eca_fc_block: int  # SE-Var3 parameters at C = 2048
    eca_se16_net_m: float  # SE (r = 16) over ResNet-50 (M)
    eca_fc_net_m: float  # SE-Var3 over ResNet-50 (M)
    eca_fc_net_pct: float  # that, in % of ResNet-50
    eca_var2_net: int  # SE-Var2 over ResNet-50
    eca_k3_net: int  # ECA, k = 3, over ResNet-50 (Table 2's row)
    eca_released_net: int  # ECA with the released k = 3, 5, 5, 7 (the abstract's 80)
    eca_released_k: str  # "3, 5, 5 and 7"
    # What SE costs SE-ResNet-50 (r = 16)
    ser50_added_m: float
    ser50_added_pct: float
    ser50_mlp_macs_m: float
    ser50_mlp_macs_pct: float
    ser50_last_share: int  # % of the added parameters in the last stage's 3 blocks
    ser50_without_last_pct: float  # added parameters without them, % of ResNet-50
    ser50_pass_m: float  # feature-map elements SE pools and scales per image (M)
    ser50_pass_mb: float  # the bytes of those passes in float32 (MB): read twice, written once
    ser50_pass_over_macs: float  # elements scaled / the MLPs' multiply-adds
    # SE in EfficientNet-B0
    b0_cexp: int  # expanded (gated) channels of the 80-channel block
    b0_squeeze: int  # its SE's squeeze units (80 // 4)
    b0_r: int  # the reduction that makes over the gated channels
    b0_block_params: int
    b0_block_se: int
    b0_block_se_pct: float
    b0_block_se_macs_pct: float  # SE's share of the block's multiply-adds at 14 x 14
    share_r4: float  # SE's share of the block's parameters with r = 4 over the 480 channels (%)
    share_r1: float  # ... with r = 1
    macshare_r1: float  # SE's share of the block's multiply-adds with r = 1 (%)
    params_r1_ratio: float  # the block with r = 1 / the block with EfficientNet's SE
    b0_first_params: int  # B0's first block (MBConv1, 32 -> 16)
    b0_first_se: int
    b0_first_se_pct: float
    b0_params: int  # the whole network
    b0_se_params: int  # its 16 SE blocks
    b0_se_pct: float
    b0_se_count: int
    b0_later_min_pct: float  # SE's share of each later block (after the first): the smallest
    b0_later_max_pct: float  # ... and the largest
    # MobileNetV3's SE over the same 480 expanded channels (80 -> 480 in both networks)
    v3_squeeze: int  # make_divisible(480 // 4, 8)
    v3_r: int  # 480 / that
    v3_se_params: int
    v3_over_b0: float  # V3's SE parameters / B0's, same gated width


def facts() -> Ch03Facts:
    """Every number of chapter 3's prose that needs no measurement (see :class:`Ch03Facts`)."""
    err16, params16 = SENET_TABLE10[16]
    ours = {r: RESNET50[1] + se_resnet50(r).params / 1e6 for r in SENET_TABLE10}
    flat = [SENET_TABLE10[r][0] for r in (2, 4, 8, 16)]
    r1 = RESNET50[1] + se_resnet50(1).params / 1e6

    eca = {v.name: v for v in ECA_TABLE2}

    def network(variant: EcaVariant) -> int:
        return sum(n * variant.weights(c) for c, n, _ in RESNET50_SE_STAGES)

    released = sum(k * n for k, (_, n, _) in zip(ECA_RELEASED_K, RESNET50_SE_STAGES, strict=True))

    se16 = se_resnet50(16)
    last = RESNET50_SE_STAGES[-1]
    last_params = last[1] * costs.squeeze_excitation(last[0], last[0] // 16).params
    passes = se_resnet50_passes()

    block = MBConv(**B0_BLOCK)
    block_cost = costs.mbconv(80, 80, B0_BLOCK_SIZE, expand_ratio=6, kernel_size=3)
    se_cost = costs.squeeze_excitation(block.expanded_channels, block.se.squeeze_channels)
    b0 = efficientnet_b0()
    ses = [m for m in b0.modules() if isinstance(m, SqueezeExcitation)]
    first = b0.features[1][0]
    later = [100 * count_parameters(m.se) / count_parameters(m) for m in b0.modules()
             if isinstance(m, MBConv) and m is not first]
    shares = {row.label: row for row in se_share_rows(b0_se_variants(("B0", 4, 1)))}
    v3_squeeze = mobilenet_v3_squeeze_channels(block.expanded_channels)
    v3_se = count_parameters(HardSigmoidSE(block.expanded_channels, v3_squeeze))

    return Ch03Facts(
        formula_gap=round(max(abs(ours[r] - SENET_TABLE10[r][1]) for r in SENET_TABLE10), 2),
        err_spread=round(max(flat) - min(flat), 2),
        param_growth=round(SENET_TABLE10[2][1] - params16, 1),
        r2_over_r16=round(SENET_TABLE10[2][1] / params16, 1),
        err_r32=round(SENET_TABLE10[32][0] - err16, 2),
        se_gain=round(RESNET50[0] - err16, 2),
        r1_params=round(r1, 1),
        r1_ratio=round(r1 / RESNET50[1], 1),
        r1_over_r16=round(r1 / params16, 1),
        eca_se=eca["SE"].top1,
        eca_var2=eca["SE-Var2"].top1,
        eca_var3=eca["SE-Var3"].top1,
        eca_k3=eca["ECA, k = 3"].top1,
        eca_var3_gain=round(eca["SE-Var3"].top1 - eca["SE"].top1, 2),
        eca_var2_gain=round(eca["SE-Var2"].top1 - eca["SE"].top1, 2),
        eca_k3_gain=round(eca["ECA, k = 3"].top1 - eca["SE"].top1, 2),
        eca_se16_block=eca["SE"].weights(2048),
        eca_fc_block=eca["SE-Var3"].weights(2048),
        eca_se16_net_m=round(network(eca["SE"]) / 1e6, 1),
        eca_fc_net_m=round(network(eca["SE-Var3"]) / 1e6, 1),
        eca_fc_net_pct=round(100 * network(eca["SE-Var3"]) / (RESNET50[1] * 1e6)),
        eca_var2_net=network(eca["SE-Var2"]),
        eca_k3_net=network(eca["ECA, k = 3"]),
        eca_released_net=released,
        eca_released_k=", ".join(map(str, ECA_RELEASED_K[:-1])) + f" and {ECA_RELEASED_K[-1]}",
        ser50_added_m=round(se16.params / 1e6, 2),
        ser50_added_pct=_share(se16.params, RESNET50[1] * 1e6),
        ser50_mlp_macs_m=round(se16.macs / 1e6, 2),
        ser50_mlp_macs_pct=round(100 * se16.macs / (RESNET50_GMACS[0] * 1e9), 3),
        ser50_last_share=round(100 * last_params / se16.params),
        ser50_without_last_pct=_share(se16.params - last_params, RESNET50[1] * 1e6),
        ser50_pass_m=round(passes / 1e6, 2),
        ser50_pass_mb=round(3 * 4 * passes / 1e6),
        ser50_pass_over_macs=round(passes / se16.macs, 1),
        b0_cexp=block.expanded_channels,
        b0_squeeze=block.se.squeeze_channels,
        b0_r=block.expanded_channels // block.se.squeeze_channels,
        b0_block_params=count_parameters(block),
        b0_block_se=count_parameters(block.se),
        b0_block_se_pct=_share(count_parameters(block.se), count_parameters(block)),
        b0_block_se_macs_pct=round(100 * se_cost.macs / block_cost.macs, 2),
        share_r4=round(100 * shares["r=4"].se_share, 1),
        share_r1=round(100 * shares["r=1"].se_share, 1),
        macshare_r1=round(100 * shares["r=1"].se_mac_share, 1),
        params_r1_ratio=round(shares["r=1"].params / shares["B0's"].params, 1),
        b0_first_params=count_parameters(first),
        b0_first_se=count_parameters(first.se),
        b0_first_se_pct=_share(count_parameters(first.se), count_parameters(first)),
        b0_params=count_parameters(b0),
        b0_se_params=sum(count_parameters(m) for m in ses),
        b0_se_pct=_share(sum(count_parameters(m) for m in ses), count_parameters(b0)),
        b0_se_count=len(ses),
        b0_later_min_pct=round(min(later), 1),
        b0_later_max_pct=round(max(later), 1),
        v3_squeeze=v3_squeeze,
        v3_r=block.expanded_channels // v3_squeeze,
        v3_se_params=v3_se,
        v3_over_b0=round(v3_se / count_parameters(block.se), 1),
    )


# --------------------------------------------------------------------------------------------
# The papers' tables, with our counts beside them
# --------------------------------------------------------------------------------------------
def senet_table() -> Markdown:
    """SENet's Table 10 (top-1 error and parameters per r) beside ResNet-50 plus our SE count;
    with the r = 1 the paper did not train, and the plain ResNet-50 row."""
    rows = ["| r | top-1 error (paper) | parameters (paper) | ResNet-50 + our SE count |",
            "|---|---|---|---|"]
    for r, (err, params) in SENET_TABLE10.items():
        ours = RESNET50[1] + se_resnet50(r).params / 1e6
        rows.append(f"| {r} | {err:.2f} % | {params:.1f} M | {ours:.1f} M |")
    r1 = RESNET50[1] + se_resnet50(1).params / 1e6
    rows.append(f"| 1 (not in the paper) | not measured | not measured | {r1:.1f} M |")
    rows.append(f"| no SE (ResNet-50) | {RESNET50[0]:.2f} % | {RESNET50[1]:.1f} M | |")
    return Markdown("\n".join(rows))


def eca_table() -> Markdown:
    """ECA-Net's Table 2 variants (top-1 as published) beside their weights at C = 2048 and
    over ResNet-50's 16 SE positions; and the released adaptive-k ECA (the abstract's 80)."""
    rows = ["| excitation | what it computes from the pooled $z$ | top-1 (ECA-Net, Table 2) "
            "| weights at $C = 2048$ | over ResNet-50 |", "|---|---|---|---|---|"]
    for v in ECA_TABLE2:
        network = sum(n * v.weights(c) for c, n, _ in RESNET50_SE_STAGES)
        rows.append(f"| {v.name} | {v.computes} | {v.top1:.2f} % | {v.weights(2048):,} | "
                    f"{network:,} |")
    released = sum(k * n for k, (_, n, _) in zip(ECA_RELEASED_K, RESNET50_SE_STAGES, strict=True))
    ks = ", ".join(map(str, ECA_RELEASED_K))
    rows.append(f"| ECA, adaptive k (released: k = {ks} by stage) | the same, k grows with "
                f"$C$ | not in Table 2 | {ECA_RELEASED_K[-1]} | {released:,} |")
    return Markdown("\n".join(rows))


# --------------------------------------------------------------------------------------------
# Measured: the gates, and SE inside B0's block
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GateFacts:
    """The range of gates one forward pass computed, and how far two images' gates differ."""

    gate_lo: float
    gate_hi: float
    gate_gap: float  # largest |g(image 0) - g(image 1)| over channels


def gate_facts(gate: Tensor) -> GateFacts:
    """From a recorded gate ``(N, C)``, ``N >= 2`` (:func:`mbcourse.blocks.record_se_gates`)."""
    if not isinstance(gate, Tensor) or gate.dim() != 2 or gate.shape[0] < 2:
        raise ValueError(f"gate_facts: gate must be a tensor (N, C) with N >= 2, got "
                         f"{getattr(gate, 'shape', type(gate).__name__)}")
    return GateFacts(round(gate.min().item(), 3), round(gate.max().item(), 3),
                     round((gate[0] - gate[1]).abs().max().item(), 3))


def _label(variant: int | str | None) -> str:
    if variant is None:
        return "none"
    return "B0's" if variant == "B0" else f"r={variant}"


def b0_se_variants(sweep: Sequence[int | str | None] = SWEEP, seed: int = 0) -> dict[str, MBConv]:
    """B0's 80-channel MBConv6 3 x 3 block with each SE of ``sweep``: ``None`` none, ``"B0"``
    EfficientNet's own (squeeze 80 // 4 = 20), an int r: SE of reduction r over the 480
    expanded channels (:func:`mbcourse.studies.experiments.attach_se`). Keys: ``"none"``,
    ``"B0's"``, ``"r=16"``, ...; every block starts from the same seeded weights."""
    variants = {}
    for variant in sweep:
        if variant not in (None, "B0") and not (isinstance(variant, int) and variant >= 1):
            raise ValueError(f"b0_se_variants: each variant must be None, 'B0' or a reduction "
                             f"r >= 1, got {variant!r}")
        torch.manual_seed(seed)
        block = MBConv(**B0_BLOCK, se_ratio=0.25 if variant == "B0" else 0.0)
        if isinstance(variant, int):
            attach_se(block, reduction=variant)
        variants[_label(variant)] = block
    return variants


@dataclass(frozen=True)
class ShareRow:
    """One SE variant of the block: its label, the block's parameters, SE's share of them and
    of the block's multiply-adds at 14 x 14."""

    label: str
    params: int
    se_params: int
    se_share: float  # fraction of the block's parameters
    se_mac_share: float  # fraction of its multiply-adds


def se_share_rows(variants: Mapping[str, MBConv]) -> list[ShareRow]:
    """SE's share of each block of :func:`b0_se_variants` (counted from the modules; the
    multiply-adds from :mod:`mbcourse.costs`)."""
    no_se = costs.mbconv(80, 80, B0_BLOCK_SIZE, expand_ratio=6, kernel_size=3, se_ratio=0.0)
    rows = []
    for label, block in variants.items():
        se = block.se if isinstance(block.se, SqueezeExcitation) else None
        se_params = count_parameters(se) if se is not None else 0
        se_macs = costs.squeeze_excitation(se.channels, se.squeeze_channels).macs if se else 0
        params = count_parameters(block)
        rows.append(ShareRow(label, params, se_params, se_params / params,
                             se_macs / (no_se.macs + se_macs)))
    return rows


def speed_results(latency: Mapping[str, Latency], reference: str = "none") -> list[SpeedResult]:
    """Each SE variant's time against ``reference`` (the block without SE): the ratio of the
    round medians, with the spread of both variants' rounds
    (:func:`~mbcourse.measure.round_spread`)."""
    if reference not in latency:
        raise ValueError(f"speed_results: no timing named {reference!r} in {sorted(latency)}")
    base = latency[reference]
    return [SpeedResult(_describe(label), t.median_ms / base.median_ms, round_spread(t, base))
            for label, t in latency.items() if label != reference]


def _describe(label: str) -> str:
    return "EfficientNet's SE (squeeze 20)" if label == "B0's" else label.replace("=", " = ")


@dataclass(frozen=True)
class Ch03Timing:
    """What the page's latency measurement says, as sentences (glued as ``ch3_<field>``).

    ``lat_verdict``: every SE variant against the block without SE; ``lat_r1_verdict``: SE with
    r = 1 against EfficientNet's; both from :mod:`mbcourse.studies.verdicts`. ``lat_data``:
    the setting and every ratio and spread, as JSON (what the tests check the sentences with).
    """

    lat_verdict: str
    lat_r1_verdict: str
    lat_n_noise: int  # SE variants within the noise of the block without SE
    lat_n: int
    lat_noise: int  # largest spread of one variant's own rounds, in %
    batch: int
    lat_data: str

    def for_glue(self) -> dict[str, Any]:
        """The fields, with the sentences as Markdown (for ``{glue:md}`` roles)."""
        out: dict[str, Any] = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["lat_verdict"] = Markdown(self.lat_verdict)
        out["lat_r1_verdict"] = Markdown(self.lat_r1_verdict)
        return out


def timing_setting(device: torch.device | str, *, batch: int, threads: int | None,
                   clock: str = "wall") -> Setting:
    """The :class:`~mbcourse.studies.verdicts.Setting` of the chapter's timing on ``device``;
    with ``clock="cpu"`` its engine says that the times are the process's CPU time."""
    setting = Setting.for_device(device, batch=batch, threads=threads)
    if clock == "cpu":
        setting = replace(setting, engine=f"{setting.engine}, timed in process CPU time")
    return setting


def timing_facts(latency: Mapping[str, Latency], setting: Setting) -> Ch03Timing:
    """The sentences and counts of :class:`Ch03Timing` from :func:`b0_se_variants`' timings
    (``compare_latency``) measured in ``setting``."""
    for needed in ("none", "B0's", "r=1"):
        if needed not in latency:
            raise ValueError(f"timing_facts: no timing named {needed!r} in {sorted(latency)}")
    results = speed_results(latency)
    verdict = speed_summary(results, setting, candidate="the block with SE",
                            reference="the block without SE", noun="SE variant")
    r1 = SpeedResult("", latency["r=1"].median_ms / latency["B0's"].median_ms,
                     round_spread(latency["r=1"], latency["B0's"]))
    r1_verdict = speed_sentence(r1, setting, candidate="the block with SE of r = 1",
                                reference="the block with EfficientNet's SE")
    data = {"setting": setting.as_dict(),
            "rows": [{"label": r.label, "ratio": r.ratio, "spread": r.spread} for r in results],
            "r1": {"ratio": r1.ratio, "spread": r1.spread}}
    return Ch03Timing(
        lat_verdict=verdict,
        lat_r1_verdict=r1_verdict,
        lat_n_noise=sum(r.outcome == NOISE for r in results),
        lat_n=len(results),
        lat_noise=round(100 * max(round_spread(t) for t in latency.values())),
        batch=setting.batch,
        lat_data=json.dumps(data),
    )


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------
def plot_gates(gate: Tensor) -> Figure:
    """The gates ``(N, C)`` of a few images, one line per image, over the channels."""
    fig, ax = plt.subplots(figsize=(6.8, 3.4))
    for i, row in enumerate(gate.detach().cpu()):
        ax.plot(row.numpy(), marker=".", label=f"image {i}")
    ax.set_xlabel("channel c")
    ax.set_ylabel("gate $g_c$")
    ax.set_title(f"Gates of an untrained SE over {gate.shape[1]} channels")
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + 0.4 * (high - low))  # room for the legend above the lines
    ax.legend(loc="upper center", ncols=len(gate))
    fig.tight_layout()
    return fig


def plot_se_params(widths: Sequence[int], reductions: Sequence[int]) -> Figure:
    """Parameters of one SE block against r (log-log), one line per width C."""
    fig, ax = plt.subplots(figsize=(6.8, 4.2))
    for c in widths:
        ax.plot(reductions, [costs.squeeze_excitation(c, c // r).params for r in reductions],
                marker="o", label=f"C = {c}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(list(reductions), [str(r) for r in reductions])
    ax.minorticks_off()
    ax.set_xlabel("reduction factor r")
    ax.set_ylabel("parameters of one SE block")
    ax.set_title("SE parameters fall as 1/r, grow as C²")
    ax.legend(title="gated channels", loc="lower left")
    fig.tight_layout()
    return fig


def plot_se_cost(rows: Sequence[ShareRow], latency: Mapping[str, Latency],
                 setting: Setting) -> Figure:
    """Two panels, one above the other: SE's share of the block's parameters, and each
    variant's latency (median of the rounds, whiskers from the fastest to the slowest round);
    bars within the noise of the block without SE grey and hatched (legend under the axes)."""
    labels = [r.label for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.8, 7.6), sharex=True)
    top.bar(labels, [100 * r.se_share for r in rows], color="#fcbba1")
    top.set_ylabel("SE's share of\nparameters (%)")
    top.set_title("Parameters")
    medians = [latency[label].median_ms for label in labels]
    low = [m - latency[label].min_ms for m, label in zip(medians, labels, strict=True)]
    high = [max(latency[label].times_ms) - m for m, label in zip(medians, labels, strict=True)]
    bars = bottom.bar(labels, medians, color="#9ecae1", label="median of the rounds",
                      yerr=[low, high], capsize=4, ecolor="#525252")
    noisy = {r.label for r in speed_results(latency) if r.outcome == NOISE}
    mark_within_noise(bottom, bars, [_describe(label) in noisy for label in labels])
    shown = bottom.get_legend() or bottom.legend()  # move it under the axes: never over a bar
    bottom.legend(shown.legend_handles, [t.get_text() for t in shown.get_texts()],
                  loc="upper center", bbox_to_anchor=(0.5, -0.38))
    bottom.set_ylabel(f"ms per batch of {setting.batch}")
    threads = "" if setting.threads is None else f", {setting.threads} thread"
    threads += "s" if setting.threads not in (None, 1) else ""
    bottom.set_title(f"Latency (batch {setting.batch}{threads})")
    bottom.set_xlabel("SE over the block's expanded channels")
    bottom.tick_params(axis="x", labelrotation=30)
    fig.tight_layout()
    return fig
