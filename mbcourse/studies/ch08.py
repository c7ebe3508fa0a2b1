"""Chapter 8 (Performance): the numbers its prose prints, its tables, verdicts and figures.
Taught in chapter 8 (book/08_performance.ipynb).

* :func:`facts` -> :class:`Ch8Facts`: the counted numbers (EfficientNetV2's Table 3, the
  multiply-add ratios, the arithmetic intensities, NVIDIA's V100 data sheet).
* :func:`ridge_facts` -> :class:`RidgeFacts`: the measured ridge point against the V100's, and
  where it lies between the two convolutions' intensities (a sentence for every case).
* :func:`fusion_facts` -> :class:`FusionFacts`: the verdict of the fusion sweep and which regime
  its wins are in (per-operation overhead, measured as the share of the arithmetic peak).
* :func:`speedup_facts` -> :class:`SpeedupFacts`: the verdicts of the inference optimisations.
* Tables (Markdown): :func:`table3`, :func:`optimizations_table`; the GPU section:
  :func:`show_gpu_results`.
* Figures within the book's 6.8-inch column with 12-pt text: :func:`plot_fusion_grids`,
  :func:`plot_optimizations` (one panel per row, legends under the axes, log ticks as numbers).

Glued by the chapter with :func:`mbcourse.display.glue_facts` (``ch8_<field>``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import matplotlib.pyplot as plt
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from .. import costs
from ..display import FIGURE_WIDTH_IN
from .performance import (
    achieved_fraction,
    fusion_results,
    plot_ratio_grid,
    plot_speedups,
    speedup_results,
)
from .verdicts import FASTER, NOISE, Setting, SpeedResult, count, speed_outcome, speed_summary

__all__ = [
    "INTENSITY_EXAMPLE",
    "TABLE3",
    "V100",
    "Ch8Facts",
    "FusionFacts",
    "RidgeFacts",
    "SpeedupFacts",
    "facts",
    "fusion_facts",
    "intensities",
    "mac_ratios",
    "optimizations_table",
    "plot_fusion_grids",
    "plot_optimizations",
    "ridge_facts",
    "ridge_verdict",
    "setting_title",
    "show_gpu_results",
    "speedup_facts",
    "table3",
]

#: EfficientNetV2 (Tan & Le, 2021), Table 3: EfficientNet-B4 with Fused-MBConv in some stages:
#: (params in M, FLOPs in B, ImageNet top-1 in %, TPUv3 images/s/core, V100 images/s).
TABLE3: dict[str, tuple[float, float, float, int, int]] = {
    "no fused stage": (19.3, 4.5, 82.8, 262, 155),
    "fused stages 1-3": (20.0, 7.5, 83.1, 362, 216),
    "fused stages 1-5": (43.4, 21.3, 83.1, 327, 223),
    "fused stages 1-7": (132.0, 34.4, 81.7, 254, 206),
}

#: NVIDIA's V100 data sheet (SXM2): float32 and tensor-core TFLOPS, memory bandwidth in GB/s.
V100: dict[str, float] = {"fp32_tflops": 15.7, "tensor_tflops": 125, "gbytes": 900}

#: The chapter's example of arithmetic intensity: width C, expansion e, a size x size map.
INTENSITY_EXAMPLE = (32, 4, 56)

#: The widths of the chapter's multiply-add table.
MAC_WIDTHS = (16, 32, 64, 128, 256)

#: Optimisation variants (keys of :func:`~mbcourse.studies.performance.optimization_ratios`)
#: as the verdicts name them.
VARIANT_NAMES: dict[str, str] = {
    "channels_last": "channels-last", "bn_folded": "BatchNorm folding",
    "bn_folded+channels_last": "folding plus channels-last", "amp": "mixed precision",
    "amp+channels_last": "mixed precision with channels-last", "compiled": "torch.compile",
}
MODEL_NAMES = {"mobilenet_v2": "MobileNetV2", "efficientnet_b0": "EfficientNet-B0"}


def _with_markdown(record: Any, names: Sequence[str]) -> dict[str, Any]:
    out = asdict(record)
    for name in names:
        out[name] = Markdown(out[name])
    return out


# ---- counted -------------------------------------------------------------------------------------


def mac_ratios(widths: Sequence[int] = MAC_WIDTHS, expand_ratio: int = 4) -> dict[int, float]:
    """Fused-MBConv / MBConv multiply-adds of a stride-1 block of width C (no SE), per width."""
    return {c: costs.fused_mbconv(c, c, 1, expand_ratio=expand_ratio).macs
            / costs.mbconv(c, c, 1, expand_ratio=expand_ratio, se_ratio=0.0).macs
            for c in widths}


def intensities(c: int = INTENSITY_EXAMPLE[0], e: int = INTENSITY_EXAMPLE[1],
                size: int = INTENSITY_EXAMPLE[2]) -> dict[str, float]:
    """Multiply-adds per byte (float32) of MBConv's and Fused-MBConv's convolutions
    (:func:`mbcourse.costs.arithmetic_intensity`)."""
    return {
        "1×1 expansion  C → eC": costs.arithmetic_intensity(c, e * c, 1, size),
        "3×3 depthwise  eC → eC": costs.arithmetic_intensity(e * c, e * c, 3, size, groups=e * c),
        "3×3 fused      C → eC": costs.arithmetic_intensity(c, e * c, 3, size),
        "1×1 projection eC → C": costs.arithmetic_intensity(e * c, c, 1, size),
    }


def _ridges() -> tuple[float, float]:
    """The V100's ridge points (multiply-adds per byte) in float32 and on its tensor cores."""
    per_byte = V100["gbytes"] * 1e9
    return V100["fp32_tflops"] * 1e12 / 2 / per_byte, V100["tensor_tflops"] * 1e12 / 2 / per_byte


