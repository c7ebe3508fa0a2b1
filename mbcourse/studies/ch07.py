"""Chapter 7 (Experiments): the numbers its prose prints, its layout timing, tables and figures.
Taught in chapter 7 (book/07_experiments.ipynb).

* :func:`facts` -> :class:`Ch7Facts`: every number and verdict sentence the text prints that
  comes from the stored paired study (``book/data/ch7_experiments.json``, read by
  :func:`mbcourse.studies.experiments.load_study`) and its test set, plus SENet's Table 10.
* :func:`demo_facts` -> :class:`DemoFacts`: the page's own short training run.
* :func:`time_layouts` -> :class:`LayoutTiming`: one training step in channels-last against the
  default layout, for the whole network and for one of its depthwise convolutions alone
  (forward and backward), side by side; :func:`layout_facts` turns it into the verdict
  sentences (written for every outcome: faster, slower, within the noise).
* Tables (Markdown): :func:`variants_table`, :func:`fused_table`, :func:`family_table`.
* Figures, each within the book's 6.8-inch column with 12-pt text: :func:`plot_canvases`,
  :func:`plot_training`, :func:`plot_se_accuracy`, :func:`plot_gate_share`,
  :func:`plot_gate_heatmaps`, :func:`plot_forest`.

Glued by the chapter with :func:`mbcourse.display.glue_facts` (``ch7_<field>``).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from torch import nn

from ..display import FIGURE_WIDTH_IN
from ..introspect import eval_mode, trace_calls
from ..measure import round_spread, time_interleaved
from ..training.data import ImageDataset, load_cluttered_digits
from . import stats
from .experiments import (
    COMPARISONS,
    DRIFT_FILE,
    GATE_VARIANT,
    SE_REDUCTIONS,
    TOLERANCE,
    VARIANTS,
    Run,
    StudyAnalysis,
    StudyConfig,
    analyse_study,
    load_study,
    tiny_mobilenet_v2,
    unpack_hits,
)
from .stored import find_stored, read_json, sha256_of
from .verdicts import Setting, SpeedResult, accuracy_sentence, family_sentence, speed_sentence

__all__ = [
    "SENET_TABLE10",
    "Ch7Facts",
    "DemoFacts",
    "LayoutFacts",
    "LayoutTiming",
    "demo_facts",
    "facts",
    "family_table",
    "fused_table",
    "layout_facts",
    "plot_canvases",
    "plot_forest",
    "plot_gate_heatmaps",
    "plot_gate_share",
    "plot_se_accuracy",
    "plot_training",
    "study_test_set",
    "time_layouts",
    "variants_table",
]

#: SENet (Hu et al.), Table 10: SE-ResNet-50 on ImageNet by reduction ratio r (``"ResNet-50"``:
#: without SE): (top-1 error in %, parameters in millions).
SENET_TABLE10: dict[str | int, tuple[float, float]] = {
    "ResNet-50": (23.30, 25.6), 2: (22.29, 45.7), 4: (22.25, 35.7), 8: (22.26, 30.7),
    16: (22.28, 28.1), 32: (22.72, 26.9),
}

#: One colour per r, in both panels of :func:`plot_se_accuracy` (``"none"``: without SE).
R_COLOURS: dict[str | int, str] = {"none": "black", 1: "tab:purple", 2: "tab:blue",
                                   4: "tab:green", 8: "tab:olive", 16: "tab:orange", 32: "tab:red"}

_LABELS = {name: v.label for name, v in VARIANTS.items()}


def _markdown_fields(record: Any, names: Sequence[str]) -> dict[str, Any]:
    out = asdict(record)
    for name in names:
        out[name] = Markdown(out[name])
    return out


# ---- the stored study ----------------------------------------------------------------------------


def study_test_set(study: Mapping[str, Any]) -> ImageDataset:
    """The study's test canvases, drawn again from its config (the same for every run)."""
    config = StudyConfig.from_dict(study["config"])
    _, test = load_cluttered_digits(config.n_train, config.n_test, seed=config.seeds[0],
                                    canvas=config.canvas, clutter=config.clutter)
    return test


