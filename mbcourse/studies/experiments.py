"""Small networks for controlled experiments, the paired study of chapter 7, and its store.

The papers' ablations change one thing in a block: a ReLU6 after MobileNetV2's projection
(Figure 6a: "linear bottleneck" or not), the shortcut removed (Figure 6b), an SE module of
reduction ``r`` added (SENet Table 10), fused convolutions in the early stages (EfficientNetV2
Table 3). Here each change is applied to the *faithful* blocks of :mod:`mbcourse.blocks` after
they are built, by the functions :func:`make_nonlinear_bottleneck`, :func:`remove_shortcut` and
:func:`attach_se`, so the blocks themselves keep torchvision's behaviour.

:class:`ExperimentNet` is a CPU-sized network (stride-1 stem, a few stages, 1x1 head, pool,
linear); it accepts any input of at least 8 x 8, and on the 32 x 32 cluttered digits
(:func:`mbcourse.training.data.load_cluttered_digits`) its three stages run at 32 x 32,
16 x 16 and 8 x 8.

Chapter 7's study: :data:`VARIANTS` (each a network built by name) and the family of
:data:`COMPARISONS` between them are trained over shared seeds by :func:`train_one` /
:func:`run_study` (deterministic: one thread, deterministic algorithms, everything seeded),
stored with provenance by ``python -m mbcourse.studies.experiments --full`` in
``book/data/ch7_experiments.json``, read back by :func:`load_study` and analysed by
:func:`analyse_study` (paired t and sign-flip tests, Holm over the family, 95 % intervals:
:mod:`mbcourse.studies.stats`). :func:`reproduce` re-runs a sample and
:func:`reproduction_errors` says whether it matches the stored numbers within the stated
tolerance.

For quick live comparisons :func:`run_seeds` trains one variant over several seeds and
:func:`compare` applies Welch's (unpaired) t-test to two of them.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..blocks import (
    ConvNormAct,
    FusedMBConv,
    InvertedResidual,
    MBConv,
    SqueezeExcitation,
    record_se_gates,
)
from ..measure import count_flops, count_parameters
from ..runtime import pick_device, seed_everything
from ..training.data import ImageDataset, TensorLoader, load_cluttered_digits
from ..training.train import fit, parameter_checksum
from . import stored
from .stats import PairedTest, paired_family, t_critical, t_two_sided_p

__all__ = [
    "AVX2_KERNELS",
    "BLOCK_TYPES",
    "COMPARISONS",
    "DRIFT_FILE",
    "EN_EXPANSION",
    "GATE_VARIANT",
    "SE_REDUCTIONS",
    "STUDY_FILE",
    "TOLERANCE",
    "VARIANTS",
    "Comparison",
    "ExperimentNet",
    "Run",
    "Stage",
    "StudyAnalysis",
    "StudyConfig",
    "Variant",
    "analyse_study",
    "attach_se",
    "compare",
    "fused_match",
    "gate_statistics",
    "kernel_drift",
    "load_study",
    "main",
    "make_nonlinear_bottleneck",
    "network_costs",
    "remove_shortcut",
    "reproduce",
    "reproduction_errors",
    "run_seeds",
    "run_study",
    "se_gates_per_class",
    "summarize",
    "t_critical",
    "t_two_sided_p",
    "tiny_efficientnet",
    "tiny_mobilenet_v2",
    "train_one",
    "unpack_hits",
]

BLOCK_TYPES = ("ir", "mbconv", "fused")
Block = InvertedResidual | MBConv | FusedMBConv


# --------------------------------------------------------------------------------------------
# Variants of the faithful blocks
# --------------------------------------------------------------------------------------------
def make_nonlinear_bottleneck(block: Block, activation: type[nn.Module] = nn.ReLU6) -> bool:
    """Append ``activation`` to the block's 1x1 projection (before the residual add): the
    "non-linear bottleneck" of MobileNetV2's Figure 6a. Returns ``False`` (and changes nothing)
    when the block has no separate linear projection (a Fused-MBConv with expansion 1)."""
    project = getattr(block, "project", None)
    if not isinstance(project, ConvNormAct):
        return False
    if "act" in project._modules:
        raise ValueError(f"make_nonlinear_bottleneck: {type(block).__name__}'s projection "
                         "already ends in an activation")
    project.add_module("act", activation())
    return True


def remove_shortcut(block: Block) -> bool:
    """Drop the residual connection (MobileNetV2's Figure 6b); ``True`` if there was one."""
    had = bool(block.use_residual)
    block.use_residual = False
    return had


def attach_se(block: MBConv | FusedMBConv, reduction: float) -> SqueezeExcitation:
    """Put a :class:`~mbcourse.blocks.SqueezeExcitation` with reduction ``r`` relative to the
    channels it gates (SENet's convention; EfficientNet instead uses ``C_in / 4``) in the
    block's SE slot, replacing what was there. Returns the new module."""
    if not isinstance(block, (MBConv, FusedMBConv)):
        raise TypeError(f"attach_se: expected an MBConv or FusedMBConv block, got "
                        f"{type(block).__name__} (InvertedResidual has no SE slot)")
    channels = (
        block.expanded_channels if isinstance(block.project, ConvNormAct) else block.out_channels
    )
    se = SqueezeExcitation(channels, reduction=reduction, activation=nn.SiLU)
    block.se = se
    return se


# --------------------------------------------------------------------------------------------
# A CPU-sized network
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stage:
    """``repeats`` blocks of one type; the first has ``stride``, the rest stride 1."""

    block: str
    expand_ratio: float
    out_channels: int
    repeats: int
    stride: int
    kernel_size: int = 3

    def __post_init__(self) -> None:
        if self.block not in BLOCK_TYPES:
            raise ValueError(f"Stage: block must be one of {BLOCK_TYPES}, got {self.block!r}")
        if self.repeats < 1:
            raise ValueError(f"Stage: repeats must be >= 1, got {self.repeats!r}")


class ExperimentNet(nn.Module):
    """``stem 3x3 (stride 1) -> stages -> 1x1 head -> global pool -> linear``:
    ``(N, C_in, S, S) -> (N, num_classes)`` for any ``S >= 8``; the first stage runs at
    ``S x S`` and each stride-2 stage halves it (32, 16 and 8 pixels for the cluttered digits).

    Options apply one change to every block: ``linear_bottleneck=False`` appends ReLU6 to each
    projection, ``residual=False`` removes every shortcut, ``se_reduction=r`` attaches an SE of
    reduction ``r`` to every MBConv block (not to Fused-MBConv, as in EfficientNetV2).
    """

    def __init__(
        self,
        stages: Sequence[Stage],
        *,
        in_channels: int = 3,
        stem_channels: int = 16,
        head_channels: int = 64,
        num_classes: int = 10,
        linear_bottleneck: bool = True,
        residual: bool = True,
        se_reduction: float | None = None,
    ) -> None:
        super().__init__()
        if not stages:
            raise ValueError("ExperimentNet: stages must not be empty")
        all_ir = all(stage.block == "ir" for stage in stages)
        act = nn.ReLU6 if all_ir else nn.SiLU
        self.stem = ConvNormAct(in_channels, stem_channels, 3, activation=act)
        blocks: list[nn.Module] = []
        c_in = stem_channels
        for stage in stages:
            for i in range(stage.repeats):
                stride = stage.stride if i == 0 else 1
                block = _make_block(stage, c_in, stride)
                if not linear_bottleneck:
                    make_nonlinear_bottleneck(block)
                if not residual:
                    remove_shortcut(block)
                if se_reduction is not None and isinstance(block, MBConv):
                    attach_se(block, se_reduction)
                blocks.append(block)
                c_in = stage.out_channels
        self.blocks = nn.Sequential(*blocks)
        self.head = ConvNormAct(c_in, head_channels, 1, activation=act)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(head_channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.head(self.blocks(self.stem(x)))
        return self.classifier(torch.flatten(self.pool(x), 1))


def _make_block(stage: Stage, c_in: int, stride: int) -> Block:
    if stage.block == "ir":
        return InvertedResidual(c_in, stage.out_channels, stride, stage.expand_ratio,
                                stage.kernel_size)
    if stage.block == "mbconv":
        return MBConv(c_in, stage.out_channels, stride, stage.expand_ratio, stage.kernel_size,
                      se_ratio=0.0)
    return FusedMBConv(c_in, stage.out_channels, stride, stage.expand_ratio, stage.kernel_size)


def tiny_mobilenet_v2(
    num_classes: int = 10,
    in_channels: int = 3,
    *,
    linear_bottleneck: bool = True,
    residual: bool = True,
    repeats: int = 3,
) -> ExperimentNet:
    """MobileNetV2 in miniature: narrow bottlenecks (8, 12, 16 channels), expansion 6,
    ``repeats`` blocks in each of the two downsampling stages (``repeats - 1`` of them with a
    shortcut), ReLU6 everywhere except the linear projections."""
    stages = (
        Stage("ir", 1, 8, 1, 1),
        Stage("ir", 6, 12, repeats, 2),
        Stage("ir", 6, 16, repeats, 2),
    )
    return ExperimentNet(stages, in_channels=in_channels, num_classes=num_classes,
                         linear_bottleneck=linear_bottleneck, residual=residual)


def tiny_efficientnet(
    num_classes: int = 10,
    in_channels: int = 3,
    *,
    fused_stages: int = 0,
    se_reduction: float | None = None,
    repeats: int = 2,
    expand_ratios: Sequence[float] = (1, 4, 4),
) -> ExperimentNet:
    """EfficientNet in miniature: stages of 16, 24, 32 channels (expansion ``expand_ratios``,
    by default B0's 1, 4, 4), SiLU; the first ``fused_stages`` stages use Fused-MBConv
    (EfficientNetV2's early stages), the others MBConv, with SE of reduction ``se_reduction``
    (``None``: no SE) in the MBConv blocks."""
    if not 0 <= fused_stages <= 3:
        raise ValueError(f"tiny_efficientnet: fused_stages must be 0..3, got {fused_stages!r}")
    ratios = tuple(expand_ratios)
    if len(ratios) != 3 or not all(isinstance(e, int | float) and e >= 1 for e in ratios):
        raise ValueError("tiny_efficientnet: expand_ratios must be three numbers >= 1, got "
                         f"{expand_ratios!r}")
    plan = ((ratios[0], 16, 1, 1), (ratios[1], 24, repeats, 2), (ratios[2], 32, repeats, 2))
    stages = [
        Stage("fused" if i < fused_stages else "mbconv", e, c, n, s)
        for i, (e, c, n, s) in enumerate(plan)
    ]
    return ExperimentNet(stages, in_channels=in_channels, num_classes=num_classes,
                         se_reduction=se_reduction)


# --------------------------------------------------------------------------------------------
# Training several seeds, summarising, comparing
# --------------------------------------------------------------------------------------------
@dataclass
class Run:
    """One trained variant at one seed."""

    label: str
    seed: int
    params: int
    history: list[dict[str, float]]
    model: nn.Module = field(repr=False)

    @property
    def test_accuracy(self) -> float:
        return self.history[-1]["test_accuracy"]


def run_seeds(
    build: Callable[[], nn.Module],
    data: tuple[ImageDataset, ImageDataset],
    *,
    label: str = "",
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 5,
    batch_size: int = 128,
    device: torch.device | str | None = None,
    **fit_kwargs: object,
) -> list[Run]:
    """Train a fresh ``build()`` for each seed on ``data = (train, test)``; the seed fixes the
    initial weights and the batch order (the split is the dataset's).
    Taught in chapter 7 (book/07_experiments.ipynb).
    """
    if len(seeds) < 1:
        raise ValueError("run_seeds: give at least one seed")
    device = pick_device() if device is None else torch.device(device)
    train_x, train_y = (t.to(device) for t in data[0].tensors())
    test_x, test_y = (t.to(device) for t in data[1].tensors())
    runs = []
    for seed in seeds:
        seed_everything(seed)
        model = build()
        history = fit(
            model,
            TensorLoader(train_x, train_y, batch_size, shuffle=True, seed=seed),
            TensorLoader(test_x, test_y, 1024),
            epochs=epochs, device=device, **fit_kwargs,  # type: ignore[arg-type]
        )
        runs.append(Run(label, seed, count_parameters(model, trainable_only=True), history, model))
    return runs


def summarize(runs: Sequence[Run]) -> dict[str, float]:
    """Mean and sample standard deviation of the final test accuracy over the seeds."""
    accuracies = [run.test_accuracy for run in runs]
    return {
        "mean": statistics.fmean(accuracies),
        "std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
        "n": len(accuracies),
        "params": runs[0].params,
    }


@dataclass(frozen=True)
class Comparison:
    """Two variants' accuracies and Welch's t-test of the gap between their means.

    ``difference = mean_a - mean_b``; ``stderr`` is its standard error
    ``sqrt(s_a^2 / n_a + s_b^2 / n_b)``; ``t = difference / stderr`` with the Welch-Satterthwaite
    degrees of freedom ``df``; ``p_value`` is two-sided. The gap counts as larger than the noise
    (``exceeds_noise``) when ``p_value < level`` (5 % by default), i.e. when
    ``|difference| > t_critical(df) * stderr``; with three seeds per variant ``df`` is about 4
    and that threshold about 2.8 standard errors, not 2.
    """

    name_a: str
    name_b: str
    mean_a: float
    std_a: float
    mean_b: float
    std_b: float
    n_a: int
    n_b: int
    level: float = 0.05

    @property
    def difference(self) -> float:
        return self.mean_a - self.mean_b

    @property
    def stderr(self) -> float:
        return math.sqrt(self.std_a**2 / self.n_a + self.std_b**2 / self.n_b)

    @property
    def df(self) -> float:
        """Welch-Satterthwaite degrees of freedom (``n_a + n_b - 2`` if both spreads are 0)."""
        va, vb = self.std_a**2 / self.n_a, self.std_b**2 / self.n_b
        if va + vb == 0.0:
            return float(self.n_a + self.n_b - 2)
        return (va + vb) ** 2 / (va**2 / (self.n_a - 1) + vb**2 / (self.n_b - 1))

    @property
    def t(self) -> float:
        """Welch's t statistic: the difference in standard errors."""
        if self.stderr == 0.0:
            return 0.0 if self.difference == 0.0 else math.copysign(math.inf, self.difference)
        return self.difference / self.stderr

    @property
    def p_value(self) -> float:
        """Two-sided p-value of Welch's t-test."""
        return t_two_sided_p(self.t, self.df)

    @property
    def threshold(self) -> float:
        """The smallest ``|difference|`` the test calls significant: ``t_critical(df) * SE``."""
        return t_critical(self.df, self.level) * self.stderr

    @property
    def exceeds_noise(self) -> bool:
        return self.p_value < self.level

    def sentence(self, unit: str = "percentage points", scale: float = 100.0) -> str:
        """A plain statement of the result, e.g. for the book's prose."""
        diff, two_se = scale * self.difference, 2 * scale * self.stderr
        a = f"{self.name_a} ({scale * self.mean_a:.1f} ± {scale * self.std_a:.1f})"
        b = f"{self.name_b} ({scale * self.mean_b:.1f} ± {scale * self.std_b:.1f})"
        seeds = (f"{self.n_a} seeds each" if self.n_a == self.n_b
                 else f"{self.n_a} and {self.n_b} seeds")
        test = (f"2·SE = {two_se:.1f}; Welch's t = {abs(self.t):.1f}, df = {self.df:.1f}, "
                f"p = {self.p_value:.2f}")
        if self.exceeds_noise:
            better, worse = (a, b) if diff > 0 else (b, a)
            text = (f"{better} beats {worse} by Δ = {abs(diff):.1f} {unit} ({test}): "
                    f"significant at the {100 * self.level:g} % level over {seeds}.")
        else:
            text = (f"{a} and {b} differ by Δ = {abs(diff):.1f} {unit} ({test}): not "
                    f"significant at the {100 * self.level:g} % level over {seeds}, so this run "
                    f"does not show a difference.")
        return text[0].upper() + text[1:]


def compare(runs_a: Sequence[Run], runs_b: Sequence[Run], name_a: str = "",
            name_b: str = "", level: float = 0.05) -> Comparison:
    """Compare the final test accuracies of two variants trained over several seeds, by Welch's
    two-sided t-test at ``level``.

    Taught in chapter 7 (book/07_experiments.ipynb).
    """
    a, b = summarize(runs_a), summarize(runs_b)
    if a["n"] < 2 or b["n"] < 2:
        raise ValueError("compare: each variant needs at least 2 seeds to estimate the noise")
    if not 0.0 < level < 1.0:
        raise ValueError(f"compare: level must be in (0, 1), got {level}")
    return Comparison(name_a or runs_a[0].label, name_b or runs_b[0].label,
                      a["mean"], a["std"], b["mean"], b["std"], int(a["n"]), int(b["n"]), level)


@torch.no_grad()
def se_gates_per_class(
    model: nn.Module, images: Tensor, labels: Tensor, num_classes: int = 10,
    batch_size: int = 512,
) -> dict[str, Tensor]:
    """Mean SE gate per class for every SE module: ``name -> (num_classes, C)``.

    Runs ``model`` in eval mode over ``images (N, C_in, H, W)`` and records each
    :class:`~mbcourse.blocks.SqueezeExcitation`'s gate (``(batch, C)``) with
    :func:`~mbcourse.blocks.record_se_gates`. Taught in chapter 7 (book/07_experiments.ipynb).
    """
    modules = {n: m for n, m in model.named_modules() if isinstance(m, SqueezeExcitation)}
    if not modules:
        raise ValueError("se_gates_per_class: the model has no SqueezeExcitation modules")
    model.eval()
    device = next(model.parameters()).device
    sums = {n: torch.zeros(num_classes, m.channels, dtype=torch.float64)
            for n, m in modules.items()}
    counts = torch.bincount(labels.cpu(), minlength=num_classes).double()
    with record_se_gates(model) as gates:
        for start in range(0, images.shape[0], batch_size):
            x = images[start : start + batch_size].to(device)
            y = labels[start : start + batch_size].cpu()
            model(x)
            for name in modules:
                sums[name].index_add_(0, y, gates[name].double().cpu())
    return {n: (s / counts.clamp_min(1)[:, None]).float() for n, s in sums.items()}


@torch.no_grad()
def gate_statistics(
    model: nn.Module, images: Tensor, labels: Tensor, num_classes: int = 10,
    batch_size: int = 500,
) -> dict[str, dict[str, Any]]:
    """How class-specific each SE module's gates are, as a share of their variance.

    For every :class:`~mbcourse.blocks.SqueezeExcitation` (``name -> stats``), over the
    ``(N, C)`` gates of ``images``: ``class_share``, the between-class sum of squares over the
    total sum of squares, pooled over the channels (0: every class gets the same gates, 1: the
    class alone sets them; the normalised version of "how much the class means spread");
    ``mean`` and ``sd`` of all gates; ``class_means`` ``(num_classes, C)``.
    Taught in chapter 7 (book/07_experiments.ipynb).
    """
    modules = [n for n, m in model.named_modules() if isinstance(m, SqueezeExcitation)]
    if not modules:
        raise ValueError("gate_statistics: the model has no SqueezeExcitation modules")
    model.eval()
    device = next(model.parameters()).device
    sums: dict[str, Tensor] = {}
    squares: dict[str, Tensor] = {}
    counts = torch.bincount(labels.cpu(), minlength=num_classes).double()
    with record_se_gates(model) as gates:
        for start in range(0, images.shape[0], batch_size):
            model(images[start : start + batch_size].to(device))
            y = labels[start : start + batch_size].cpu()
            for name in modules:
                g = gates[name].double().cpu()
                if name not in sums:
                    sums[name] = torch.zeros(num_classes, g.shape[1], dtype=torch.float64)
                    squares[name] = torch.zeros(g.shape[1], dtype=torch.float64)
                sums[name].index_add_(0, y, g)
                squares[name] += (g * g).sum(0)
    n = counts.sum()
    result = {}
    for name in modules:
        class_means = sums[name] / counts.clamp_min(1)[:, None]
        grand = sums[name].sum(0) / n
        total = float((squares[name] - n * grand**2).sum())
        between = float((counts[:, None] * (class_means - grand) ** 2).sum())
        mean = float(grand.mean())
        result[name] = {
            "class_share": between / total if total > 0 else 0.0,
            "mean": mean,
            "sd": math.sqrt(max(0.0, float(squares[name].sum() / (n * grand.numel()))
                                - mean**2)),
            "class_means": class_means.float(),
        }
    return result


# --------------------------------------------------------------------------------------------
# Chapter 7's study: variants, the family of comparisons, deterministic runs
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """One network of the study, built by name: ``builder(**options)`` for ``builder`` one of
    ``"mobilenet_v2"`` (:func:`tiny_mobilenet_v2`) and ``"efficientnet"``
    (:func:`tiny_efficientnet`)."""

    name: str
    label: str
    builder: str
    options: tuple[tuple[str, Any], ...] = ()

    def build(self) -> ExperimentNet:
        builders = {"mobilenet_v2": tiny_mobilenet_v2, "efficientnet": tiny_efficientnet}
        return builders[self.builder](**dict(self.options))


#: The EfficientNet-style networks expand 4x in every stage (B0 uses 1 in the first), so that a
#: fused first stage can match MBConv's cost (see :func:`fused_match`).
EN_EXPANSION = (4, 4, 4)

#: Chapter 7's networks. The two fused ones fuse stages 1-2 (at 32 x 32 and 16 x 16) with the
#: expansions :func:`fused_match` picks to match the MBConv network's parameters or its
#: multiply-adds (``tests/test_experiments.py`` checks that these are its picks).
VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("mv2", "linear bottleneck, shortcuts (MobileNetV2)", "mobilenet_v2"),
    Variant("mv2_relu6", "ReLU6 after the projection", "mobilenet_v2",
            (("linear_bottleneck", False),)),
    Variant("mv2_no_shortcut", "no shortcuts", "mobilenet_v2", (("residual", False),)),
    Variant("en", "MBConv, no SE", "efficientnet", (("expand_ratios", EN_EXPANSION),)),
    *(Variant(f"en_se{r}", f"MBConv + SE, r = {r}", "efficientnet",
              (("expand_ratios", EN_EXPANSION), ("se_reduction", r))) for r in (1, 16)),
    Variant("fused_params", "Fused-MBConv stages 1-2, matched parameters", "efficientnet",
            (("fused_stages", 2), ("expand_ratios", (1.25, 1, 4)))),
    Variant("fused_macs", "Fused-MBConv stages 1-2, matched multiply-adds", "efficientnet",
            (("fused_stages", 2), ("expand_ratios", (1, 1.5, 4)))),
)}

