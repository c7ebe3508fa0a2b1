"""Chapter 4 (MBConv): the numbers its prose prints, its measurements and its plots. Taught in
chapter 4 (book/04_mbconv.ipynb).

* :func:`facts` -> :class:`Ch4Facts`: every number of the chapter's text, from the package's
  blocks, :mod:`mbcourse.costs`, EfficientNet-B0 and MobileNetV3-Large/Small.
* :func:`activation_gaps` and :func:`plot_activations`: SiLU against hard-swish, the sigmoid
  against hard-sigmoid (MobileNetV3's two "hard" functions), with ReLU6.
* :func:`dropout_check` (:class:`DropCheck`): 200,000 samples of ones through
  :class:`~mbcourse.blocks.StochasticDepth`.
* :func:`monte_carlo_error` (:class:`MonteCarlo`) and :func:`plot_monte_carlo`: the error of the
  mean of ``K`` training-mode outputs of an MBConv against its evaluation-mode output.
* :func:`drop_rates` (:class:`DropRates`) and :func:`plot_drop_rates`: B0's stochastic depth
  rates, read back from its blocks.
* :func:`se_width_rows` (:class:`SEWidth`): MobileNetV3's SE widths, sized from the expanded
  width, beside EfficientNet's rule from the block input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torch import nn

from .. import costs
from ..blocks import (
    HardSigmoidSE,
    InvertedResidual,
    MBConv,
    MobileNetV3Block,
    StochasticDepth,
    make_divisible,
)
from ..display import FIGURE_WIDTH_IN
from ..measure import count_flops, count_parameters
from ..models import (
    MobileNetV3,
    efficientnet_b0,
    efficientnet_config,
    get_model,
    mobilenet_v3_table,
)
from ..validation import check_int, check_probability

__all__ = [
    "MC_KS",
    "V3_NAMES",
    "ActivationGaps",
    "Ch4Facts",
    "DropCheck",
    "DropRates",
    "MonteCarlo",
    "SEWidth",
    "activation_gaps",
    "drop_rates",
    "dropout_check",
    "facts",
    "monte_carlo_error",
    "plot_activations",
    "plot_drop_rates",
    "plot_monte_carlo",
    "se_width_markdown",
    "se_width_rows",
    "table_markdown",
]

#: The group sizes ``K`` of the Monte-Carlo figure.
MC_KS: tuple[int, ...] = (1, 4, 16, 64, 256, 1024)
#: MobileNetV3's two networks, as :func:`~mbcourse.models.get_model` names them.
V3_NAMES: tuple[str, str] = ("mobilenet_v3_large", "mobilenet_v3_small")


# ---- activations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivationGaps:
    """The largest distance between each smooth function and its hard version on ``[-8, 8]``
    (1601 points) and where it is."""

    swish_gap: float  # max |SiLU - hard-swish|
    swish_at: float
    sigmoid_gap: float  # max |sigmoid - hard-sigmoid|
    sigmoid_at: float


def _grid() -> torch.Tensor:
    return torch.linspace(-8, 8, 1601)


def activation_gaps() -> ActivationGaps:
    """SiLU against hard-swish ``x ReLU6(x + 3) / 6`` and the sigmoid against hard-sigmoid
    ``ReLU6(x + 3) / 6`` (torch's ``hardswish``/``hardsigmoid``), on ``[-8, 8]``."""
    xs = _grid()
    f = nn.functional
    swish = (f.silu(xs) - f.hardswish(xs)).abs()
    sigmoid = (torch.sigmoid(xs) - f.hardsigmoid(xs)).abs()
    return ActivationGaps(
        swish_gap=swish.max().item(), swish_at=xs[swish.argmax()].item(),
        sigmoid_gap=sigmoid.max().item(), sigmoid_at=xs[sigmoid.argmax()].item(),
    )


def plot_activations() -> Figure:
    """Two panels, one above the other: ReLU6, SiLU and hard-swish (MBConv's and MobileNetV3's
    activations); the sigmoid and hard-sigmoid (the SE gates). ``x`` in ``[-6, 6]``."""
    xs = torch.linspace(-6, 6, 601)
    f = nn.functional
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(FIGURE_WIDTH_IN, 7.0), sharex=True)
    top.plot(xs, f.relu6(xs), color="0.45", label="ReLU6 (MobileNetV2)")
    top.plot(xs, f.silu(xs), color="C0", label="SiLU = x·σ(x) (MBConv)")
    top.plot(xs, f.hardswish(xs), color="C1", linestyle="--",
             label="hard-swish = x·ReLU6(x+3)/6")
    top.set_ylabel("activation")
    top.legend(loc="upper left")
    bottom.plot(xs, torch.sigmoid(xs), color="C0", label="sigmoid σ(x) (SE in MBConv)")
    bottom.plot(xs, f.hardsigmoid(xs), color="C1", linestyle="--",
                label="hard-sigmoid = ReLU6(x+3)/6")
    bottom.set_ylabel("gate")
    bottom.set_xlabel("x")
    bottom.legend(loc="upper left")
    for ax in (top, bottom):
        ax.axvline(-3, color="0.8", linewidth=0.8, zorder=0)
        ax.axvline(3, color="0.8", linewidth=0.8, zorder=0)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# ---- stochastic depth ----------------------------------------------------------------------