@dataclass(frozen=True)
class Ch7Facts:
    """What chapter 7's text prints from the stored study. Sentences are Markdown text
    (``*_sentence``, ``gate_verdict``, ``command``); :meth:`for_glue` wraps them for
    ``{glue:md}``."""

    # the data and the study
    n_train: int
    n_test: int
    n_test_sources: int
    canvas: int
    epochs: int
    n_seeds: int
    n_variants: int
    same_test_set: bool
    cpu_hours: float
    command: str
    machine: str
    # noise
    se_binomial: float
    se_cluster: float
    mv2_acc0: float
    mv2_mean: float
    tcrit: float
    min_flip: float
    n_comparisons: int
    # MobileNetV2 ablations
    n_blocks: int
    n_residual: int
    linear_sentence: str
    shortcut_sentence: str
    # SE
    senet_flat: str
    senet_r2_params: float
    senet_r16_params: float
    senet_r2_vs_r16: float
    no_se_params: int
    se_added_1: int
    se_added_pct_1: int
    se_added_16: int
    se_added_pct_16: int
    se_sentence_1: str
    se_sentence_16: str
    se_r1_r16_sentence: str
    # fused vs MBConv
    mb_params: int
    mb_macs: int
    fused_params_sentence: str
    fused_macs_sentence: str
    # gates
    n_se: int
    share_first: float
    share_last: float
    gate_sentence: str
    gate_verdict: str
    # the family, and reproducing it
    family_sentence: str
    tol_sd: str
    tol_first: str
    drift_sentence: str

    def for_glue(self) -> dict[str, Any]:
        """The fields, with the sentences as Markdown (for ``{glue:md}`` roles)."""
        names = [f for f in self.__dataclass_fields__ if "sentence" in f]
        return _markdown_fields(self, [*names, "gate_verdict", "command"])


def _sentence(tests: Mapping[str, stats.PairedTest], name: str, a: str, b: str) -> str:
    return accuracy_sentence(tests[name], a=a, b=b)


def gate_verdict(test: stats.PairedTest) -> str:
    """Whether the study shows SENet's observation (gates grow class-specific with depth),
    for every outcome: shown growing, shown shrinking, not shown."""
    if test.shown and test.mean > 0:
        return ("As SENet observed, the gates grow more class-specific from the first SE "
                "module to the last.")
    if test.shown:
        return ("Unlike SENet's observation, here the first SE module's gates are more "
                "class-specific than the last one's.")
    return ("This study does not show the gates growing more class-specific from the first "
            "module to the last, as SENet observed on ImageNet.")


def drift_sentence(analysis: StudyAnalysis, drift: Mapping[str, Any] | None) -> str:
    """How far re-runs on other CPU kernels drifted from the stored study (``--drift``), or
    that it has not been measured."""
    if drift is None:
        return ("how far has not been measured for this file (`python -m "
                "mbcourse.studies.experiments --drift` measures it).")
    rows = drift["rows"]
    gaps = [100 * abs(r["rerun_accuracy"] - r["stored_accuracy"]) for r in rows]
    first = [abs(r["rerun_loss"][0] / r["stored_loss"][0] - 1) for r in rows]
    sds = [100 * analysis.summaries[r["variant"]]["sd"] for r in rows]
    which = "that variant" if len({r["variant"] for r in rows}) == 1 else "those variants"
    return (f"re-trained with PyTorch's AVX2 kernels instead of the AVX-512 ones the study ran "
            f"with (`--drift`), the same {len(rows)} runs, from the same data and initial "
            f"weights, ended {min(gaps):.1f} to {max(gaps):.1f} points from their stored "
            f"accuracies (the seeds of {which} have a standard deviation of {max(sds):.1f} "
            f"points), while their first-epoch losses differed by at most "
            f"{100 * max(first):.2f} %.")


def _drift() -> dict[str, Any] | None:
    try:
        return read_json(find_stored(DRIFT_FILE))
    except FileNotFoundError:
        return None