@dataclass(frozen=True)
class Ch8Facts:
    """The counted numbers of chapter 8's text."""

    t3_flops_none: float
    t3_flops_early: float
    t3_v100_none: int
    t3_v100_early: int
    t3_v100_all: int
    mac_ratio_16: float
    mac_ratio_256: float
    int_dw: float
    int_fused: float
    v100_fp32_tflops: float
    v100_tensor_tflops: float
    v100_gbytes: float
    v100_ridge: float
    v100_tensor_ridge: int


def facts() -> Ch8Facts:
    """Chapter 8's counted numbers (nothing measured)."""
    none, early, every = (TABLE3[k] for k in ("no fused stage", "fused stages 1-3",
                                              "fused stages 1-7"))
    ratios, ints = mac_ratios(), intensities()
    fp32, tensor = _ridges()
    return Ch8Facts(
        t3_flops_none=none[1], t3_flops_early=early[1], t3_v100_none=none[4],
        t3_v100_early=early[4], t3_v100_all=every[4],
        mac_ratio_16=round(ratios[16], 1), mac_ratio_256=round(ratios[256], 1),
        int_dw=round(ints["3×3 depthwise  eC → eC"], 2),
        int_fused=round(ints["3×3 fused      C → eC"], 1),
        v100_fp32_tflops=V100["fp32_tflops"], v100_tensor_tflops=V100["tensor_tflops"],
        v100_gbytes=V100["gbytes"], v100_ridge=round(fp32, 1), v100_tensor_ridge=round(tensor),
    )


def table3() -> Markdown:
    """EfficientNetV2's Table 3 as a Markdown table."""
    lines = ["| EfficientNet-B4 | params (M) | FLOPs (B) | top-1 (%) | TPU img/s/core | "
             "V100 img/s |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {name} | " + " | ".join(f"{v:g}" for v in row) + " |"
              for name, row in TABLE3.items()]
    return Markdown("\n".join(lines))


# ---- measured: the ridge point -------------------------------------------------------------------


@dataclass(frozen=True)
class RidgeFacts:
    """The measured ceilings (``peak_gmacs``, ``peak_gbytes``, ``ridge``), the V100's ridge
    points as multiples of it, and ``ridge_verdict`` (Markdown text)."""

    peak_gmacs: float
    peak_gbytes: float
    ridge: float
    v100_vs_here: float
    tensor_vs_here: int
    ridge_verdict: str

    def for_glue(self) -> dict[str, Any]:
        return _with_markdown(self, ["ridge_verdict"])


