"""Chapter 9 (book/09_deployment.ipynb): the blocks exported, run in ONNX Runtime, quantized.

The chapter's cells fold, export, open sessions, time and quantize; this module holds what they
would otherwise do by hand:

* **tables** of what was measured (:func:`export_table`, :func:`latency_table`,
  :func:`operator_table`, :func:`profile_table`, :func:`fused_stage_table`, :func:`accuracy_table`),
  returned as Markdown;
* the chapter's **plots** (:func:`plot_latency`, :func:`plot_fused_stages`), drawn to the book's
  figure policy (:mod:`mbcourse.display`: at most 6.8 in wide, 12-pt text, the legend outside
  the bars);
* the **studies**: :func:`stage_pairs` (one MBConv and one Fused-MBConv per EfficientNetV2-S
  stage), :func:`stage_result` (their times under both engines as
  :class:`~mbcourse.studies.verdicts.SpeedResult`), :func:`int8_accuracy` (a small network
  trained over seeds, scored in fp32 and int8 in ONNX Runtime), :func:`grouped` (a profile by
  operator group);
* the **verdicts**, every one worded for each outcome (faster, slower, within the timing noise;
  the engines agreeing or not) by :mod:`mbcourse.studies.verdicts`, naming device, engine, batch
  and threads;
* :func:`facts`, every number and sentence of the prose as records (:class:`ExportFacts`,
  :class:`EngineFacts`, :class:`GraphFacts`, :class:`StageFacts`, :class:`AccuracyFacts`),
  glued in one hidden cell with ``glue_facts("ch9", record)``; ``tests/test_studies_ch09.py``
  checks them.
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from IPython.display import Markdown
from torch import Tensor, nn

from .. import costs
from ..blocks import FusedMBConv, MBConv
from ..display import use_book_figures
from ..measure import Latency, round_spread
from ..models import NetworkConfig
from ..training.data import ImageDataset
from .experiments import Run, run_seeds
from .stats import PairedTest, paired_family
from .stored import cpu_model
from .verdicts import (
    FASTER,
    NOISE,
    SLOWER,
    Setting,
    SpeedResult,
    accuracy_sentence,
    join,
    speed_summary,
)

__all__ = [
    "GROUPS",
    "VARIANTS",
    "AccuracyFacts",
    "EngineFacts",
    "ExportFacts",
    "ExportRow",
    "GraphFacts",
    "StageFacts",
    "StagePair",
    "StageResult",
    "accuracy_facts",
    "accuracy_table",
    "cpu_setting",
    "engine_facts",
    "engine_question",
    "export_facts",
    "export_table",
    "facts",
    "fused_stage_table",
    "graph_facts",
    "grouped",
    "int8_accuracy",
    "latency_table",
    "list_stages",
    "operator_table",
    "plot_fused_stages",
    "plot_latency",
    "profile_table",
    "stage_facts",
    "stage_pairs",
    "stage_result",
]

#: The four ways each network is timed, in the order of the tables and the figure.
VARIANTS = ("eager", "optimize_for_inference", "ORT fp32", "ORT int8")

#: ONNX Runtime's operators by what they do, to read a profile (:func:`grouped`).
GROUPS: dict[str, tuple[str, ...]] = {
    "convolutions": ("Conv", "FusedConv", "QLinearConv"),
    "SiLU and SE gate": ("QuickGelu", "Sigmoid", "Mul", "QLinearSigmoid", "QLinearMul"),
    "pooling": ("ReduceMean", "GlobalAveragePool", "QLinearGlobalAveragePool"),
    "quantize / dequantize": ("QuantizeLinear", "DequantizeLinear"),
}
OTHER = "other (layout, residual add, classifier)"


def _md(text: str) -> Markdown:
    return Markdown(text)


def _table(header: Sequence[str], align: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Where it was timed
# --------------------------------------------------------------------------------------------
def cpu_setting(engine: str, *, threads: int, batch: int = 1) -> Setting:
    """The setting of a CPU timing: the CPU's model, ``engine`` (e.g. "ONNX Runtime 1.23 CPU
    against PyTorch 2.14 eager"), ``batch`` and ``threads``."""
    return Setting(f"{cpu_model()} CPU", engine, batch, threads)


