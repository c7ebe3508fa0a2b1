"""Chapter 5's numbers and studies (book/05_fused_mbconv.ipynb): Fused-MBConv against MBConv.

* :func:`v2s_stage_costs`: every EfficientNetV2-S stage built both ways (first block and whole
  stage, from :mod:`mbcourse.costs`), and :func:`network_params`: the whole network with any set
  of stages fused.
* :data:`TABLE3`: EfficientNetV2's Table 3 (fusing stages of EfficientNet-B4), as published.
* :func:`intensity_rows`: the arithmetic intensity of each stage's three convolutions.
* :func:`facts`: every number the chapter's prose quotes that needs no timing
  (:class:`Ch05Facts`).
* :func:`latency_sweep`: both blocks timed per stage and at three resolutions
  (:class:`LatencyStudy`), :func:`latency_facts` its verdict sentences (through
  :mod:`mbcourse.studies.verdicts`) beside the device's measured ridge point
  (:func:`mbcourse.studies.performance.machine_peaks`), :func:`plot_latency` its figure.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from matplotlib.figure import Figure

from .. import costs
from ..blocks import make_divisible
from ..display import FIGURE_WIDTH_IN
from ..measure import compare_latency, round_spread
from ..models.efficientnet import efficientnet_config
from ..models.table import StageRow
from .performance import block_pair
from .verdicts import FASTER, NOISE, SLOWER, Setting, SpeedResult, join, speed_summary

__all__ = [
    "TABLE3",
    "V2S_EVAL_SIZE",
    "V100",
    "Ch05Facts",
    "Ch05Latency",
    "LatencyRow",
    "LatencyStudy",
    "StageCosts",
    "Table3Row",
    "facts",
    "intensity_rows",
    "latency_facts",
    "latency_sweep",
    "network_params",
    "plot_latency",
    "plot_stage_costs",
    "ridge_sentence",
    "stage_costs",
    "v2s_stage_costs",
]

#: The resolution torchvision evaluates EfficientNetV2-S at.
V2S_EVAL_SIZE = 384


class Table3Row(NamedTuple):
    """One row of EfficientNetV2's Table 3: parameters (M), FLOPs (B), ImageNet top-1 (%),
    training throughput on one TPUv3 core and on one V100 (images/s)."""

    params_m: float
    flops_b: float
    top1: float
    tpu: int
    v100: int


#: EfficientNetV2 (Tan & Le 2021), Table 3: MBConv replaced by Fused-MBConv in the first
#: stages of EfficientNet-B4.
TABLE3: Mapping[str, Table3Row] = {
    "no fused": Table3Row(19.3, 4.5, 82.8, 262, 155),
    "fused stages 1-3": Table3Row(20.0, 7.5, 83.1, 362, 216),
    "fused stages 1-5": Table3Row(43.4, 21.3, 83.1, 327, 223),
    "fused stages 1-7": Table3Row(132.0, 34.4, 81.7, 254, 206),
}

#: NVIDIA's V100 (SXM2) data sheet: float32 and tensor-core TFLOPS, memory GB/s.
V100: Mapping[str, float] = {"fp32_tflops": 15.7, "tensor_tflops": 125.0, "gbytes": 900.0}


def _v2s_rows() -> tuple[StageRow, ...]:
    return efficientnet_config("efficientnet_v2_s").stages


# --------------------------------------------------------------------------------------------
# Counts
# --------------------------------------------------------------------------------------------
def stage_costs(
    row: StageRow, size: int, *, fused: bool, se_ratio: float = 0.0
) -> tuple[costs.Cost, costs.Cost]:
    """(first block, whole stage) costs of the resolved stage ``row`` built from
    Fused-MBConv (``fused``) or MBConv blocks, on a ``size x size`` input."""
    fn = costs.fused_mbconv if fused else costs.mbconv
    first = fn(row.in_channels, row.out_channels, size, row.stride, row.expand_ratio,
               row.kernel, se_ratio=se_ratio)
    rest = fn(row.out_channels, row.out_channels, first.out_size, 1, row.expand_ratio,
              row.kernel, se_ratio=se_ratio)
    whole = costs.Cost(first.params + (row.layers - 1) * rest.params,
                       first.macs + (row.layers - 1) * rest.macs, first.out_size)
    return first, whole


@dataclass(frozen=True)
class StageCosts:
    """One EfficientNetV2-S stage built both ways (no SE in either), on a ``resolution`` input."""

    row: StageRow
    resolution: int
    mbconv_first: costs.Cost
    fused_first: costs.Cost
    mbconv: costs.Cost
    fused: costs.Cost

    @property
    def param_ratio(self) -> float:
        return self.fused.params / self.mbconv.params

    @property
    def mac_ratio(self) -> float:
        return self.fused.macs / self.mbconv.macs


def v2s_stage_costs(image_size: int = V2S_EVAL_SIZE) -> list[StageCosts]:
    """The six stages of EfficientNetV2-S at ``image_size``, each as MBConv and Fused-MBConv."""
    size = costs.conv_out_size(image_size, 3, 2)  # after the stride-2 stem
    table = []
    for row in _v2s_rows():
        mb_first, mb = stage_costs(row, size, fused=False)
        fu_first, fu = stage_costs(row, size, fused=True)
        table.append(StageCosts(row, size, mb_first, fu_first, mb, fu))
        size = mb_first.out_size[0]
    return table


def _outside_params(num_classes: int = 1000) -> int:
    """EfficientNetV2-S's stem, head and classifier parameters (:mod:`mbcourse.costs`)."""
    cfg = efficientnet_config("efficientnet_v2_s")
    stem = costs.conv_norm_act(3, cfg.stem_channels, cfg.stem_kernel, V2S_EVAL_SIZE,
                               cfg.stem_stride)
    head = costs.conv_norm_act(cfg.stages[-1].out_channels, cfg.head_channels, cfg.head_kernel, 1)
    return stem.params + head.params + cfg.head_channels * num_classes + num_classes