#: The SE reductions of the study (no reduction, and SENet's choice), and the variant whose
#: gates are analysed (SENet's r = 16).
SE_REDUCTIONS = (1, 16)
GATE_VARIANT = "en_se16"
#: Pseudo-variants of the gate comparison: the class share of the first / last SE module.
GATES_FIRST, GATES_LAST = "gates_first", "gates_last"

#: Chapter 7's family of comparisons ``name -> (a, b, what is matched)``: Holm's correction
#: runs over all of them together.
COMPARISONS: dict[str, tuple[str, str, str]] = {
    "linear vs ReLU6": ("mv2", "mv2_relu6", "same parameters and multiply-adds"),
    "shortcuts vs none": ("mv2", "mv2_no_shortcut", "same parameters and multiply-adds"),
    **{f"SE r = {r} vs none": (f"en_se{r}", "en", "SE adds parameters") for r in SE_REDUCTIONS},
    "SE r = 1 vs r = 16": ("en_se1", "en_se16", "r = 1 adds parameters"),
    "fused vs MBConv (matched parameters)": ("fused_params", "en", "parameters"),
    "fused vs MBConv (matched multiply-adds)": ("fused_macs", "en", "multiply-adds"),
    "SE gates: last vs first module": (GATES_LAST, GATES_FIRST, "class share of gate variance"),
}