def _speed(label: str, latencies: Mapping[str, Latency], candidate: str,
           reference: str) -> SpeedResult:
    """``candidate``'s median time over ``reference``'s, with the spread of both's rounds."""
    a, b = latencies[candidate], latencies[reference]
    return SpeedResult(label, a.ratio_to(b), round_spread(a, b))


# --------------------------------------------------------------------------------------------
# Fold, export, run, check
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExportRow:
    """One exported network: BatchNorms before and after folding, ONNX nodes, file size (MB),
    the largest output difference eager vs ONNX Runtime, and the largest logit (its scale)."""

    name: str
    batchnorms: int
    folded_batchnorms: int
    nodes: int
    megabytes: float
    difference: float
    largest_logit: float


def export_table(rows: Sequence[ExportRow]) -> Markdown:
    """The export check as a table, one row per network."""
    body = [(r.name, r.batchnorms, r.folded_batchnorms, r.nodes, f"{r.megabytes:.1f}",
             f"{r.difference:.1e}", f"{r.largest_logit:.2f}") for r in rows]
    return _md(_table(["network", "BatchNorms", "after folding", "ONNX nodes", "file (MB)",
                       "max abs difference", "largest logit"],
                      ["---"] + ["---:"] * 6, body))


@dataclass(frozen=True)
class ExportFacts:
    """Glued as ``ch9_<field>``: BatchNorms of MobileNetV2 and B0, the largest difference of any
    export (``"3.1e-06"``), MobileNetV2's file in MB."""

    bn_mnv2: int
    bn_b0: int
    diff_max: str
    file_mnv2: float


def export_facts(rows: Sequence[ExportRow]) -> ExportFacts:
    by_name = {r.name: r for r in rows}
    return ExportFacts(by_name["MobileNetV2"].batchnorms, by_name["EfficientNet-B0"].batchnorms,
                       f"{max(r.difference for r in rows):.1e}",
                       round(by_name["MobileNetV2"].megabytes, 1))


# --------------------------------------------------------------------------------------------
# What the engines buy
# --------------------------------------------------------------------------------------------
def latency_table(latencies: Mapping[str, Mapping[str, Latency]], setting: Setting) -> Markdown:
    """Median latency of each network four ways (ratio to eager in brackets), with the int8 /
    fp32 ratio and the rounds' spread."""
    body = []
    for name, lat in latencies.items():
        cells = [f"{lat[v].median_ms:.1f} ms ({lat[v].ratio_to(lat['eager']):.2f}×)"
                 for v in VARIANTS]
        spread = round_spread(*(lat[v] for v in VARIANTS))
        body.append([name, *cells, f"{lat['ORT int8'].ratio_to(lat['ORT fp32']):.2f}",
                     f"{spread:.0%}"])
    head = (f"Median latency, {setting.phrase()}, 224×224; in brackets: relative to eager; "
            "spread: how much one variant's own rounds differed (the largest).\n\n")
    return _md(head + _table(["network", *VARIANTS, "int8 / fp32", "spread"],
                             ["---"] + ["---:"] * 6, body))


def plot_latency(latencies: Mapping[str, Mapping[str, Latency]]) -> Any:
    """Each network's latency under each variant relative to its eager time, grouped bars, the
    legend above the axes (never over a bar)."""
    import matplotlib.pyplot as plt

    use_book_figures()
    fig, ax = plt.subplots(figsize=(6.8, 4.4), layout="constrained")
    width = 0.2
    names = list(latencies)
    for i, v in enumerate(VARIANTS):
        ax.bar([j + (i - 1.5) * width for j in range(len(names))],
               [lat[v].ratio_to(lat["eager"]) for lat in latencies.values()], width, label=v)
    ax.axhline(1.0, color="k", linewidth=1)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("latency / eager latency")
    fig.legend(loc="outside upper center", ncols=2, frameon=False)
    return fig