def facts(study: Mapping[str, Any] | None = None, test_set: ImageDataset | None = None,
          analysis: StudyAnalysis | None = None) -> Ch7Facts:
    """Chapter 7's numbers from the stored study (default: :func:`load_study`), its test set
    (default: :func:`study_test_set`) and its analysis (default: :func:`analyse_study`)."""
    study = load_study() if study is None else study
    test_set = study_test_set(study) if test_set is None else test_set
    analysis = analyse_study(study) if analysis is None else analysis
    config = StudyConfig.from_dict(study["config"])
    p, s, tests = study["provenance"], analysis.summaries, analysis.tests
    machine = p["machine"]

    first_run = next(r for r in study["runs"]
                     if r["variant"] == "mv2" and r["seed"] == config.seeds[0])
    hits = unpack_hits(first_run["hits"], first_run["n_test"])
    groups = test_set.groups.numpy()

    flat = [SENET_TABLE10[r][0] for r in (2, 4, 8, 16)]
    base = s["en"]["params"]
    added = {r: s[f"en_se{r}"]["params"] - base for r in SE_REDUCTIONS}
    net = tiny_mobilenet_v2()
    shares = analysis.gate_shares
    modules = list(shares)
    gate_test = tests["SE gates: last vs first module"]
    tolerance = TOLERANCE["other_machine"]
    return Ch7Facts(
        n_train=config.n_train, n_test=len(test_set),
        n_test_sources=len(set(test_set.groups.tolist())), canvas=config.canvas,
        epochs=config.epochs, n_seeds=len(config.seeds), n_variants=len(study["variants"]),
        same_test_set=sha256_of(test_set.images, test_set.labels) == study["data"]["test_sha256"],
        cpu_hours=round(sum(r["cpu_seconds"] for r in study["runs"]) / 3600, 1),
        command=f"`{p['command']}`", machine=f"{machine['cpu']} ({machine['cores']} cores)",
        se_binomial=round(100 * stats.binomial_se(float(hits.mean()), hits.size), 2),
        se_cluster=round(100 * stats.cluster_bootstrap_se(hits, groups), 2),
        mv2_acc0=round(100 * float(hits.mean()), 1), mv2_mean=round(100 * s["mv2"]["mean"], 1),
        tcrit=round(stats.t_critical(len(analysis.seeds) - 1), 2),
        min_flip=round(2 / 2 ** len(analysis.seeds), 4), n_comparisons=len(tests),
        n_blocks=len(net.blocks), n_residual=sum(b.use_residual for b in net.blocks),
        linear_sentence=_sentence(tests, "linear vs ReLU6", "The linear bottleneck",
                                  "ReLU6 after the projection"),
        shortcut_sentence=_sentence(tests, "shortcuts vs none", "The network with shortcuts",
                                    "the network without"),
        senet_flat=", ".join(f"{e:.2f} %" for e in flat),
        senet_r2_params=SENET_TABLE10[2][1], senet_r16_params=SENET_TABLE10[16][1],
        senet_r2_vs_r16=round(SENET_TABLE10[2][1] / SENET_TABLE10[16][1], 1),
        no_se_params=base,
        se_added_1=added[1], se_added_pct_1=round(100 * added[1] / base),
        se_added_16=added[16], se_added_pct_16=round(100 * added[16] / base),
        se_sentence_1=_sentence(tests, "SE r = 1 vs none", "SE with r = 1",
                                "the network without SE"),
        se_sentence_16=_sentence(tests, "SE r = 16 vs none", "SE with r = 16",
                                 "the network without SE"),
        se_r1_r16_sentence=_sentence(tests, "SE r = 1 vs r = 16", "SE with r = 1",
                                     "SE with r = 16"),
        mb_params=s["en"]["params"], mb_macs=s["en"]["macs"],
        fused_params_sentence=_sentence(tests, "fused vs MBConv (matched parameters)",
                                        "Fused-MBConv at matched parameters", "MBConv"),
        fused_macs_sentence=_sentence(tests, "fused vs MBConv (matched multiply-adds)",
                                      "Fused-MBConv at matched multiply-adds", "MBConv"),
        n_se=len(modules),
        share_first=round(stats.mean_ci(shares[modules[0]])[0], 3),
        share_last=round(stats.mean_ci(shares[modules[-1]])[0], 3),
        gate_sentence=accuracy_sentence(gate_test, a="The last SE module's gates",
                                        b="the first module's", metric="class share",
                                        scale=1.0, unit="", digits=3),
        gate_verdict=gate_verdict(gate_test),
        family_sentence=family_sentence(list(tests.values())),
        tol_sd=f"{tolerance['sd_multiple']:g}", tol_first=f"{100 * tolerance['first_loss_rel']:g}",
        drift_sentence=drift_sentence(analysis, _drift()),
    )