@dataclass(frozen=True)
class DropCheck:
    """Ones through ``StochasticDepth(p)`` in training mode: the fraction dropped, the value
    the kept samples are scaled to, the mean output, and whether eval mode is the identity."""

    p: float
    samples: int
    dropped: float
    kept: float
    mean: float
    eval_is_identity: bool


def dropout_check(p: float = 0.2, samples: int = 200_000, seed: int = 0) -> DropCheck:
    """``samples`` rows of ones, shape ``(samples, 1, 1, 1)``, through ``StochasticDepth(p)``."""
    func = "dropout_check"
    check_probability(func, "p", p, closed=False)
    check_int(func, "samples", samples)
    torch.manual_seed(seed)
    sd = StochasticDepth(p=p).train()
    ones = torch.ones(samples, 1, 1, 1)
    out = sd(ones)
    kept = out[out != 0].unique()
    identity = torch.equal(sd.eval()(ones), ones)
    return DropCheck(p=p, samples=samples, dropped=(out == 0).float().mean().item(),
                     kept=kept[0].item(), mean=out.mean().item(), eval_is_identity=identity)


@dataclass(frozen=True)
class MonteCarlo:
    """The RMS error, relative to ``|F(x)|``, of the mean of ``K`` training-mode outputs
    against the evaluation-mode output, for each ``K`` of ``ks``."""

    p: float
    draws: int
    ks: tuple[int, ...]
    rms: tuple[float, ...]


