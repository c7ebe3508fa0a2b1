"""Small networks for controlled experiments, a multi-seed runner, and an honest comparison.

The papers' ablations change one thing in a block: a ReLU6 after MobileNetV2's projection
(Figure 6a: "linear bottleneck" or not), the shortcut removed (Figure 6b), an SE module of
reduction ``r`` added (SENet Table 10), fused convolutions in the early stages (EfficientNetV2
Table 3). Here each change is applied to the *faithful* blocks of :mod:`mbcourse.blocks` after
they are built, by the functions :func:`make_nonlinear_bottleneck`, :func:`remove_shortcut` and
:func:`attach_se`, so the blocks themselves keep torchvision's behaviour.

:class:`ExperimentNet` is a CPU-sized network (stem, a few stages, 1x1 head, pool, linear) for
16 x 16 to 32 x 32 inputs; :func:`run_seeds` trains one variant over several seeds with
:func:`mbcourse.training.train.fit`; :func:`compare` says whether two variants differ by more
than the seed-to-seed noise, by Welch's t-test.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

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
from ..measure import count_parameters
from ..runtime import pick_device, seed_everything
from ..training.data import ImageDataset, TensorLoader
from ..training.train import fit

__all__ = [
    "BLOCK_TYPES",
    "Comparison",
    "ExperimentNet",
    "Run",
    "Stage",
    "attach_se",
    "compare",
    "make_nonlinear_bottleneck",
    "remove_shortcut",
    "run_seeds",
    "se_gates_per_class",
    "summarize",
    "t_critical",
    "t_two_sided_p",
    "tiny_efficientnet",
    "tiny_mobilenet_v2",
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
    """``stem 3x3 -> stages -> 1x1 head -> global pool -> linear``:
    ``(N, C_in, S, S) -> (N, num_classes)``.

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
) -> ExperimentNet:
    """EfficientNet in miniature: stages of 16, 24, 32 channels (expansion 1, 4, 4), SiLU;
    the first ``fused_stages`` stages use Fused-MBConv (EfficientNetV2's early stages), the
    others MBConv, with SE of reduction ``se_reduction`` (``None``: no SE)."""
    if not 0 <= fused_stages <= 3:
        raise ValueError(f"tiny_efficientnet: fused_stages must be 0..3, got {fused_stages!r}")
    plan = ((1, 16, 1, 1), (4, 24, repeats, 2), (4, 32, repeats, 2))
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


def _incomplete_beta(x: float, a: float, b: float) -> float:
    """Regularized incomplete beta function I_x(a, b), by its continued fraction (Lentz)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1.0) / (a + b + 2.0):  # the continued fraction converges fast on this side
        return 1.0 - _incomplete_beta(1.0 - x, b, a)
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 500):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return math.exp(log_front) * fraction / a


def t_two_sided_p(t: float, df: float) -> float:
    """Two-sided p-value of Student's t distribution with ``df`` (> 0, not only whole) degrees
    of freedom: ``P(|T| >= |t|)``."""
    if not df > 0:
        raise ValueError(f"t_two_sided_p: df must be > 0, got {df}")
    if math.isinf(t):
        return 0.0
    return _incomplete_beta(df / (df + t * t), df / 2.0, 0.5)


def t_critical(df: float, level: float = 0.05) -> float:
    """The ``t`` with two-sided p-value ``level``: 2.776 for df = 4 and level 0.05."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"t_critical: level must be in (0, 1), got {level}")
    low, high = 0.0, 1.0
    while t_two_sided_p(high, df) > level:
        high *= 2.0
    for _ in range(100):  # bisection: the p-value falls as t grows
        mid = (low + high) / 2.0
        low, high = (mid, high) if t_two_sided_p(mid, df) > level else (low, mid)
    return (low + high) / 2.0


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