def network_params(fused_stages: Iterable[int], *, outside: int | None = None) -> int:
    """EfficientNetV2-S's parameters with the stages in ``fused_stages`` built from
    Fused-MBConv (no SE) and the others from MBConv with SE 0.25: the stem, head and widths
    of V2-S. ``{1, 2, 3}`` is V2-S as built."""
    fused_stages = set(fused_stages)
    total = _outside_params() if outside is None else outside
    size = costs.conv_out_size(V2S_EVAL_SIZE, 3, 2)
    for row in _v2s_rows():
        fused = row.stage in fused_stages
        _, whole = stage_costs(row, size, fused=fused, se_ratio=0.0 if fused else 0.25)
        total += whole.params
        size = whole.out_size[0]
    return total


def intensity_rows(table: Sequence[StageCosts] | None = None) -> list[dict[str, Any]]:
    """Per stage of :func:`v2s_stage_costs`: the multiply-adds per byte
    (:func:`mbcourse.costs.arithmetic_intensity`, float32) of the first block's 1x1 expansion
    (``None`` when ``e = 1``), depthwise and fused convolutions, and ``extra_mb``: the MB per
    image that MBConv's one extra intermediate tensor (``C_exp x H x W``) costs, written and
    read back."""
    rows = []
    for sc in v2s_stage_costs() if table is None else table:
        r, res = sc.row, sc.resolution
        c_exp = make_divisible(r.in_channels * r.expand_ratio, 8)
        expand = (costs.arithmetic_intensity(r.in_channels, c_exp, 1, res)
                  if c_exp != r.in_channels else None)
        rows.append({
            "stage": r.stage, "resolution": res, "expand": expand,
            "depthwise": costs.arithmetic_intensity(c_exp, c_exp, r.kernel, res, r.stride,
                                                    groups=c_exp),
            "fused": costs.arithmetic_intensity(r.in_channels, c_exp, r.kernel, res, r.stride),
            "extra_mb": 2 * 4 * c_exp * res * res / 1e6,
        })
    return rows