STUDY_FILE = "ch7_experiments.json"
STUDY_SCHEMA = 1


def network_costs(model: nn.Module, canvas: int = 32) -> dict[str, int]:
    """``{"params": trainable parameters, "macs": multiply-adds of one canvas x canvas image}``
    (:func:`mbcourse.measure.count_flops`)."""
    return {"params": count_parameters(model, trainable_only=True),
            "macs": int(count_flops(model.eval(), (1, 3, canvas, canvas)).macs)}


def fused_match(
    target: str,
    *,
    grid: Sequence[float] = (1, 1.25, 1.5, 1.75, 2, 3, 4),
    canvas: int = 32,
) -> tuple[tuple[float, float, float], float]:
    """The expansions ``(e1, e2, 4)`` of a tiny EfficientNet with Fused-MBConv in stages 1-2
    whose ``target`` cost (``"params"`` or ``"macs"``) is closest, on a log scale, to the MBConv
    network's (:data:`VARIANTS` ``"en"``); returns them and the achieved cost ratio."""
    if target not in ("params", "macs"):
        raise ValueError(f"fused_match: target must be 'params' or 'macs', got {target!r}")
    reference = network_costs(VARIANTS["en"].build(), canvas)[target]
    best: tuple[float, tuple[float, float, float], float] | None = None
    for e1 in grid:
        for e2 in grid:
            ratios = (e1, e2, EN_EXPANSION[2])
            model = tiny_efficientnet(fused_stages=2, expand_ratios=ratios)
            ratio = network_costs(model, canvas)[target] / reference
            if best is None or abs(math.log(ratio)) < best[0]:
                best = (abs(math.log(ratio)), ratios, ratio)
    assert best is not None
    return best[1], best[2]