@dataclass(frozen=True)
class EngineFacts:
    """Glued as ``ch9_<field>``: the engines' verdicts over the three networks (ORT fp32 and
    ``optimize_for_inference`` against eager, ORT int8 against ORT fp32), where they were
    timed, and the lite transform's counts."""

    where: str
    ort_summary: Markdown
    opt_summary: Markdown
    int8_summary: Markdown
    lite_silu: int
    lite_se: int


def engine_facts(latencies: Mapping[str, Mapping[str, Latency]], setting: Setting, *,
                 changes: Mapping[str, int]) -> EngineFacts:
    def summary(candidate: str, reference: str, name: str, ref_name: str) -> Markdown:
        results = [_speed(n, lat, candidate, reference) for n, lat in latencies.items()]
        return _md(speed_summary(results, setting, candidate=name, reference=ref_name,
                                 noun="network"))

    return EngineFacts(
        setting.phrase(),
        summary("ORT fp32", "eager", "ONNX Runtime (fp32)", "PyTorch eager"),
        summary("optimize_for_inference", "eager", "optimize_for_inference", "PyTorch eager"),
        summary("ORT int8", "ORT fp32", "int8", "fp32 in ONNX Runtime"),
        int(changes["silu"]), int(changes["se"]),
    )


# --------------------------------------------------------------------------------------------
# What ONNX Runtime runs: operator counts and the profile
# --------------------------------------------------------------------------------------------
def operator_table(counts: Mapping[str, Mapping[str, int]]) -> Markdown:
    """Operators by type (rows, most frequent first) in each graph (columns)."""
    ops = sorted({op for c in counts.values() for op in c},
                 key=lambda op: (-max(c.get(op, 0) for c in counts.values()), op))
    body = [[op, *(str(c.get(op, "")) for c in counts.values())] for op in ops]
    return _md(_table(["operator", *counts], ["---"] + ["---:"] * len(counts), body))


def grouped(profile: Mapping[str, float]) -> dict[str, float]:
    """A profile (ms per operator type, :func:`mbcourse.deploy.profile_operators`) summed by
    :data:`GROUPS`, the rest as ``"other (...)"``."""
    out = {g: sum(profile.get(op, 0.0) for op in ops) for g, ops in GROUPS.items()}
    out[OTHER] = sum(profile.values()) - sum(out.values())
    return out


def profile_table(profiles: Mapping[tuple[str, str], Mapping[str, float]], setting: Setting,
                  runs: int) -> Markdown:
    """Kernel time per run by operator group, one column per (network, precision)."""
    table = {key: grouped(p) for key, p in profiles.items()}
    groups = list(next(iter(table.values())))
    body = [[g, *(f"{t[g]:.2f}" for t in table.values())] for g in groups]
    body.append(["total kernel time", *(f"{sum(t.values()):.2f}" for t in table.values())])
    head = f"ONNX Runtime's profile, {setting.phrase()}, 224×224, {runs} runs.\n\n"
    return _md(head + _table(["ms per run", *(f"{n} {k}" for n, k in table)],
                             ["---"] + ["---:"] * len(table), body))


@dataclass(frozen=True)
class GraphFacts:
    """Glued as ``ch9_<field>``: B0's int8 graph as a file and as ONNX Runtime optimized it
    (operator counts), and its profile against fp32 (ms per run by group), with the balance of
    what int8 saved on the convolutions and what it added elsewhere."""

    file_sigmoid: int
    file_conv: int
    file_dq: int
    opt_dq: int
    opt_qsig: int
    opt_qmul: int
    opt_sigmoid: int
    opt_float: str
    conv_fp32_ms: str
    conv_int8_ms: str
    act_fp32_ms: str
    act_int8_ms: str
    pool_fp32_ms: str
    pool_int8_ms: str
    qdq_int8_ms: str
    extra_int8_ms: str
    int8_balance: Markdown
    lite_conv_fp32_ms: str
    lite_conv_int8_ms: str