@dataclass(frozen=True)
class Ch05Facts:
    """The untimed numbers of chapter 5's prose, glued as ``ch5_<field>``."""

    v2s_params: float  # millions, as built (stages 1-3 fused)
    v2s_params_exact: int
    v2s_allmb: float
    v2s_allfused: float
    v2s_fuse13_added: float
    v2s_fuse13_pct: float
    early_added: float  # M parameters added by fusing stages 1-3 (no SE anywhere)
    late_added: float  # ... stages 4-6
    stage6_ratio: float
    stage_ratio_min: float
    stage_ratio_max: float
    t3_params_pct: float
    t3_flops_pct: int
    t3_tpu_pct: int
    t3_v100_pct: int
    t3_acc_gain: float
    t3_full_params_x: float
    t3_full_acc_drop: float
    t3_mid_tpu_pct: int
    t3_mid_v100_pct: int
    t3_mid_params_x: float
    int_dw_max: float
    int_fused_min: int
    # chapter 1's "multiply-adds per element" against this chapter's "per byte"
    ch1_dw_per_element: float
    ch1_dw_per_byte: float
    ch1_dw_per_byte_weights: float
    v100_fp32_ridge: float
    v100_tensor_ridge: int


def facts() -> Ch05Facts:
    """Every untimed number of chapter 5's prose (counts, Table 3, intensities)."""
    table = v2s_stage_costs()
    outside = _outside_params()
    as_built = network_params({1, 2, 3}, outside=outside)
    all_mb = network_params(set(), outside=outside)
    all_fused = network_params(range(1, 7), outside=outside)
    early = sum(sc.fused.params - sc.mbconv.params for sc in table[:3])
    late = sum(sc.fused.params - sc.mbconv.params for sc in table[3:])
    ratios = [sc.param_ratio for sc in table] + [sc.mac_ratio for sc in table]
    base, early3, mid, full = TABLE3.values()
    intensity = intensity_rows(table)
    k = 3
    per_element = k * k / 2  # a stride-1 depthwise k x k: k² MACs per value read and written
    c, size = 128, 56  # chapter 1's layer
    v100_ridge = V100["fp32_tflops"] * 1e12 / 2 / (V100["gbytes"] * 1e9)
    v100_tensor = V100["tensor_tflops"] * 1e12 / 2 / (V100["gbytes"] * 1e9)
    return Ch05Facts(
        v2s_params=round(as_built / 1e6, 2),
        v2s_params_exact=as_built,
        v2s_allmb=round(all_mb / 1e6, 2),
        v2s_allfused=round(all_fused / 1e6, 2),
        v2s_fuse13_added=round((as_built - all_mb) / 1e6, 2),
        v2s_fuse13_pct=round(100 * (as_built - all_mb) / all_mb, 1),
        early_added=round(early / 1e6, 2),
        late_added=round(late / 1e6, 1),
        stage6_ratio=round(table[-1].param_ratio, 1),
        stage_ratio_min=round(min(ratios), 1),
        stage_ratio_max=round(max(ratios), 1),
        t3_params_pct=round(100 * (early3.params_m / base.params_m - 1), 1),
        t3_flops_pct=round(100 * (early3.flops_b / base.flops_b - 1)),
        t3_tpu_pct=round(100 * (early3.tpu / base.tpu - 1)),
        t3_v100_pct=round(100 * (early3.v100 / base.v100 - 1)),
        t3_acc_gain=round(early3.top1 - base.top1, 1),
        t3_full_params_x=round(full.params_m / base.params_m, 1),
        t3_full_acc_drop=round(base.top1 - full.top1, 1),
        t3_mid_tpu_pct=round(100 * (mid.tpu / early3.tpu - 1)),
        t3_mid_v100_pct=round(100 * (mid.v100 / early3.v100 - 1)),
        t3_mid_params_x=round(mid.params_m / early3.params_m, 1),
        int_dw_max=round(max(r["depthwise"] for r in intensity), 2),
        int_fused_min=round(min(r["fused"] for r in intensity)),
        ch1_dw_per_element=per_element,
        ch1_dw_per_byte=per_element / 4,
        ch1_dw_per_byte_weights=round(costs.arithmetic_intensity(c, c, k, size, groups=c), 3),
        v100_fp32_ridge=round(v100_ridge, 1),
        v100_tensor_ridge=round(v100_tensor),
    )


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LatencyRow:
    """A stride-1 MBConv (no SE) and Fused-MBConv of width ``width`` timed at ``resolution``:
    each block's median time over the rounds (ms per call), the ``spread`` of their rounds
    (:func:`mbcourse.measure.round_spread`) and the multiply-add ratio fused / MBConv."""

    label: str
    stage: int
    width: int
    expand_ratio: float
    resolution: int
    mbconv_ms: float
    fused_ms: float
    spread: float
    mac_ratio: float

    @property
    def ratio(self) -> float:
        """Time of the fused block / time of MBConv (below 1: the fused block is faster)."""
        return self.fused_ms / self.mbconv_ms

    @property
    def result(self) -> SpeedResult:
        return SpeedResult(self.label, self.ratio, self.spread)