def monte_carlo_error(
    p: float = 0.5, draws: int = 8192, ks: Sequence[int] = MC_KS, seed: int = 0
) -> MonteCarlo:
    """``MBConv(16, 16, e=6, stochastic_depth_prob=p)`` with BatchNorm in eval mode (only the
    stochastic depth is random): ``draws`` training-mode passes of one ``(1, 16, 8, 8)`` input,
    averaged in groups of ``K``. ``draws`` must be a multiple of 512 and of every ``K``."""
    func = "monte_carlo_error"
    check_probability(func, "p", p, closed=False)
    if draws % 512 or any(draws % k for k in ks):
        raise ValueError(f"{func}: draws must be a multiple of 512 and of every K in {ks}, "
                         f"got {draws}")
    torch.manual_seed(seed)
    mb = MBConv(16, 16, stride=1, expand_ratio=6, kernel_size=3,
                stochastic_depth_prob=p).eval()
    x = torch.randn(1, 16, 8, 8)
    with torch.no_grad():
        y_eval = mb(x)
        branch = y_eval - x
        mb.stochastic_depth.train()
        samples = torch.cat([mb(x.expand(512, -1, -1, -1)) for _ in range(draws // 512)])
    rms = []
    for k in ks:
        means = samples.reshape(-1, k, 16, 8, 8).mean(dim=1)
        rel = (means - y_eval).flatten(1).norm(dim=1) / branch.norm()
        rms.append(rel.pow(2).mean().sqrt().item())
    return MonteCarlo(p=p, draws=draws, ks=tuple(ks), rms=tuple(rms))


def plot_monte_carlo(mc: MonteCarlo) -> Figure:
    """The measured RMS error against ``K`` (log-log, ticks as plain numbers) beside the
    ``sqrt(p / (1 - p) / K)`` the variance predicts."""
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH_IN, 4.4))
    ref = [(mc.p / (1 - mc.p) / k) ** 0.5 for k in mc.ks]
    ax.loglog(mc.ks, mc.rms, marker="o", label="measured")
    ax.loglog(mc.ks, ref, linestyle="--", label="√(p/(1−p)/K)" if mc.p != 0.5 else "1/√K")
    ax.set_xticks(mc.ks, labels=[f"{k:,}" for k in mc.ks])
    ax.set_xticks([], minor=True)
    ticks = [t for t in (0.03, 0.1, 0.3, 1.0) if min(mc.rms) / 2 <= t <= max(mc.rms) * 2]
    ax.set_yticks(ticks, labels=[f"{t:g}" for t in ticks])
    ax.set_yticks([], minor=True)
    ax.set_xlabel("K, training-mode passes averaged")
    ax.set_ylabel("RMS error / |F(x)|")
    ax.set_title(f"MBConv(16, 16), p = {mc.p:g}")
    ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


@dataclass(frozen=True)
class DropRates:
    """Each MBConv block's stochastic depth rate in a network, and whether it has a residual
    (only those ever drop their branch)."""

    rates: tuple[float, ...]
    residual: tuple[bool, ...]


def drop_rates(model: nn.Module | None = None) -> DropRates:
    """The rates of ``model``'s MBConv blocks in order (default: EfficientNet-B0)."""
    model = efficientnet_b0() if model is None else model
    blocks = [m for m in model.modules() if isinstance(m, MBConv)]
    if not blocks:
        raise ValueError("drop_rates: model holds no MBConv block")
    return DropRates(tuple(b.stochastic_depth.p for b in blocks),
                     tuple(b.use_residual for b in blocks))


def plot_drop_rates(rates: DropRates, total: float = 0.2) -> Figure:
    """Bars of each block's rate (hatched grey: no residual, never dropped) and the line
    ``total * i / N``; the legend sits above the bars, outside the axes."""
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH_IN, 4.6))
    n = len(rates.rates)
    idx = range(n)
    with_res = [i for i in idx if rates.residual[i]]
    without = [i for i in idx if not rates.residual[i]]
    ax.bar(with_res, [rates.rates[i] for i in with_res], color="#9ecae1",
           label="residual: the rate applies")
    ax.bar(without, [rates.rates[i] for i in without], color="#d9d9d9", hatch="//",
           label="no residual: never dropped")
    ax.plot(list(idx), [total * i / n for i in idx], color="k", linewidth=1,
            label=f"{total:g} · i / N")
    ax.set_xlabel("block index i in EfficientNet-B0")
    ax.set_ylabel("drop probability p")
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.02), ncols=2, frameon=False)
    fig.tight_layout()
    return fig


# ---- MobileNetV3 ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SEWidth:
    """One MobileNetV3 block with an SE: its widths, its SE's squeeze width
    (``make_divisible(C_exp // 4, 8)``) and parameters, and what EfficientNet's rule
    (``max(1, C_in // 4)``) would give the same block."""

    row: int  # the table row (stage) of the block
    in_channels: int
    expanded_channels: int
    squeeze: int
    se_params: int
    efficientnet_squeeze: int
    efficientnet_se_params: int