def ridge_verdict(ridge: float, depthwise: float, fused: float, where: str) -> str:
    """Where the ``ridge`` point lies against the two intensities, for every case."""
    if depthwise < ridge < fused:
        return (f"Measured here ({where}), the ridge point lies between the two: the depthwise "
                "convolution is limited by memory traffic, the fused one can be limited by "
                "arithmetic.")
    if ridge <= depthwise:
        return (f"Measured here ({where}), the ridge point lies below even the depthwise "
                "convolution's intensity: on this device both convolutions could in principle "
                "run at the arithmetic peak, and memory traffic limits neither.")
    return (f"Measured here ({where}), the ridge point lies above both intensities: both "
            "convolutions are limited by memory traffic on this device.")


def ridge_facts(peaks: Mapping[str, Any], setting: Setting) -> RidgeFacts:
    """:class:`RidgeFacts` of :func:`~mbcourse.studies.performance.machine_peaks`' result,
    measured in ``setting`` (its batch is not named)."""
    ints = intensities()
    fp32, tensor = _ridges()
    where = setting.phrase().replace(f", batch {setting.batch}", "")
    return RidgeFacts(
        peak_gmacs=round(peaks["gmacs"], 1), peak_gbytes=round(peaks["gbytes"], 1),
        ridge=round(peaks["ridge"], 2), v100_vs_here=round(fp32 / peaks["ridge"], 1),
        tensor_vs_here=round(tensor / peaks["ridge"]),
        ridge_verdict=ridge_verdict(peaks["ridge"], ints["3×3 depthwise  eC → eC"],
                                    ints["3×3 fused      C → eC"], where),
    )


# ---- measured: the fusion sweep ------------------------------------------------------------------


@dataclass(frozen=True)
class FusionFacts:
    """The sweep's verdict and regime (Markdown text), its counts, and ``fusion_data``: the
    setting and rows the verdict came from, as JSON (read back by tests/test_performance.py)."""

    fusion_verdict: str
    n_cells: int
    n_noise: int
    n_faster: int
    regime: str
    fusion_data: str

    def for_glue(self) -> dict[str, Any]:
        return _with_markdown(self, ["fusion_verdict", "regime"])


def regime_sentence(rows: Sequence[Mapping[str, Any]], results: Sequence[SpeedResult],
                    peaks: Mapping[str, Any]) -> str:
    """Which regime the sweep's narrow blocks on small maps are in (the share of the
    arithmetic peak they reach) and how many of the fused block's wins lie there."""
    small = [r for r in rows if r["width"] <= 32 and r["resolution"] <= 14]
    faster = [r for r, res in zip(rows, results, strict=True) if res.outcome == FASTER]
    if small:
        large = max(rows, key=lambda r: r["mbconv_macs"])
        micro = [r["mbconv_ms"] * 1e3 for r in small]
        text = (f"In the narrow blocks on small maps (C ≤ 32, up to 14×14) one MBConv call took "
                f"{min(micro):.0f} to {max(micro):.0f} µs and reached at most "
                f"{100 * max(achieved_fraction(r, peaks) for r in small):.1f} % of the measured "
                f"arithmetic peak (at C = {large['width']} on {large['resolution']}×"
                f"{large['resolution']}, {100 * achieved_fraction(large, peaks):.1f} %). There its "
                "time goes into the fixed cost of each operation (PyTorch dispatching one more "
                "convolution, BatchNorm and activation, each allocating its output), not into "
                "arithmetic or memory traffic: the *per-operation overhead* regime, where a block "
                "with fewer operations wins whatever its multiply-adds.")
    else:
        text = "This sweep has no narrow block on a small map."
    in_small = [r for r in faster if r in small]
    if faster and len(in_small) == len(faster):
        return text + f" Every setting where fusing paid here ({len(faster)}) lies in that regime."
    if faster:
        return text + (f" Of the {len(faster)} settings where fusing paid here, {len(in_small)} "
                       "lie in that regime.")
    return text + " Fusing paid in none of the settings of this build, beyond the timing noise."