# ---- the page's own runs -------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoFacts:
    """The page's short training run: its parameters and final test accuracy (%)."""

    demo_params: int
    demo_acc: float


def demo_facts(run: Run) -> DemoFacts:
    """:class:`DemoFacts` of one :class:`~mbcourse.studies.experiments.Run`."""
    return DemoFacts(run.params, round(100 * run.history[-1]["test_accuracy"], 1))


@dataclass(frozen=True)
class LayoutTiming:
    """Channels-last against the default layout, one training step each, timed side by side:
    ``network`` (the whole of ``tiny_mobilenet_v2``) and ``depthwise`` (one of its depthwise
    convolutions alone, forward and backward); ``depthwise_shape`` is that convolution's input
    ``(N, C, H, W)``."""

    network: SpeedResult
    depthwise: SpeedResult
    depthwise_shape: tuple[int, int, int, int]
    batch: int


def _network_step(layout: torch.memory_format, device: torch.device, batch: int) -> Callable:
    model = tiny_mobilenet_v2().to(device, memory_format=layout)
    x = torch.randn(batch, 3, 32, 32, device=device).contiguous(memory_format=layout)
    y = torch.randint(0, 10, (batch,), device=device)
    optimizer = torch.optim.AdamW(model.parameters())

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    return step


def _widest_depthwise(batch: int) -> tuple[nn.Conv2d, tuple[int, int, int, int]]:
    """The stride-1 depthwise convolution of ``tiny_mobilenet_v2`` with the largest input."""
    net = tiny_mobilenet_v2()
    watched = [(name, m) for name, m in net.named_modules()
               if isinstance(m, nn.Conv2d) and m.groups == m.in_channels > 1 and m.stride == (1, 1)]
    with eval_mode(net), torch.no_grad(), trace_calls(watched) as calls:
        net(torch.zeros(1, 3, 32, 32))
    widest = max(calls, key=lambda call: int(np.prod(call.in_shape)))
    return widest.module, (batch, *(int(d) for d in widest.in_shape[1:]))


def _depthwise_step(conv: nn.Conv2d, shape: tuple[int, ...], layout: torch.memory_format,
                    device: torch.device) -> Callable:
    conv = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                     conv.padding, groups=conv.groups, bias=False)
    conv = conv.to(device, memory_format=layout)
    x = torch.randn(*shape, device=device).contiguous(memory_format=layout).requires_grad_()

    def step() -> None:
        conv.weight.grad = x.grad = None
        conv(x).sum().backward()

    return step