@dataclass(frozen=True)
class StudyConfig:
    """How every run of the study trains: data (cluttered digits), schedule, threads.

    Each seed ``s`` draws its own ``n_train`` training canvases, initial weights and batch
    order, shared by every variant (the pairing); the ``n_test`` test canvases are fixed.
    AdamW with a per-step cosine schedule from ``lr``, float32, channels-last, on
    ``threads`` CPU threads with deterministic algorithms.
    """

    n_train: int = 3000
    n_test: int = 4000
    canvas: int = 32
    clutter: int = 4
    epochs: int = 3
    batch_size: int = 128
    lr: float = 1e-2
    seeds: tuple[int, ...] = tuple(range(10))
    threads: int = 1
    channels_last: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seeds": list(self.seeds)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StudyConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "seeds" in known:
            known["seeds"] = tuple(known["seeds"])
        return cls(**known)


def _study_data(config: StudyConfig, seed: int) -> tuple[ImageDataset, ImageDataset]:
    return load_cluttered_digits(config.n_train, config.n_test, seed=seed,
                                 canvas=config.canvas, clutter=config.clutter)


@torch.no_grad()
def _predict(model: nn.Module, images: Tensor, channels_last: bool) -> Tensor:
    model.eval()
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    out = [model(images[i : i + 1000].contiguous(memory_format=memory_format)).argmax(1)
           for i in range(0, images.shape[0], 1000)]
    return torch.cat(out)