def fusion_facts(rows: Sequence[Mapping[str, Any]], peaks: Mapping[str, Any],
                 setting: Setting) -> FusionFacts:
    """:class:`FusionFacts` of :func:`~mbcourse.studies.performance.fusion_sweep` rows timed
    in ``setting``."""
    results = fusion_results(rows)
    return FusionFacts(
        fusion_verdict=speed_summary(results, setting, candidate="Fused-MBConv",
                                     reference="MBConv"),
        n_cells=len(rows), n_noise=sum(r.outcome == NOISE for r in results),
        n_faster=sum(r.outcome == FASTER for r in results),
        regime=regime_sentence(rows, results, peaks),
        fusion_data=json.dumps({"setting": setting.as_dict(), "rows": list(rows)}),
    )


# ---- measured: the inference optimisations -------------------------------------------------------


def optimizations_table(optimizations: Sequence[Mapping[str, Any]]) -> Markdown:
    """Median latency, round spread and time ratio to eager per model and variant; a ratio
    within its noise reads "within noise"."""
    lines = ["| model | variant | median latency (ms) | spread of rounds | time ÷ eager's |",
             "|---|---|---:|---:|---|"]
    for o in optimizations:
        ratio = 1 / o["speedup"]
        if o["variant"] == "eager":
            verdict = "(reference)"
        elif speed_outcome(ratio, o["spread"]) == NOISE:
            verdict = "within noise"
        else:
            verdict = f"{ratio:.2f}×"
        lines.append(f"| {o['model']} | {o['variant']} | {o['median_ms']:.2f} | "
                     f"{100 * o['spread']:.0f} % | {verdict} |")
    return Markdown("\n".join(lines))


@dataclass(frozen=True)
class SpeedupFacts:
    """One verdict per optimisation (a Markdown list), how many speed-ups were measured and
    how many were within noise, and ``speedup_data`` (the setting and rows, JSON)."""

    speedup_verdicts: str
    n_speedups: int
    n_speedup_noise: int
    speedup_data: str

    def for_glue(self) -> dict[str, Any]:
        return _with_markdown(self, ["speedup_verdicts"])


def speedup_facts(optimizations: Sequence[Mapping[str, Any]], setting: Setting) -> SpeedupFacts:
    """:class:`SpeedupFacts` of rows ``{"model", "variant", **optimization_ratios(...)}``."""
    present = [v for v in VARIANT_NAMES if any(o["variant"] == v for o in optimizations)]
    sentences = []
    for variant in present:
        results = [SpeedResult(MODEL_NAMES.get(r.label, r.label), r.ratio, r.spread)
                   for r in speedup_results(optimizations, variant)]
        sentences.append(speed_summary(results, setting, candidate=VARIANT_NAMES[variant],
                                       reference="eager float32", noun="network"))
    measured = [o for o in optimizations if o["variant"] != "eager"]
    return SpeedupFacts(
        speedup_verdicts="\n".join(f"* {t}" for t in sentences), n_speedups=len(measured),
        n_speedup_noise=sum(speed_outcome(1 / o["speedup"], o["spread"]) == NOISE
                            for o in measured),
        speedup_data=json.dumps({"setting": setting.as_dict(), "rows": list(optimizations)}),
    )


# ---- figures -------------------------------------------------------------------------------------


def setting_title(setting: Setting) -> str:
    """A figure's subtitle naming where it was timed, once: ``"AMD EPYC CPU, 1 thread, batch 1"``
    (on a GPU: its name and the batch)."""
    parts = [setting.device]
    if setting.threads is not None:
        parts.append(count(setting.threads, "thread"))
    parts.append(f"batch {setting.batch}")
    return ", ".join(parts)