def time_layouts(device: torch.device | str = "cpu", *, batch: int = 128, rounds: int = 3,
                 min_run_time: float = 0.2, num_threads: int | None = 1) -> LayoutTiming:
    """Time one training step of ``tiny_mobilenet_v2`` (AdamW, cross-entropy, on a
    ``batch x 3 x 32 x 32`` input) and the forward and backward pass of its widest stride-1
    depthwise convolution, each in channels-last and in the default layout, in interleaved
    rounds (:func:`mbcourse.measure.time_interleaved`) on ``num_threads`` CPU threads (default
    1, as the study trained; ``None``: torch's current number)."""
    device = torch.device(device)
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"time_layouts: batch must be a positive integer, got {batch!r}")
    conv, shape = _widest_depthwise(batch)
    last, default = torch.channels_last, torch.contiguous_format
    before = torch.get_num_threads()
    torch.set_num_threads(before if num_threads is None else num_threads)
    try:
        timed = time_interleaved({
            "net last": _network_step(last, device, batch),
            "net default": _network_step(default, device, batch),
            "dw last": _depthwise_step(conv, shape, last, device),
            "dw default": _depthwise_step(conv, shape, default, device),
        }, rounds=rounds, min_run_time=min_run_time, warmup=1, num_threads=num_threads)
    finally:
        torch.set_num_threads(before)
    net = SpeedResult("a training step of tiny_mobilenet_v2",
                      timed["net last"].ratio_to(timed["net default"]),
                      round_spread(timed["net last"], timed["net default"]))
    _, c, h, w = shape
    dw = SpeedResult(f"the forward and backward pass of its {c}-channel depthwise 3×3 "
                     f"convolution alone (on {h}×{w})",
                     timed["dw last"].ratio_to(timed["dw default"]),
                     round_spread(timed["dw last"], timed["dw default"]))
    return LayoutTiming(net, dw, shape, batch)


@dataclass(frozen=True)
class LayoutFacts:
    """The layout verdicts as sentences (Markdown text; :meth:`for_glue` wraps them)."""

    layout_sentence: str
    depthwise_sentence: str

    def for_glue(self) -> dict[str, Any]:
        return _markdown_fields(self, ["layout_sentence", "depthwise_sentence"])


def layout_facts(timing: LayoutTiming, setting: Setting) -> LayoutFacts:
    """The two verdicts of :func:`time_layouts`, each naming ``setting``."""
    words = {"candidate": "the channels-last layout", "reference": "the default layout"}
    return LayoutFacts(speed_sentence(timing.network, setting, **words),
                       speed_sentence(timing.depthwise, setting, **words))


# ---- tables --------------------------------------------------------------------------------------


def _table(header: Sequence[str], align: Sequence[str], rows: Sequence[Sequence[str]]) -> Markdown:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return Markdown("\n".join(lines))


def _accuracy(summary: Mapping[str, float]) -> str:
    return f"{100 * summary['mean']:.1f} ± {100 * summary['sd']:.1f}"


def variants_table(analysis: StudyAnalysis) -> Markdown:
    """Every variant of the study: its family, parameters, multiply-adds, both against its
    family's reference (the first of each), and its test accuracy over the seeds."""
    s = analysis.summaries
    rows = []
    for name, variant in VARIANTS.items():
        mv2 = variant.builder == "mobilenet_v2"
        base = s["mv2" if mv2 else "en"]
        note = ("reference" if name in ("mv2", "en") else
                f"{s[name]['params'] / base['params']:.2f}× / "
                f"{s[name]['macs'] / base['macs']:.2f}×")
        rows.append(["MobileNetV2-style" if mv2 else "EfficientNet-style", variant.label,
                     f"{s[name]['params']:,}", f"{s[name]['macs']:,}", note, _accuracy(s[name])])
    return _table(["network", "variant", "parameters", "multiply-adds",
                   "× reference (params / MACs)", "test accuracy (%), mean ± sd"],
                  ["---", "---", "---:", "---:", "---:", "---:"], rows)


def fused_table(analysis: StudyAnalysis) -> Markdown:
    """MBConv against Fused-MBConv at matched parameters and at matched multiply-adds: the
    expansion ratios, the costs (× MBConv's) and the accuracies."""
    s = analysis.summaries
    rows = []
    for name, matched in (("en", "reference"), ("fused_params", "parameters"),
                          ("fused_macs", "multiply-adds")):
        ratios = dict(VARIANTS[name].options)["expand_ratios"]
        rows.append([VARIANTS[name].label, matched, ", ".join(f"{e:g}" for e in ratios),
                     f"{s[name]['params']:,} ({s[name]['params'] / s['en']['params']:.2f}×)",
                     f"{s[name]['macs']:,} ({s[name]['macs'] / s['en']['macs']:.2f}×)",
                     _accuracy(s[name])])
    return _table(["network", "matched", "expansions (stages 1, 2, 3)", "parameters",
                   "multiply-adds", "test accuracy (%), mean ± sd"],
                  ["---", "---", "---", "---:", "---:", "---:"], rows)