def _pack_bits(hits: Tensor) -> str:
    return np.packbits(hits.numpy().astype(np.uint8)).tobytes().hex()


def unpack_hits(text: str, n: int) -> np.ndarray:
    """The per-image hits stored by :func:`train_one` (hex of packed bits) as ``bool (n,)``."""
    return np.unpackbits(np.frombuffer(bytes.fromhex(text), dtype=np.uint8))[:n].astype(bool)


def train_one(variant: str, seed: int, config: StudyConfig | None = None, *,
              keep_hits: bool = False, keep_gate_means: bool = False) -> dict[str, Any]:
    """Train ``VARIANTS[variant]`` with ``seed`` under ``config``; its record for the store.

    Deterministic: ``config.threads`` threads, ``torch.use_deterministic_algorithms``, the
    data, weights and batch order all drawn from ``seed``. The record holds ``variant``,
    ``seed``, ``params``, ``correct`` (of ``n_test``), ``test_accuracy``, ``train_loss`` per
    epoch, ``init_checksum`` (:func:`~mbcourse.training.train.parameter_checksum` before
    training), ``train_sha256`` (the training canvases), ``cpu_seconds``/``wall_seconds``; the
    gate variant adds ``gate_share`` per SE module (and ``gate_means`` of the first and last
    module with ``keep_gate_means``); ``keep_hits`` adds the per-image hits.
    """
    config = config or StudyConfig()
    if variant not in VARIANTS:
        raise ValueError(f"train_one: unknown variant {variant!r}; expected one of "
                         f"{sorted(VARIANTS)}")
    threads_before = torch.get_num_threads()
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True)
    try:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        train, test = _study_data(config, seed)
        train_x, train_y = train.tensors()
        test_x, test_y = test.tensors()
        seed_everything(seed)
        model = VARIANTS[variant].build()
        init = parameter_checksum(model)
        history = fit(
            model, TensorLoader(train_x, train_y, config.batch_size, shuffle=True, seed=seed),
            None, epochs=config.epochs, lr=config.lr, device="cpu", amp="off",
            channels_last=config.channels_last,
        )
        hits = _predict(model, test_x, config.channels_last) == test_y
        record: dict[str, Any] = {
            "variant": variant, "seed": seed,
            "params": count_parameters(model, trainable_only=True),
            "correct": int(hits.sum()), "n_test": int(hits.numel()),
            "test_accuracy": float(hits.double().mean()),
            "train_loss": [h["train_loss"] for h in history],
            "init_checksum": init,
            "train_sha256": stored.sha256_of(train.images, train.labels),
        }
        if keep_hits:
            record["hits"] = _pack_bits(hits)
        if variant == GATE_VARIANT:
            stats = gate_statistics(model, test_x, test_y)
            record["gate_share"] = {n: s["class_share"] for n, s in stats.items()}
            if keep_gate_means:
                names = list(stats)
                record["gate_means"] = {
                    n: [[round(float(v), 4) for v in row] for row in stats[n]["class_means"]]
                    for n in (names[0], names[-1])
                }
        record["cpu_seconds"] = round(time.process_time() - cpu0, 2)
        record["wall_seconds"] = round(time.perf_counter() - wall0, 2)
        return record
    finally:
        torch.set_num_threads(threads_before)
        torch.use_deterministic_algorithms(deterministic_before)