def plot_fusion_grids(rows: Sequence[Mapping[str, Any]], setting: Setting) -> Figure:
    """The measured latency ratio (top) above the multiply-add ratio (bottom) of a fusion
    sweep, on one colour scale."""
    fig, (measured, counted) = plt.subplots(2, 1, figsize=(FIGURE_WIDTH_IN, 8.4))
    bound = max(max(r["mac_ratio"], r["ratio"], 1 / r["ratio"]) for r in rows)
    plot_ratio_grid(rows, "ratio", ax=measured, bound=bound,
                    title=f"Measured latency ratio\n{setting_title(setting)}",
                    label="Fused / MBConv latency")
    plot_ratio_grid(rows, "mac_ratio", ax=counted, bound=bound,
                    title="Multiply-add ratio (mbcourse.costs)",
                    label="Fused / MBConv multiply-adds")
    fig.tight_layout()
    return fig


def plot_optimizations(optimizations: Sequence[Mapping[str, Any]], where: Setting | str,
                       resolution: int = 224) -> Figure:
    """Speed-up of each optimisation per network (:func:`plot_speedups`), titled with where
    it was timed (a :class:`Setting`, or a device's name when the batch is not recorded)."""
    where = setting_title(where) if isinstance(where, Setting) else where
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH_IN, 4.8))
    plot_speedups(optimizations, ax=ax, title=f"Speed-ups at {resolution}×{resolution}\n{where}")
    fig.tight_layout()
    return fig


def show_gpu_results(gpu: Mapping[str, Any] | None, on_gpu: bool = False) -> None:
    """Display the stored GPU measurements (``benchmarks/gpu_sweep.py``): where they were made,
    the fusion sweep, the speed-ups and their verdicts, the training-step verdicts per stage;
    or, when ``gpu`` is None, that none are stored (``on_gpu``: this page itself ran on one)."""
    if gpu is None:
        display(Markdown(
            "**No GPU measurements are stored with this book yet**: `book/data/gpu_results.json` "
            "does not exist. Run `python benchmarks/gpu_sweep.py` on a machine with a CUDA GPU "
            "to create it; this section then shows its numbers. Until then, the GPU evidence is "
            "the paper's Table 3 quoted at the top of the chapter"
            + (", and the live measurements above, made on this GPU." if on_gpu else ".")))
        return
    display(Markdown(f"Measured on **{gpu['device']}** (CUDA {gpu.get('cuda')}, "
                     f"cuDNN {gpu.get('cudnn')}), torch {gpu['torch']}, {gpu['date']}, "
                     f"with `{gpu.get('command', 'benchmarks/gpu_sweep.py')}`."))
    sweep = gpu["fusion_sweep"]
    name = gpu.get("gpu_name", gpu["device"])
    setting = Setting(name, f"PyTorch {gpu['torch']} eager", batch=sweep["batch_size"],
                      precision=f"{sweep['dtype']} autocast", layout="channels-last")
    for fig in (plot_fusion_grids(sweep["rows"], setting),
                plot_optimizations(gpu["optimizations"], name)):
        display(fig)
        plt.close(fig)
    if all("spread" in r for r in sweep["rows"]):
        display(Markdown(speed_summary(fusion_results(sweep["rows"]), setting,
                                       candidate="Fused-MBConv", reference="MBConv")))
    else:  # stored before the spreads were recorded: no noise to judge the ratios by
        display(Markdown("This file records no timing spreads, so its ratios cannot be told "
                         "from noise and no verdict is drawn from them."))
    steps = gpu.get("train_steps")
    if not steps:
        return
    for precision, layout in sorted({(r["precision"], r["layout"]) for r in steps["rows"]}):
        part = [r for r in steps["rows"] if (r["precision"], r["layout"]) == (precision, layout)]
        step_setting = Setting(name, f"PyTorch {gpu['torch']}, training step",
                               batch=steps["batch_size"], precision=precision,
                               layout=layout.replace("_", "-"))
        results = [SpeedResult(f"stage {r['stage']} ({r['channels']} channels at "
                               f"{r['resolution']}×{r['resolution']})", r["ratio"], r["spread"])
                   for r in part]
        display(Markdown(speed_summary(results, step_setting, candidate="Fused-MBConv",
                                       reference="MBConv", noun="stage")))