def _is_share(test: stats.PairedTest) -> bool:
    return test.a.startswith("gates")  # a class share; the others are accuracy points


def family_table(analysis: StudyAnalysis) -> Markdown:
    """The chapter's family of comparisons: Δ, its 95 % interval, both Holm-adjusted
    p-values and whether the difference is shown."""
    rows = []
    for name, test in analysis.tests.items():
        scale, digits, unit = (1, 3, "") if _is_share(test) else (100, 1, " points")
        rows.append([name, COMPARISONS[name][2], f"{scale * test.mean:+.{digits}f}{unit}",
                     f"[{scale * test.ci_low:+.{digits}f}, {scale * test.ci_high:+.{digits}f}]",
                     f"{test.p_t_holm:.3f}", f"{test.p_flip_holm:.3f}",
                     "yes" if test.shown else "no"])
    return _table(["comparison", "matched", "Δ", "95 % CI", "p, paired t (Holm)",
                   "p, sign-flip (Holm)", "shown?"],
                  ["---", "---", "---:", "---", "---:", "---:", "---"], rows)


# ---- figures -------------------------------------------------------------------------------------


def plot_canvases(dataset: ImageDataset, rows: int = 2, columns: int = 8) -> Figure:
    """The first ``rows x columns`` canvases of ``dataset``, each titled with its label."""
    images, labels = (t.numpy() for t in dataset.tensors())
    fig, axes = plt.subplots(rows, columns, figsize=(FIGURE_WIDTH_IN, 1.0 * rows + 0.4))
    for i, ax in enumerate(np.atleast_1d(axes).flat):
        ax.imshow(images[i, 0], cmap="gray_r")
        ax.set_title(str(int(labels[i])))
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_training(history: Sequence[Mapping[str, float]]) -> Figure:
    """Training loss, test accuracy and learning rate per epoch of a ``fit`` history, one
    panel above the other."""
    fig, axes = plt.subplots(3, 1, figsize=(FIGURE_WIDTH_IN, 6.6), sharex=True)
    epochs = [h["epoch"] for h in history]
    panels = (("train_loss", 1, "training loss"), ("test_accuracy", 100, "test accuracy (%)"),
              ("lr", 1, "learning rate"))
    for ax, (key, scale, label) in zip(axes, panels, strict=True):
        ax.plot(epochs, [scale * h[key] for h in history], marker="o")
        ax.set_ylabel(label)
    axes[-1].set(xlabel="epoch", xticks=epochs)
    fig.align_ylabels(axes)
    fig.tight_layout()
    return fig


def plot_se_accuracy(analysis: StudyAnalysis) -> Figure:
    """This study's tiny EfficientNet without SE and with each r (top; mean and 95 % CI over
    the seeds) above SENet's Table 10 (bottom), accuracy against parameters, one colour per r
    in both and one legend under both."""
    s = analysis.summaries
    fig, (ours, senet) = plt.subplots(2, 1, figsize=(FIGURE_WIDTH_IN, 7.4))
    for r, name in {"none": "en", **{r: f"en_se{r}" for r in SE_REDUCTIONS}}.items():
        mean, low, high = stats.mean_ci(analysis.values[name])
        ours.errorbar(s[name]["params"] / 1e3, 100 * mean,
                      yerr=[[100 * (mean - low)], [100 * (high - mean)]], marker="o", capsize=4,
                      color=R_COLOURS[r], linestyle="none")
    ours.set(xlabel="parameters (thousands)", ylabel="accuracy (%)",
             title=f"Tiny EfficientNet, {len(analysis.seeds)} seeds (95 % CI)")
    for key, (err, params) in SENET_TABLE10.items():
        r = "none" if key == "ResNet-50" else key
        senet.plot(params, 100 - err, marker="s", linestyle="none", color=R_COLOURS[r])
    senet.set(xlabel="parameters (millions)", ylabel="top-1 accuracy (%)",
              title="SENet, Table 10: SE-ResNet-50, ImageNet")
    shown = ["none", *sorted({*SE_REDUCTIONS, *(k for k in SENET_TABLE10 if k != "ResNet-50")})]
    handles = [Line2D([], [], color=R_COLOURS[r], marker="o", linestyle="none",
                      label="no SE" if r == "none" else f"r = {r}") for r in shown]
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.legend(handles=handles, loc="lower center", ncol=4, frameon=False)
    return fig