def _balance(saved: float, extra: float) -> str:
    """What int8 saved on B0's convolutions against what it added elsewhere, every case."""
    if saved <= 0:
        return (f"int8 saved nothing on the convolutions here ({saved:+.1f} ms); the "
                f"{extra:+.1f} ms elsewhere come on top.")
    if extra <= 0:
        return (f"int8 saved {saved:.1f} ms on the convolutions and added nothing elsewhere "
                f"({extra:+.1f} ms).")
    if extra >= saved:
        return (f"These extra {extra:.1f} ms outweigh the {saved:.1f} ms that int8 saved on "
                "the convolutions.")
    return (f"These extra {extra:.1f} ms took back {100 * extra / saved:.0f} % of the "
            f"{saved:.1f} ms that int8 saved on the convolutions.")


def graph_facts(file_ops: Mapping[str, int], optimized_ops: Mapping[str, int],
                profiles: Mapping[tuple[str, str], Mapping[str, float]]) -> GraphFacts:
    """From B0's int8 file and optimized graph (:func:`mbcourse.deploy.operator_counts`) and
    the profiles keyed ``("EfficientNet-B0" | "B0 lite", "fp32" | "int8")``."""
    fp, q = grouped(profiles[("EfficientNet-B0", "fp32")]), grouped(profiles[("EfficientNet-B0",
                                                                              "int8")])
    lf, lq = grouped(profiles[("B0 lite", "fp32")]), grouped(profiles[("B0 lite", "int8")])
    saved = fp["convolutions"] - q["convolutions"]
    extra = sum(q[g] - fp[g] for g in ("SiLU and SE gate", "pooling", "quantize / dequantize"))
    floats = [f"{n} {op}" for op, n in optimized_ops.items()
              if not op.startswith("Q") and op != "DequantizeLinear"]
    return GraphFacts(
        file_ops.get("Sigmoid", 0), file_ops.get("Conv", 0), file_ops.get("DequantizeLinear", 0),
        optimized_ops.get("DequantizeLinear", 0), optimized_ops.get("QLinearSigmoid", 0),
        optimized_ops.get("QLinearMul", 0), optimized_ops.get("Sigmoid", 0),
        join(floats) if floats else "none",
        f"{fp['convolutions']:.1f}", f"{q['convolutions']:.1f}",
        f"{fp['SiLU and SE gate']:.1f}", f"{q['SiLU and SE gate']:.1f}",
        f"{fp['pooling']:.1f}", f"{q['pooling']:.1f}", f"{q['quantize / dequantize']:.1f}",
        f"{extra:.1f}", _md(_balance(saved, extra)),
        f"{lf['convolutions']:.1f}", f"{lq['convolutions']:.1f}",
    )


# --------------------------------------------------------------------------------------------
# MBConv against Fused-MBConv, under both engines
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StagePair:
    """One EfficientNetV2-S stage's blocks at its width: ``blocks`` maps "MBConv" and
    "Fused-MBConv" to a stride-1 block without SE; ``shape`` is its input ``(1, C, r, r)``."""

    stage: int
    channels: int
    expand_ratio: float
    kernel: int
    resolution: int
    blocks: dict[str, nn.Module]

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (1, self.channels, self.resolution, self.resolution)

    @property
    def mac_ratio(self) -> float:
        """Fused-MBConv's multiply-adds over MBConv's."""
        c, r, e, k = self.channels, self.resolution, self.expand_ratio, self.kernel
        return (costs.fused_mbconv(c, c, r, 1, e, k).macs
                / costs.mbconv(c, c, r, 1, e, k, se_ratio=0.0).macs)