@dataclass(frozen=True)
class LatencyStudy:
    """Both blocks timed per EfficientNetV2-S stage (``stages``) and for stage 2's block at
    three resolutions (``resolutions``), in ``setting``."""

    setting: Setting
    image_size: int
    stages: tuple[LatencyRow, ...]
    resolutions: tuple[LatencyRow, ...]


def _time_row(label: str, stage: int, c: int, e: float, k: int, res: int, *, batch: int,
              device: torch.device, threads: int | None, rounds: int,
              min_run_time: float) -> LatencyRow:
    lat = compare_latency(block_pair(c, e, k), (batch, c, res, res), device=device, rounds=rounds,
                          min_run_time=min_run_time, num_threads=threads)
    macs = (costs.fused_mbconv(c, c, res, 1, e, k).macs
            / costs.mbconv(c, c, res, 1, e, k, se_ratio=0.0).macs)
    return LatencyRow(label, stage, c, e, res, lat["MBConv"].median_ms,
                      lat["Fused-MBConv"].median_ms,
                      round_spread(lat["MBConv"], lat["Fused-MBConv"]), macs)


def latency_sweep(
    device: torch.device | str,
    *,
    image_size: int,
    batch: int,
    threads: int | None,
    rounds: int = 3,
    min_run_time: float = 0.01,
) -> LatencyStudy:
    """Time one repeated (stride-1) block of each EfficientNetV2-S stage at the stage's output
    resolution for an ``image_size`` input, both ways, and stage 2's block at
    ``image_size // 8``, ``// 4`` and ``// 2`` (:func:`mbcourse.measure.compare_latency`,
    interleaved rounds, ``batch`` images, ``threads`` CPU threads; ``None`` on a GPU)."""
    device = torch.device(device)
    opts = {"batch": batch, "device": device, "threads": threads, "rounds": rounds,
            "min_run_time": min_run_time}
    rows = _v2s_rows()
    res = costs.conv_out_size(image_size, 3, 2)
    stages = []
    for r in rows:
        res = costs.conv_out_size(res, r.kernel, r.stride)
        stages.append(_time_row(f"stage {r.stage}", r.stage, r.out_channels, r.expand_ratio,
                                r.kernel, res, **opts))
    st2 = rows[1]
    by_res = [_time_row(f"{s}×{s}", st2.stage, st2.out_channels, st2.expand_ratio, st2.kernel,
                        s, **opts) for s in (image_size // 8, image_size // 4, image_size // 2)]
    setting = Setting.for_device(device, batch=batch,
                                 threads=threads if device.type == "cpu" else None)
    return LatencyStudy(setting, image_size, tuple(stages), tuple(by_res))


@dataclass(frozen=True)
class Ch05Latency:
    """The timed numbers and sentences of chapter 5's prose, glued as ``ch5_<field>``."""

    setting: str  # "… CPU, PyTorch 2.14.1 eager, batch 2, 1 thread"
    stage_verdict: str
    resolution_verdict: str
    noise: int  # largest round spread, %
    mac_ratio_min: float
    n_faster: int
    n_slower: int
    n_noise: int
    peak_gmacs: float
    peak_gbytes: float
    ridge: float
    ridge_verdict: str


def _stage_names(rows: Sequence[LatencyRow]) -> str:
    stages = [str(r.stage) for r in rows]
    return ("stage " if len(stages) == 1 else "stages ") + join(stages)


def ridge_sentence(ridge: float, dw_max: float, fused_min: float) -> str:
    """Where the measured ``ridge`` point (multiply-adds per byte) lies against the depthwise
    convolutions' highest intensity and the fused convolutions' lowest."""
    if ridge <= dw_max:
        return ("below even the intensity of the depthwise convolutions: on this device memory "
                "traffic need not limit either convolution, and the extra multiply-adds of the "
                "fused block cost their full price")
    if ridge < fused_min:
        return ("between the intensities of the depthwise convolutions and those of the fused "
                "ones: the depthwise convolutions cannot keep the arithmetic of this device busy, "
                "the fused convolutions could")
    return ("above the intensity of the fused convolutions too: on this device memory traffic can "
            "limit both convolutions")


def latency_facts(study: LatencyStudy, peaks: Mapping[str, Any],
                  table: Sequence[StageCosts] | None = None) -> Ch05Latency:
    """The verdicts of ``study`` (:func:`mbcourse.studies.verdicts.speed_summary`) and the
    device's ``peaks`` (:func:`mbcourse.studies.performance.machine_peaks`) as prose."""
    opts = {"candidate": "Fused-MBConv", "reference": "MBConv"}
    stage_verdict = speed_summary([r.result for r in study.stages], study.setting,
                                  noun="stage", **opts)
    res_verdict = speed_summary([r.result for r in study.resolutions], study.setting,
                                noun="resolution", **opts)
    outcomes = [r.result.outcome for r in study.stages]
    rows = study.stages + study.resolutions
    intensity = intensity_rows(table)
    dw_max = max(r["depthwise"] for r in intensity)
    fused_min = min(r["fused"] for r in intensity)
    return Ch05Latency(
        setting=study.setting.phrase(),
        stage_verdict=stage_verdict,
        resolution_verdict=f"For the block of stage 2, o{res_verdict[1:]}",
        noise=round(100 * max(r.spread for r in rows)),
        mac_ratio_min=round(min(r.mac_ratio for r in study.stages), 1),
        n_faster=outcomes.count(FASTER),
        n_slower=outcomes.count(SLOWER),
        n_noise=outcomes.count(NOISE),
        peak_gmacs=round(float(peaks["gmacs"]), 1),
        peak_gbytes=round(float(peaks["gbytes"]), 1),
        ridge=round(float(peaks["ridge"]), 2),
        ridge_verdict=ridge_sentence(float(peaks["ridge"]), dw_max, fused_min),
    )


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------
def plot_stage_costs(table: Sequence[StageCosts] | None = None) -> Figure:
    """Parameters (top) and multiply-adds (bottom) per EfficientNetV2-S stage, MBConv against
    Fused-MBConv, on log scales, within the column width."""
    import matplotlib.pyplot as plt

    from ..viz import bar_compare

    table = v2s_stage_costs() if table is None else table
    labels = [str(sc.row.stage) for sc in table]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(FIGURE_WIDTH_IN, 8.4))
    bar_compare(labels, {"MBConv": [sc.mbconv.params / 1e6 for sc in table],
                         "Fused-MBConv": [sc.fused.params / 1e6 for sc in table]},
                ylabel="parameters (millions)", xlabel="EfficientNetV2-S stage",
                title="Parameters per stage", log=True, value_format="{:.2g}", ax=top)
    bar_compare(labels, {"MBConv": [sc.mbconv.macs / 1e9 for sc in table],
                         "Fused-MBConv": [sc.fused.macs / 1e9 for sc in table]},
                ylabel="multiply-adds (billions)", xlabel="EfficientNetV2-S stage",
                title=f"Multiply-adds per stage at {V2S_EVAL_SIZE}×{V2S_EVAL_SIZE}", log=True,
                value_format="{:.2g}", ax=bottom)
    fig.tight_layout()
    return fig


def plot_latency(study: LatencyStudy) -> Figure:
    """Time ratio fused / MBConv per stage (top, bars; black marks: the multiply-add ratios)
    and for stage 2's block at three resolutions (bottom); ratios within the noise of their
    rounds are hatched (:func:`mbcourse.viz.mark_within_noise`). Legends sit above the axes."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from ..viz import mark_within_noise

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(FIGURE_WIDTH_IN, 9.0))
    rows = study.stages
    x = range(len(rows))
    ratios = [r.ratio for r in rows]
    bars = top.bar(x, ratios, color=["#9ecae1" if q < 1 else "#fcbba1" for q in ratios],
                   label="time ratio")
    top.plot(x, [r.mac_ratio for r in rows], "k_", markersize=24, mew=2,
             label="multiply-add ratio")
    top.axhline(1.0, color="k", linewidth=1)
    top.set_xticks(list(x), [f"{r.stage}\n{r.width} ch\n{r.resolution}²" for r in rows])
    top.set_xlabel("stage: repeated block, width, resolution")
    top.set_ylabel("fused / MBConv")
    top.legend()
    mark_within_noise(top, bars, [r.result.outcome == NOISE for r in rows], label="within noise")
    top.set_ylim(0, 1.12 * max(*ratios, *(r.mac_ratio for r in rows)))
    # the bars' own legend entry would look like the first bar: one entry per colour instead
    drawn = dict(zip((t.get_text() for t in top.get_legend().get_texts()),
                     top.get_legend().legend_handles, strict=True))
    entries = {"multiply-add ratio": drawn["multiply-add ratio"],
               "fused faster": Patch(facecolor="#9ecae1"),
               "fused slower": Patch(facecolor="#fcbba1")}
    if "within noise" in drawn:
        entries["within noise"] = drawn["within noise"]
    top.legend(list(entries.values()), list(entries))
    _legend_above(top)

    res = [r.resolution for r in study.resolutions]
    bottom.plot(res, [r.ratio for r in study.resolutions], marker="o", label="time ratio")
    bottom.plot(res, [r.mac_ratio for r in study.resolutions], marker="_", markersize=16,
                linestyle="--", color="k", label="multiply-add ratio")
    for r in study.resolutions:
        if r.result.outcome == NOISE:
            bottom.annotate("within noise", (r.resolution, r.ratio), textcoords="offset points",
                            xytext=(0, 8), ha="center")
    bottom.axhline(1.0, color="k", linewidth=1)
    bottom.set_ylim(0, 1.12 * max(max(r.ratio, r.mac_ratio) for r in study.resolutions))
    bottom.set_xscale("log", base=2)
    bottom.margins(x=0.1)
    bottom.set_xticks(res, [f"{s}×{s}" for s in res])
    bottom.minorticks_off()
    bottom.set_xlabel(f"resolution (stage 2's block: {rows[1].width} channels, "
                      f"e = {rows[1].expand_ratio:g})")
    bottom.set_ylabel("fused / MBConv")
    bottom.legend()
    _legend_above(bottom)
    fig.suptitle("\n".join(textwrap.wrap(study.setting.phrase(), 60)))
    fig.tight_layout()
    return fig


def _legend_above(ax: Any) -> None:
    """Move the axes' legend above the axes, clear of every bar and line."""
    legend = ax.get_legend()
    handles, labels = legend.legend_handles, [t.get_text() for t in legend.get_texts()]
    ax.legend(handles, labels, loc="lower left", bbox_to_anchor=(0.0, 1.02),
              ncols=len(labels) if len(labels) <= 3 else 2,
              borderaxespad=0.0, frameon=False)