def plot_gate_share(analysis: StudyAnalysis) -> Figure:
    """The class share of each SE module's gate variance, one grey point per seed, the mean
    with its 95 % CI (legend under the axes)."""
    shares = analysis.gate_shares
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH_IN, 4.2))
    for k, values in enumerate(shares.values()):
        mean, low, high = stats.mean_ci(values)
        ax.scatter(np.full(len(values), k - 0.15), values, color="tab:grey", s=14, zorder=2,
                   label="one seed" if k == 0 else None)
        ax.errorbar(k, mean, yerr=[[mean - low], [high - mean]], color="tab:purple", marker="o",
                    capsize=5, zorder=3, label="mean, 95 % CI" if k == 0 else None)
    ax.set_xticks(range(len(shares)), [n.replace(".se", "") for n in shares])
    ax.set(xlabel="SE module (input to output)", ylabel="class share of variance",
           ylim=(0, None))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def plot_gate_heatmaps(study: Mapping[str, Any]) -> Figure:
    """Mean gate per class and channel in the first and the last SE module of the gate
    variant's first stored run, one above the other, on one diverging scale centred on 0.5
    that spans the gates' range."""
    means = next(r for r in study["runs"]
                 if r["variant"] == GATE_VARIANT and "gate_means" in r)["gate_means"]
    names = [next(iter(means)), list(means)[-1]]
    low = min(float(np.min(means[n])) for n in names)
    high = max(float(np.max(means[n])) for n in names)
    half = max(0.5 - low, high - 0.5)
    fig, axes = plt.subplots(2, 1, figsize=(FIGURE_WIDTH_IN, 6.8), layout="constrained")
    for ax, name, where in zip(axes, names, ("First", "Last"), strict=True):
        g = np.array(means[name])
        image = ax.imshow(g, aspect="auto", cmap="RdBu_r", vmin=0.5 - half, vmax=0.5 + half)
        ax.set(xlabel="channel", ylabel="digit", yticks=range(10))
        ax.set_title(f"{where} SE module ({name}, {g.shape[1]} channels)")
    fig.colorbar(image, ax=axes, label="mean gate (0.5: white)")
    return fig


def plot_forest(analysis: StudyAnalysis) -> Figure:
    """Every accuracy comparison: mean per-seed difference (a − b) with its 95 % CI, blue
    where shown (Holm, both tests), grey where not; the legend under the axes."""
    tests = {k: t for k, t in analysis.tests.items() if not _is_share(t)}
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH_IN, 5.6))
    for y, test in enumerate(reversed(list(tests.values()))):
        colour = "tab:blue" if test.shown else "tab:grey"
        ax.errorbar(100 * test.mean, y, xerr=[[100 * (test.mean - test.ci_low)],
                                              [100 * (test.ci_high - test.mean)]],
                    marker="o", capsize=4, color=colour)
    ax.axvline(0, color="black", linewidth=0.8)
    names = [textwrap.fill(n, 22, break_on_hyphens=False) for n in reversed(list(tests))]
    ax.set_yticks(range(len(tests)), names)
    ax.set(xlabel="Δ accuracy, a − b (points), 95 % CI")
    ax.legend(handles=[Line2D([], [], color="tab:blue", marker="o", label="shown (Holm)"),
                       Line2D([], [], color="tab:grey", marker="o", label="not shown")],
              loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    fig.tight_layout()
    return fig