def stage_pairs(config: NetworkConfig, image: int) -> Iterator[StagePair]:
    """One repeated (stride-1) block of each kind per stage of ``config``, at the stage's
    resolution for an ``image`` x ``image`` input (the stem halves it first)."""
    res = costs.conv_out_size(image, 3, 2)
    for st in config.stages:
        res = costs.conv_out_size(res, st.kernel, st.stride)
        c, e, k = st.out_channels, st.expand_ratio, st.kernel
        yield StagePair(st.stage, c, e, k, res, {
            "MBConv": MBConv(c, c, 1, e, k, se_ratio=0.0),
            "Fused-MBConv": FusedMBConv(c, c, 1, e, k),
        })


@dataclass(frozen=True)
class StageResult:
    """One stage timed under both engines: the four latencies (``"eager MBConv"``, ...) and
    Fused-MBConv / MBConv as a :class:`SpeedResult` per engine."""

    pair: StagePair
    latencies: dict[str, Latency]
    eager: SpeedResult
    ort: SpeedResult

    def speedup(self, kind: str) -> float:
        """How many times as fast ONNX Runtime ran ``kind`` as eager did."""
        return self.latencies[f"eager {kind}"].ratio_to(self.latencies[f"ORT {kind}"])


def stage_result(pair: StagePair, latencies: Mapping[str, Latency]) -> StageResult:
    """``latencies`` from ``compare_latency`` of "eager MBConv", "ORT MBConv", "eager
    Fused-MBConv" and "ORT Fused-MBConv"."""
    label = f"stage {pair.stage}"
    return StageResult(pair, dict(latencies),
                       _speed(label, latencies, "eager Fused-MBConv", "eager MBConv"),
                       _speed(label, latencies, "ORT Fused-MBConv", "ORT MBConv"))


def fused_stage_table(results: Sequence[StageResult], setting: Setting) -> Markdown:
    """Median milliseconds per block and the Fused / MBConv ratio under each engine, with the
    verdict (within noise when the ratio is closer to 1 than the rounds' spread)."""
    body = []
    for r in results:
        p, lat = r.pair, r.latencies
        body.append([p.stage, f"{p.channels}, {p.expand_ratio:g}", f"{p.resolution}×{p.resolution}",
                     f"{lat['eager MBConv'].median_ms:.3f}",
                     f"{lat['eager Fused-MBConv'].median_ms:.3f}",
                     f"{r.eager.ratio:.2f} ({r.eager.outcome})",
                     f"{lat['ORT MBConv'].median_ms:.3f}",
                     f"{lat['ORT Fused-MBConv'].median_ms:.3f}",
                     f"{r.ort.ratio:.2f} ({r.ort.outcome})", f"{p.mac_ratio:.1f}"])
    head = (f"Median milliseconds per block over the rounds, {setting.phrase()}; ratio: "
            "Fused-MBConv / MBConv (below 1: fused faster), with its verdict against the "
            "spread of the rounds.\n\n")
    return _md(head + _table(
        ["stage", "C, e", "resolution", "eager MBConv", "eager fused", "eager ratio",
         "ORT MBConv", "ORT fused", "ORT ratio", "multiply-add ratio"],
        ["---"] * 3 + ["---:"] * 7, body))