def table_markdown(name: str = "mobilenet_v3_large", width_mult: float = 1.0) -> str:
    """:func:`~mbcourse.models.mobilenet_v3_table` as a Markdown table, with the paper's
    columns (Table 1 or 2; ``-`` where the paper prints none)."""
    lines = mobilenet_v3_table(name, width_mult=width_mult)
    keys = list(lines[0])
    rows = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for line in lines:
        rows.append("| " + " | ".join("-" if line[k] is None else str(line[k]) for k in keys)
                    + " |")
    return "\n".join(rows)


def se_width_markdown(model: MobileNetV3) -> str:
    """:func:`se_width_rows` as a Markdown table: per SE block (numbered from 1 after the
    stem), ``C_in``, ``C_exp``, the squeeze width ``S`` and the SE's parameters, and
    EfficientNet's ``max(1, C_in // 4)`` with its parameters beside them."""
    rows = ["| block | C_in | C_exp | S | SE params | S, EfficientNet's rule | its SE params |",
            "|---|---|---|---|---|---|---|"]
    for r in se_width_rows(model):
        rows.append(f"| {r.row} | {r.in_channels} | {r.expanded_channels} | {r.squeeze} | "
                    f"{r.se_params:,} | {r.efficientnet_squeeze} | {r.efficientnet_se_params:,} |")
    return "\n".join(rows)