def _train_task(task: tuple[str, int, dict[str, Any], bool]) -> dict[str, Any]:
    variant, seed, config, first = task
    return train_one(variant, seed, StudyConfig.from_dict(config), keep_hits=first,
                     keep_gate_means=first)


def _run_tasks(tasks: list[tuple[str, int, dict[str, Any], bool]], workers: int,
               done: Callable[[dict[str, Any]], None]) -> None:
    """Run ``tasks`` (in processes when ``workers > 1``), calling ``done`` with each record."""
    if workers <= 1:
        for task in tasks:
            done(_train_task(task))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(_train_task, task) for task in tasks]
        for future in as_completed(futures):
            done(future.result())


def run_study(
    config: StudyConfig | None = None,
    *,
    variants: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    workers: int = 1,
    out: str | Path | None = None,
    command: str = "",
    resume: Mapping[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train every variant (default: all of :data:`VARIANTS`) with every seed (default:
    ``config.seeds``) and return the study as a JSON-ready dict: provenance, config, data
    fingerprint, variants with their costs, the comparisons, and one record per run
    (:func:`train_one`). With ``out`` the study is rewritten after every run (a crash loses
    nothing; ``resume`` a partial study to skip the runs it holds). ``workers`` processes each
    train on ``config.threads`` threads.
    """
    config = config or StudyConfig()
    names = list(variants or VARIANTS)
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise ValueError(f"run_study: unknown variants {unknown}; expected {sorted(VARIANTS)}")
    seeds = list(config.seeds if seeds is None else seeds)
    if not seeds:
        raise ValueError("run_study: give at least one seed")
    started = time.perf_counter()
    _, test = _study_data(config, seeds[0])
    study: dict[str, Any] = {
        "schema": STUDY_SCHEMA,
        "study": "chapter 7: paired ablations on the cluttered digits",
        "provenance": stored.provenance(command, threads=config.threads),
        "config": config.as_dict(),
        "data": {"name": "cluttered digits (mbcourse.training.data.load_cluttered_digits)",
                 "canvas": config.canvas, "clutter": config.clutter, "n_train": config.n_train,
                 "n_test": config.n_test,
                 "test_sha256": stored.sha256_of(test.images, test.labels)},
        "variants": {name: {"label": VARIANTS[name].label, "builder": VARIANTS[name].builder,
                            "options": {k: v for k, v in VARIANTS[name].options},
                            **network_costs(VARIANTS[name].build(), config.canvas)}
                     for name in names},
        "comparisons": {name: {"a": a, "b": b, "matched": m}
                        for name, (a, b, m) in COMPARISONS.items()},
        "runs": [],
    }
    held = {(r["variant"], r["seed"]): r for r in (resume or {}).get("runs", [])}
    study["runs"] = list(held.values())
    tasks = [(v, s, config.as_dict(), s == seeds[0]) for s in seeds for v in names
             if (v, s) not in held]

    def done(record: dict[str, Any]) -> None:
        study["runs"].append(record)
        study["seconds"] = round(time.perf_counter() - started, 1)
        if log:
            log(f"{record['variant']:>16} seed {record['seed']:>2}: "
                f"{100 * record['test_accuracy']:.2f} % ({record['cpu_seconds']:.0f} s CPU); "
                f"{len(study['runs'])} of {len(names) * len(seeds)} runs")
        if out is not None:
            stored.write_json(out, study)

    _run_tasks(tasks, workers, done)
    study["runs"].sort(key=lambda r: (r["seed"], names.index(r["variant"])))
    study["seconds"] = round(time.perf_counter() - started, 1)
    if out is not None:
        stored.write_json(out, study)
    return study


# --------------------------------------------------------------------------------------------
# Reading, analysing and reproducing the stored study
# --------------------------------------------------------------------------------------------
#: How closely a re-run must reproduce a stored run. On the machine and software that made the
#: file (same CPU model and vector flags, same torch, same threads) training is bit-for-bit
#: deterministic: ``correct`` and every epoch's loss must be equal. Elsewhere other kernels
#: (AVX2 instead of AVX-512, another oneDNN) round differently; over thousands of steps at this
#: learning rate the runs drift apart as far as two seeds do (:func:`kernel_drift` measures
#: it), so a re-run must only lie within ``sd_multiple`` seed standard deviations of the
#: variant's stored mean, while the data (exact), the initial weights (``init_rel``) and the
#: first epoch's mean loss (``first_loss_rel``), which rounding barely moves, are checked
#: tightly.
TOLERANCE: dict[str, Any] = {
    "same_machine": {"correct": 0, "train_loss_rel": 0.0},
    "other_machine": {"sd_multiple": 4.0, "first_loss_rel": 0.02, "init_rel": 1e-9},
}


def load_study(name: str = STUDY_FILE, path: str | Path | None = None) -> dict[str, Any]:
    """The stored study (``book/data/ch7_experiments.json``; :func:`~mbcourse.studies.stored.
    find_stored` finds it), checked for the fields the chapter reads."""
    study = stored.read_json(path if path is not None else stored.find_stored(name), "load_study")
    missing = [k for k in ("schema", "provenance", "config", "data", "variants", "runs")
               if k not in study]
    if missing:
        raise ValueError(f"load_study: {name} lacks {missing}")
    if study["schema"] != STUDY_SCHEMA:
        raise ValueError(f"load_study: {name} has schema {study['schema']}, this code reads "
                         f"{STUDY_SCHEMA}; re-create it with python -m "
                         "mbcourse.studies.experiments --full")
    return study


@dataclass(frozen=True)
class StudyAnalysis:
    """What chapter 7 reads from a stored study: per-variant accuracies by seed (``values``,
    fractions), their summaries, the gate shares, and the family of :class:`PairedTest`."""

    seeds: tuple[int, ...]
    values: dict[str, list[float]]
    summaries: dict[str, dict[str, float]]
    tests: dict[str, PairedTest]
    gate_shares: dict[str, list[float]]


def analyse_study(study: Mapping[str, Any], level: float = 0.05) -> StudyAnalysis:
    """Paired tests of every comparison in :data:`COMPARISONS` whose variants the study holds,
    Holm-adjusted together, on the seeds that every variant ran."""
    runs = study["runs"]
    by_variant: dict[str, dict[int, dict[str, Any]]] = {}
    for r in runs:
        by_variant.setdefault(r["variant"], {})[int(r["seed"])] = r
    seeds = sorted(set.intersection(*(set(v) for v in by_variant.values())))
    if len(seeds) < 2:
        raise ValueError("analyse_study: the variants share fewer than 2 seeds")
    values = {v: [by_variant[v][s]["test_accuracy"] for s in seeds] for v in by_variant}
    gate_shares: dict[str, list[float]] = {}
    if GATE_VARIANT in by_variant:
        per_seed = [by_variant[GATE_VARIANT][s]["gate_share"] for s in seeds]
        for name in per_seed[0]:
            gate_shares[name] = [p[name] for p in per_seed]
        modules = list(per_seed[0])
        values[GATES_FIRST] = gate_shares[modules[0]]
        values[GATES_LAST] = gate_shares[modules[-1]]
    summaries = {}
    for v, xs in values.items():
        info = study["variants"].get(v, {})
        summaries[v] = {"mean": statistics.fmean(xs), "sd": statistics.stdev(xs),
                        "n": len(xs), "params": info.get("params", 0),
                        "macs": info.get("macs", 0)}
    family = {name: (a, b) for name, (a, b, _) in COMPARISONS.items()
              if a in values and b in values}
    tests = paired_family(family, values, level) if family else {}
    return StudyAnalysis(tuple(seeds), values, summaries, tests, gate_shares)


def _same_machine(study: Mapping[str, Any], threads: int) -> bool:
    here = stored.machine(threads)
    there = study["provenance"]["machine"]
    keys = ("cpu", "cpu_flags", "threads", "architecture")
    return (all(here.get(k) == there.get(k) for k in keys)
            and stored.versions()["torch"] == study["provenance"]["versions"]["torch"])


def reproduce(
    study: Mapping[str, Any], variants: Sequence[str], seeds: Sequence[int], *,
    workers: int = 1,
) -> list[dict[str, Any]]:
    """Re-run the stored study's ``variants`` x ``seeds`` under its stored config."""
    config = StudyConfig.from_dict(study["config"])
    tasks = [(v, s, config.as_dict(), False) for s in seeds for v in variants]
    records: list[dict[str, Any]] = []
    _run_tasks(tasks, workers, records.append)
    return records


def reproduction_errors(
    study: Mapping[str, Any], records: Iterable[Mapping[str, Any]],
    same_machine: bool | None = None,
) -> list[str]:
    """Every way ``records`` (from :func:`reproduce`) fail to match the stored runs within
    :data:`TOLERANCE` (``same_machine`` default: decided from the stored provenance); an
    empty list when they reproduce."""
    config = StudyConfig.from_dict(study["config"])
    if same_machine is None:
        same_machine = _same_machine(study, config.threads)
    tolerance = TOLERANCE
    stored_runs = {(r["variant"], r["seed"]): r for r in study["runs"]}
    errors = []
    for new in records:
        key = (new["variant"], new["seed"])
        old = stored_runs.get(key)
        if old is None:
            errors.append(f"{key}: no stored run")
            continue
        where = f"{new['variant']} seed {new['seed']}"
        if new["train_sha256"] != old["train_sha256"]:
            errors.append(f"{where}: the training canvases differ from the stored ones")
        if not math.isclose(new["init_checksum"], old["init_checksum"],
                            rel_tol=tolerance["other_machine"]["init_rel"]):
            errors.append(f"{where}: initial weights differ (checksum {new['init_checksum']} "
                          f"vs {old['init_checksum']})")
        if same_machine:
            if new["correct"] != old["correct"]:
                errors.append(f"{where}: {new['correct']} correct, stored {old['correct']} "
                              "(same machine and software: must be equal)")
            if new["train_loss"] != old["train_loss"]:
                errors.append(f"{where}: training losses differ from the stored ones on the "
                              "same machine")
            continue
        first_rel = abs(new["train_loss"][0] / old["train_loss"][0] - 1)
        if first_rel > tolerance["other_machine"]["first_loss_rel"]:
            errors.append(f"{where}: first-epoch loss {new['train_loss'][0]:.4f} vs stored "
                          f"{old['train_loss'][0]:.4f}")
        seeds = [r["test_accuracy"] for r in study["runs"] if r["variant"] == new["variant"]]
        mean = statistics.fmean(seeds)
        sd = statistics.stdev(seeds) if len(seeds) > 1 else 0.0
        allowed = tolerance["other_machine"]["sd_multiple"] * sd
        if abs(new["test_accuracy"] - mean) > allowed:
            errors.append(f"{where}: test accuracy {100 * new['test_accuracy']:.2f} % is more "
                          f"than {100 * allowed:.2f} points from the stored mean "
                          f"{100 * mean:.2f} % ({tolerance['other_machine']['sd_multiple']:g} "
                          "seed standard deviations)")
    return errors


#: Environment that makes PyTorch use its AVX2 kernels (ATen and oneDNN) on an AVX-512 machine:
#: the kernels of a machine without AVX-512, such as many CI runners.
AVX2_KERNELS = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
DRIFT_FILE = "ch7_drift.json"


def kernel_drift(
    study: Mapping[str, Any], variants: Sequence[str], seeds: Sequence[int], *,
    env: Mapping[str, str] = AVX2_KERNELS, command: str = "",
) -> dict[str, Any]:
    """How far runs drift when only the CPU kernels change: re-train the stored study's
    ``variants`` x ``seeds`` in a fresh process with ``env`` (default: AVX2 instead of
    AVX-512 kernels) and set each beside the stored run. Returns a JSON-ready dict with
    provenance and one row per run: stored and re-run accuracy, first and last epoch loss."""
    import json
    import os
    import subprocess

    config = StudyConfig.from_dict(study["config"])
    stored_runs = {(r["variant"], r["seed"]): r for r in study["runs"]}
    rows = []
    for variant in variants:
        for seed in seeds:
            script = ("import json, sys; from mbcourse.studies import experiments as E; "
                      "c = E.StudyConfig.from_dict(json.loads(sys.argv[3])); "
                      "print(json.dumps(E.train_one(sys.argv[1], int(sys.argv[2]), c)))")
            done = subprocess.run(
                [sys.executable, "-c", script, variant, str(seed), json.dumps(config.as_dict())],
                env={**os.environ, **env}, capture_output=True, text=True, check=True)
            new = json.loads(done.stdout.strip().splitlines()[-1])
            old = stored_runs[(variant, seed)]
            rows.append({"variant": variant, "seed": seed,
                         "stored_accuracy": old["test_accuracy"],
                         "rerun_accuracy": new["test_accuracy"],
                         "stored_loss": [old["train_loss"][0], old["train_loss"][-1]],
                         "rerun_loss": [new["train_loss"][0], new["train_loss"][-1]],
                         "same_data": new["train_sha256"] == old["train_sha256"],
                         "same_init": new["init_checksum"] == old["init_checksum"]})
    return {"provenance": {**stored.provenance(command, threads=config.threads),
                           "environment": dict(env)},
            "study_commit": study["provenance"]["commit"], "rows": rows}


# --------------------------------------------------------------------------------------------
# Command line: python -m mbcourse.studies.experiments --full
# --------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """``python -m mbcourse.studies.experiments --full``: run and store chapter 7's study."""
    parser = argparse.ArgumentParser(
        prog="python -m mbcourse.studies.experiments",
        description="Train chapter 7's variants over shared seeds and store the study.",
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--full", action="store_true", help="every variant, every seed")
    mode.add_argument("--pilot", action="store_true",
                      help="every variant with the first seed: how long the full run takes")
    mode.add_argument("--reproduce", action="store_true",
                      help="re-run --variants x --seeds of the stored study and compare")
    mode.add_argument("--drift", action="store_true",
                      help="re-run --variants x --seeds with AVX2 kernels; store how far they "
                           f"drift (book/data/{DRIFT_FILE})")
    parser.add_argument("--variants", nargs="+", default=None, choices=sorted(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=None)
    parser.add_argument("--workers", type=int, default=1, help="processes (one thread each)")
    parser.add_argument("--out", default=None,
                        help=f"where to write (default for --full: book/data/{STUDY_FILE})")
    parser.add_argument("--resume", action="store_true", help="keep the runs already in --out")
    args = parser.parse_args(argv)
    command = "python -m mbcourse.studies.experiments " + " ".join(
        sys.argv[1:] if argv is None else argv)
    if args.drift:
        study = load_study()
        drift = kernel_drift(study, args.variants or ["mv2"], args.seeds or [0, 1],
                             command=command)
        out = args.out or str(stored.DATA_DIR / DRIFT_FILE)
        stored.write_json(out, drift)
        for row in drift["rows"]:
            print(f"{row['variant']} seed {row['seed']}: stored "
                  f"{100 * row['stored_accuracy']:.2f} %, AVX2 kernels "
                  f"{100 * row['rerun_accuracy']:.2f} %")
        print(f"wrote {out}")
        return drift
    if args.reproduce:
        study = load_study()
        variants = args.variants or ["mv2", "fused_macs"]
        seeds = args.seeds or list(StudyConfig.from_dict(study["config"]).seeds[:2])
        records = reproduce(study, variants, seeds, workers=args.workers)
        errors = reproduction_errors(study, records)
        print("\n".join(errors) if errors else f"reproduced {len(records)} runs")
        return {"records": records, "errors": errors}
    config = StudyConfig()
    seeds = args.seeds or (list(config.seeds[:1]) if args.pilot else list(config.seeds))
    out = args.out or (str(stored.DATA_DIR / STUDY_FILE) if args.full else None)
    resume = stored.read_json(out) if args.resume and out and Path(out).is_file() else None
    study = run_study(config, variants=args.variants, seeds=seeds, workers=args.workers,
                      out=out, command=command, resume=resume,
                      log=lambda line: print(line, flush=True))
    total = sum(r["cpu_seconds"] for r in study["runs"])
    print(f"{len(study['runs'])} runs, {total:.0f} s of CPU, {study['seconds']:.0f} s wall"
          + (f"; wrote {out}" if out else ""))
    if args.pilot:
        per_seed = total / len(seeds)
        full = per_seed * len(config.seeds) / max(1, args.workers)
        print(f"a full run of {len(config.seeds)} seeds: about {full / 60:.0f} min with "
              f"{args.workers} worker(s) on an otherwise idle machine")
    return study


if __name__ == "__main__":
    main()