def plot_fused_stages(results: Sequence[StageResult]) -> Any:
    """Fused-MBConv / MBConv time per stage under both engines (log axis, plain-number ticks),
    the multiply-add ratio as black dashes, hatched bars within the timing noise; the legend
    above the axes."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    use_book_figures()
    fig, ax = plt.subplots(figsize=(6.8, 4.8), layout="constrained")
    xs = list(range(len(results)))
    for offset, engine, color in ((-0.2, "eager", "#3182bd"), (0.2, "ort", "#e6550d")):
        speeds = [getattr(r, engine) for r in results]
        ax.bar([x + offset for x in xs], [s.ratio for s in speeds], 0.4, color=color,
               hatch=[("//" if s.outcome == NOISE else "") for s in speeds], edgecolor="white")
    ax.plot(xs, [r.pair.mac_ratio for r in results], "k_", markersize=24, mew=2)
    ax.axhline(1.0, color="k", linewidth=1)
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(xs, [f"{r.pair.stage}\n{r.pair.channels} ch\n{r.pair.resolution}²"
                       for r in results])
    ax.set_xlabel("EfficientNetV2-S stage")
    ax.set_ylabel("Fused-MBConv / MBConv latency")
    handles = [Patch(color="#3182bd", label="PyTorch eager"),
               Patch(color="#e6550d", label="ONNX Runtime"),
               plt.Line2D([], [], color="k", marker="_", markersize=16, mew=2, linestyle="",
                          label="multiply-add ratio"),
               Patch(facecolor="0.6", hatch="//", edgecolor="white", label="within noise")]
    fig.legend(handles=handles, loc="outside upper center", ncols=2, frameon=False)
    return fig


def list_stages(stages: Sequence[int]) -> str:
    """``"no stage"``, ``"stage 1"``, ``"stages 1, 2 and 4"``."""
    if not stages:
        return "no stage"
    names = [str(s) for s in stages]
    return f"stage {names[0]}" if len(names) == 1 else f"stages {join(names)}"


def _opposite(r: StageResult) -> bool:
    """Faster under one engine and slower under the other, both beyond their noise."""
    return {r.eager.outcome, r.ort.outcome} == {FASTER, SLOWER}


def _agreement(results: Sequence[StageResult]) -> str:
    """Whether the two engines gave each stage the same verdict, for every mix: all alike;
    opposite verdicts (faster under one, slower under the other) in some or all; or only
    differences where one engine's ratio lay within its timing noise."""
    total = len(results)
    if all(r.eager.outcome == r.ort.outcome for r in results):
        return (f"The two engines gave the same verdict in all {total} stages, so on this run "
                "the engine did not change which block to choose.")
    opposite = [r for r in results if _opposite(r)]
    unclear = [r for r in results if r.eager.outcome != r.ort.outcome and not _opposite(r)]

    def detail(rs: Sequence[StageResult]) -> str:
        return "; ".join(f"stage {r.pair.stage}: {r.eager.outcome} under eager, "
                         f"{r.ort.outcome} under ONNX Runtime" for r in rs)

    if opposite:
        head = ("The two engines gave opposite verdicts in every stage" if len(opposite) == total
                else f"The two engines gave opposite verdicts in "
                f"{list_stages([r.pair.stage for r in opposite])}")
        text = f"{head} ({detail(opposite)})"
        if unclear:
            text += (f"; in {list_stages([r.pair.stage for r in unclear])} one engine's ratio "
                     f"lay within its timing noise ({detail(unclear)})")
        return text + "."
    return (f"No stage got opposite verdicts (faster under one engine, slower under the other); "
            f"in {list_stages([r.pair.stage for r in unclear])} one engine's ratio lay within "
            f"its timing noise and the other's did not ({detail(unclear)}), and the other "
            f"{total - len(unclear)} got the same verdict from both.")


def _for_stage(stage: int, sentence: str) -> str:
    """``"For stage 1, on ..."`` from a sentence that opens with ``"On ..."``."""
    return f"For stage {stage}, {sentence[:1].lower()}{sentence[1:]}"


def _engine_speedups(result: StageResult, setting: Setting) -> str:
    """ONNX Runtime against eager for both blocks of one stage, worded by their noise."""
    speeds = [_speed(kind, result.latencies, f"ORT {kind}", f"eager {kind}")
              for kind in ("MBConv", "Fused-MBConv")]
    return speed_summary(speeds, setting, candidate="ONNX Runtime", reference="PyTorch eager",
                         noun="block")


def engine_question(results: Sequence[StageResult]) -> str:
    """Exercise 9.3's question, worded for what this run measured."""
    opposite = [r.pair.stage for r in results if _opposite(r)]
    if opposite:
        return (f"On this run PyTorch eager and ONNX Runtime gave opposite MBConv-versus-"
                f"Fused-MBConv verdicts in {list_stages(opposite)}, on the same CPU. Why can the "
                "engine change the verdict?")
    return ("On this run no stage got opposite verdicts from the two engines, yet the engine "
            "changed the two blocks' times by different factors (stage 1's are in the text after "
            "the figure). Why can an engine change the MBConv-versus-Fused-MBConv comparison at "
            "all, on the same CPU?")