def se_width_rows(model: MobileNetV3) -> list[SEWidth]:
    """The SE blocks of ``model``, read from its modules."""
    rows = []
    for row, block in zip(model.table, model.features[1:-1], strict=True):
        if not isinstance(block.se, HardSigmoidSE):
            continue
        eff = max(1, block.in_channels // 4)
        rows.append(SEWidth(
            row=row.stage, in_channels=block.in_channels,
            expanded_channels=block.expanded_channels, squeeze=block.se.squeeze_channels,
            se_params=count_parameters(block.se), efficientnet_squeeze=eff,
            efficientnet_se_params=costs.squeeze_excitation(block.expanded_channels, eff).params,
        ))
    return rows


# ---- the facts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Ch4Facts:
    """The numbers chapter 4's prose prints (glued as ``ch4_<field>``)."""

    hswish_gap: float  # max |SiLU - hard-swish| on [-8, 8]
    hswish_at: float
    hsig_gap: float  # max |sigmoid - hard-sigmoid| on [-8, 8]
    hsig_at: float
    k5_macs_pct: float  # B0's 80-channel MBConv6 at 14x14: 5x5 instead of 3x3, in %
    k5_params_pct: float
    b0_k5_blocks: int  # B0's blocks with a 5x5 depthwise kernel
    b0_blocks: int
    b80_exp: int  # MBConv(80, 80, e=6): expanded width and SE squeeze width
    b80_sq: int
    ir_params: int  # InvertedResidual(80, 80, t=6) and MBConv(80, 80, e=6)
    mb_params: int
    se_params: int
    md_60: int  # make_divisible(60, 8)
    sd_p: float  # the Monte-Carlo check of StochasticDepth
    sd_samples: int
    sd_dropped: float
    sd_kept: float
    sd_mean: float
    mc_p: float  # the block-level Monte Carlo
    mc_k: int
    mc_err: float
    mc_ref: float
    mc_err1: float
    n_blocks: int  # B0's MBConv blocks, those with a residual, the last rate
    n_residual: int
    last_rate: float
    v3l_params: int  # MobileNetV3-Large / -Small: parameters (torchvision's counts)
    v3s_params: int
    v3l_mmacs: int  # multiply-adds at 224x224, millions
    v3s_mmacs: int
    v3l_blocks: int  # bneck rows (= blocks), of them with SE, of them with h-swish
    v3l_se_blocks: int
    v3l_hs_blocks: int
    v3s_blocks: int
    v3s_se_blocks: int
    v3s_hs_blocks: int
    v3l_se_params: int  # all SE parameters of Large, and with EfficientNet's SE rule instead
    v3l_se_params_eff: int
    v3l_se_pct: float  # SE share of Large's parameters, %
    ex_in: int  # the worked SE example: Large's row 5 (bneck 5x5, exp 120, 40 -> 40, SE)
    ex_exp: int
    ex_sq: int
    ex_sq_eff: int
    ex_params: int  # that block's parameters, and its SE's
    ex_se_params: int


def facts(
    check: DropCheck | None = None,
    mc: MonteCarlo | None = None,
    rates: DropRates | None = None,
) -> Ch4Facts:
    """Chapter 4's numbers (a few seconds on a 2-core CPU). ``check``, ``mc``, ``rates``: the
    chapter's measurements if the caller has them already (default: run here, same seeds)."""
    gaps = activation_gaps()
    k3 = costs.mbconv(80, 80, 14, expand_ratio=6, kernel_size=3)
    k5 = costs.mbconv(80, 80, 14, expand_ratio=6, kernel_size=5)
    config = efficientnet_config("efficientnet_b0")
    block = MBConv(80, 80, stride=1, expand_ratio=6, kernel_size=3)
    ir = InvertedResidual(80, 80, stride=1, expand_ratio=6)
    check = dropout_check() if check is None else check
    mc = monte_carlo_error() if mc is None else mc
    rates = drop_rates() if rates is None else rates

    nets = {name: get_model(name) for name in V3_NAMES}
    large, small = nets["mobilenet_v3_large"], nets["mobilenet_v3_small"]
    se_rows = se_width_rows(large)
    example: MobileNetV3Block = large.features[5]  # row 5: bneck 5x5, exp 120, SE (Table 1)

    def macs(net: nn.Module) -> int:
        return round(count_flops(net, 224, device="meta").macs / 1e6)

    se_total = sum(r.se_params for r in se_rows)
    return Ch4Facts(
        hswish_gap=round(gaps.swish_gap, 3), hswish_at=round(gaps.swish_at, 2),
        hsig_gap=round(gaps.sigmoid_gap, 3), hsig_at=round(gaps.sigmoid_at, 2),
        k5_macs_pct=round(100 * (k5.macs / k3.macs - 1), 1),
        k5_params_pct=round(100 * (k5.params / k3.params - 1), 1),
        b0_k5_blocks=sum(row.layers for row in config.stages if row.kernel == 5),
        b0_blocks=config.num_blocks,
        b80_exp=block.expanded_channels, b80_sq=block.se.squeeze_channels,
        ir_params=count_parameters(ir), mb_params=count_parameters(block),
        se_params=count_parameters(block.se),
        md_60=make_divisible(10 * 6, 8),
        sd_p=check.p, sd_samples=check.samples, sd_dropped=round(check.dropped, 4),
        sd_kept=round(check.kept, 4), sd_mean=round(check.mean, 4),
        mc_p=mc.p, mc_k=mc.ks[-1], mc_err=round(mc.rms[-1], 4),
        mc_ref=round((mc.p / (1 - mc.p) / mc.ks[-1]) ** 0.5, 4), mc_err1=round(mc.rms[0], 3),
        n_blocks=len(rates.rates), n_residual=sum(rates.residual),
        last_rate=round(rates.rates[-1], 4),
        v3l_params=count_parameters(large), v3s_params=count_parameters(small),
        v3l_mmacs=macs(large), v3s_mmacs=macs(small),
        v3l_blocks=len(large.table), v3l_se_blocks=sum(r.se for r in large.table),
        v3l_hs_blocks=sum(r.nonlinearity == "HS" for r in large.table),
        v3s_blocks=len(small.table), v3s_se_blocks=sum(r.se for r in small.table),
        v3s_hs_blocks=sum(r.nonlinearity == "HS" for r in small.table),
        v3l_se_params=se_total,
        v3l_se_params_eff=sum(r.efficientnet_se_params for r in se_rows),
        v3l_se_pct=round(100 * se_total / count_parameters(large), 1),
        ex_in=example.in_channels, ex_exp=example.expanded_channels,
        ex_sq=example.se.squeeze_channels, ex_sq_eff=max(1, example.in_channels // 4),
        ex_params=count_parameters(example), ex_se_params=count_parameters(example.se),
    )