@dataclass(frozen=True)
class StageFacts:
    """Glued as ``ch9_<field>``: the per-engine verdicts over the stages, whether the engines
    agree, what ONNX Runtime did to stage 1's two blocks against eager (a verdict), the
    smallest multiply-add ratio, and Exercise 9.3's question."""

    fused_eager: Markdown
    fused_ort: Markdown
    engine_verdict: Markdown
    s1_engine_gain: Markdown
    mac_min: float
    engine_question: Markdown


def stage_facts(results: Sequence[StageResult], eager: Setting, ort: Setting,
                both: Setting) -> StageFacts:
    """``eager``/``ort``: where each engine's verdict was timed; ``both``: the two side by
    side (for the eager-to-ONNX-Runtime change)."""
    def summary(engine: str, setting: Setting) -> Markdown:
        return _md(speed_summary([getattr(r, engine) for r in results], setting,
                                 candidate="Fused-MBConv", reference="MBConv", noun="stage"))

    return StageFacts(
        summary("eager", eager), summary("ort", ort), _md(_agreement(results)),
        _md(_for_stage(results[0].pair.stage, _engine_speedups(results[0], both))),
        round(min(r.pair.mac_ratio for r in results), 1), _md(engine_question(results)),
    )


# --------------------------------------------------------------------------------------------
# Quantization-friendly blocks: int8 accuracy on digits
# --------------------------------------------------------------------------------------------
def int8_accuracy(
    builds: Mapping[str, Callable[[], nn.Module]],
    data: tuple[ImageDataset, ImageDataset],
    calibration: Tensor,
    *,
    folder: str | Path | None = None,
    **train: Any,
) -> dict[str, dict[str, list[Run]]]:
    """Train each network of ``builds`` over seeds (:func:`run_seeds`, ``train`` its keyword
    arguments), export every seed's model, check it against eager, quantize it with
    ``calibration`` (training images) and score both files in ONNX Runtime on the test split.
    Returns ``{label: {"fp32": runs, "int8": runs}}`` (each run's test accuracy in its history)."""
    from ..deploy import check_equal, export_onnx, quantize_int8, run_session

    folder = Path(tempfile.mkdtemp(prefix="mbcourse_ch9_")) if folder is None else Path(folder)
    test_x, test_y = data[1].tensors()

    def accuracy(path: Path) -> float:
        return (run_session(path, test_x).argmax(1) == test_y).float().mean().item()

    out: dict[str, dict[str, list[Run]]] = {}
    for n, (label, build) in enumerate(builds.items()):
        runs: dict[str, list[Run]] = {"fp32": [], "int8": []}
        for run in run_seeds(build, data, label=label, **train):
            model = run.model.cpu().eval()
            stem = folder / f"net{n}_seed{run.seed}"
            fp32 = export_onnx(model, (1, *test_x.shape[1:]), stem.with_suffix(".onnx"),
                               exporter="torchscript", dynamic_batch=True)
            check_equal(model, fp32, test_x[:256])
            int8 = quantize_int8(fp32, calibration, stem.with_name(stem.name + "_int8.onnx"))
            for kind, path in (("fp32", fp32), ("int8", int8)):
                runs[kind].append(replace(run, label=f"{label}, {kind}",
                                          history=[{"test_accuracy": accuracy(path)}]))
        out[label] = runs
    return out


def _accuracies(runs: Sequence[Run]) -> list[float]:
    return [r.test_accuracy for r in runs]


def accuracy_table(results: Mapping[str, Mapping[str, Sequence[Run]]], *,
                   epochs: int, image_size: int) -> Markdown:
    """fp32 and int8 test accuracy (mean ± std over seeds) and int8 − fp32 per seed."""
    body = []
    for label, runs in results.items():
        fp, q = _accuracies(runs["fp32"]), _accuracies(runs["int8"])
        params = runs["fp32"][0].params

        def stat(values: Sequence[float]) -> str:
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            return f"{100 * statistics.fmean(values):.1f} ± {100 * spread:.1f}"

        body.append([label, f"{params:,}", stat(fp), stat(q),
                     ", ".join(f"{100 * (b - a):+.1f}" for a, b in zip(fp, q, strict=True))])
    seeds = len(next(iter(results.values()))["fp32"])
    head = (f"{seeds} seeds, {epochs} epochs, {image_size}×{image_size} digits, mean ± std over "
            "seeds\n\n")
    return _md(head + _table(["network", "parameters", "fp32 test accuracy (%)",
                              "int8 test accuracy (%)", "int8 − fp32, per seed (points)"],
                             ["---"] + ["---:"] * 4, body))


@dataclass(frozen=True)
class AccuracyFacts:
    """Glued as ``ch9_<field>``: the paired verdicts (int8 against fp32 for each network, lite
    against full in fp32; Holm over the three), the largest per-seed change, one test image in
    points, the number of seeds and the smallest p-value the exact sign-flip test can give
    with that many pairs (two of the ``2**n`` sign patterns are as extreme as the data)."""

    q_full_sentence: Markdown
    q_lite_sentence: Markdown
    lite_vs_full_fp32: Markdown
    drop_full_max: float
    drop_lite_max: float
    one_image: float
    n_seeds: int
    flip_floor: str


def paired_accuracy(results: Mapping[str, Mapping[str, Sequence[Run]]], full: str,
                    lite: str) -> dict[str, PairedTest]:
    """The chapter's family of three paired comparisons (seeds shared), Holm-adjusted."""
    values = {f"{label}, {kind}": _accuracies(kind_runs)
              for label, by_kind in results.items() for kind, kind_runs in by_kind.items()}
    return paired_family({
        "int8 vs fp32, full": (f"{full}, int8", f"{full}, fp32"),
        "int8 vs fp32, lite": (f"{lite}, int8", f"{lite}, fp32"),
        "lite vs full, fp32": (f"{lite}, fp32", f"{full}, fp32"),
    }, values)


def accuracy_facts(results: Mapping[str, Mapping[str, Sequence[Run]]], *, full: str, lite: str,
                   test_images: int) -> AccuracyFacts:
    tests = paired_accuracy(results, full, lite)

    def largest(label: str) -> float:
        return round(100 * max(abs(b - a) for a, b in zip(
            _accuracies(results[label]["fp32"]), _accuracies(results[label]["int8"]),
            strict=True)), 1)

    return AccuracyFacts(
        _md(accuracy_sentence(tests["int8 vs fp32, full"], a="the int8 model", b="the fp32 one")),
        _md(accuracy_sentence(tests["int8 vs fp32, lite"], a="the int8 model", b="the fp32 one")),
        _md(accuracy_sentence(tests["lite vs full, fp32"], a="the lite network",
                              b="the SiLU + SE network")),
        largest(full), largest(lite), round(100 / test_images, 2),
        len(results[full]["fp32"]), f"{2 / 2 ** len(results[full]['fp32']):.2g}",
    )


# --------------------------------------------------------------------------------------------
# Every record of the prose
# --------------------------------------------------------------------------------------------
def facts(*records: Any) -> tuple[Any, ...]:
    """The chapter's records in one tuple, for ``for r in facts(...): glue_facts("ch9", r)``;
    refuses two records that glue the same name."""
    import dataclasses

    seen: dict[str, str] = {}
    for record in records:
        if not dataclasses.is_dataclass(record) or isinstance(record, type):
            raise TypeError(f"facts: expected the chapter's records (dataclasses), got "
                            f"{type(record).__name__}")
        for f in dataclasses.fields(record):
            if f.name in seen:
                raise ValueError(f"facts: ch9_{f.name} is in both {seen[f.name]} and "
                                 f"{type(record).__name__}")
            seen[f.name] = type(record).__name__
    return records
