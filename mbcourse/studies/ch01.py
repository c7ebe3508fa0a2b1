"""Chapter 1 (The cost of a convolution): the numbers its prose prints, its timing study and its
figures. Taught in chapter 1 (book/01_cost_of_convolution.ipynb).

* :func:`facts` -> :class:`Ch1Facts`: every count the chapter's text prints (the 32 -> 64
  example, the identity ``1/C_out + 1/k^2`` on :data:`IDENTITY_GRID`, the arithmetic
  intensities), computed with :mod:`mbcourse.costs` and the modules themselves.
* :func:`measure_speedups` -> :class:`Speedups`: the measured speed-up of the separable layer over
  the standard one per width, with the spread of the timing rounds; :func:`speedup_facts`
  turns it into the glued record, :func:`speedup_sentence` into the verdict sentence (written
  for every outcome: faster, slower, within the noise).
* Figures: :func:`plot_kernels`
  (the weight tensors themselves), :func:`plot_costs`, :func:`plot_saving`,
  :func:`plot_speedups`.
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator
from torch import nn

from .. import costs
from ..blocks import ConvNormAct, DepthwiseSeparableConv
from ..display import FIGURE_WIDTH_IN
from ..measure import compare_latency, count_flops, count_parameters, round_spread, within_noise
from ..validation import check_int
from ..viz import bar_compare, trace_block

__all__ = [
    "EXAMPLE",
    "IDENTITY_GRID",
    "Ch1Facts",
    "IntensityRow",
    "SpeedupFacts",
    "SpeedupRow",
    "Speedups",
    "facts",
    "intensity_rows",
    "measure_speedups",
    "plain_log_ticks",
    "plot_costs",
    "plot_kernels",
    "plot_saving",
    "plot_speedups",
    "setting_label",
    "speedup_facts",
    "speedup_sentence",
]

#: The chapter's example: ``(C_in, C_out, k, H = W)``, 32 -> 64 channels, 3x3, on 56x56.
EXAMPLE = (32, 64, 3, 56)

#: The shapes on which the chapter checks ``MACs_sep / MACs_std = 1/C_out + 1/k^2`` exactly:
#: ``(C_in, C_out, k, H = W, stride)``, strides and odd sizes included.
IDENTITY_GRID: tuple[tuple[int, int, int, int, int], ...] = tuple(
    (ci, co, k, h, s)
    for ci in (3, 16, 32, 96)
    for co in (8, 24, 64, 320)
    for k in (3, 5, 7)
    for h, s in ((7, 1), (56, 1), (56, 2), (15, 2))
)

_FP32 = 4  # bytes per float32 element


# ---- the counts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class IntensityRow:
    """One convolution's arithmetic intensity on a ``C x size x size`` input (stride 1).

    ``activations``: elements of its input and output, each read or written once;
    ``weights``: its conv weights; ``per_element``: multiply-adds per element moved
    (activations and weights); ``per_byte``: :func:`mbcourse.costs.arithmetic_intensity`, the
    same number over 4 bytes per float32 element (chapter 5's measure).
    """

    name: str
    macs: int
    activations: int
    weights: int
    per_element: float
    per_byte: float

    @property
    def per_activation(self) -> float:
        """Multiply-adds per activation element (weights not counted)."""
        return self.macs / self.activations


def intensity_rows(channels: int = 128, size: int = 56) -> list[IntensityRow]:
    """Standard 3x3, depthwise 3x3 and pointwise 1x1 convolutions of ``channels`` channels:
    their multiply-adds per element and per byte (float32) moved, from the modules' traced
    shapes and :func:`mbcourse.costs.arithmetic_intensity`."""
    check_int("intensity_rows", "channels", channels)
    check_int("intensity_rows", "size", size)
    c = channels
    rows = []
    for name, k, groups in (("standard 3×3", 3, 1), ("depthwise 3×3", 3, c),
                            ("pointwise 1×1", 1, 1)):
        module = ConvNormAct(c, c, k, groups=groups)
        trace = trace_block(module, (1, c, size, size))
        activations = (torch.Size(trace.input_shape).numel()
                       + torch.Size(trace.output_shape).numel())
        weights = module.conv.weight.numel()
        macs = count_flops(module, (1, c, size, size)).macs
        rows.append(IntensityRow(
            name, macs, activations, weights, macs / (activations + weights),
            costs.arithmetic_intensity(c, c, k, size, groups=groups, bytes_per_element=_FP32),
        ))
    return rows


@dataclass(frozen=True)
class Ch1Facts:
    """The numbers chapter 1's prose prints (glued as ``ch1_<field>``)."""

    standard_params: int  # ConvNormAct(32, 64, 3): conv weights + BatchNorm
    standard_macs: int  # on 1x32x56x56
    standard_weights: int  # conv weights only
    separable_params: int
    separable_macs: int
    separable_weights: int
    dw_weights: int  # the depthwise conv's weights
    pw_weights: int  # the pointwise conv's weights
    standard_shape: str  # "(64, 32, 3, 3)"
    dw_shape: str  # "(32, 1, 3, 3)"
    pw_shape: str  # "(64, 32, 1, 1)"
    groups: int  # the depthwise conv's groups (= C_in)
    checked: int  # shapes of IDENTITY_GRID on which the identity holds exactly
    grid_size: int  # len(IDENTITY_GRID)
    ratio: float  # separable / standard multiply-adds of the example
    speedup_macs: float  # 1 / ratio
    excess_128: int  # % by which the 3x3 ratio at 128 channels exceeds its limit 1/9
    int_dw: float  # depthwise 3x3, 128 ch, 56x56: multiply-adds per element moved
    int_std: float  # standard 3x3: the same
    int_pw: float  # pointwise 1x1: the same
    int_dw_byte: float  # depthwise: per byte of float32 (= int_dw / 4)
    int_std_byte: float  # standard: per byte of float32 (= int_std / 4)
    int_dw_act: float  # depthwise: per activation element, weights not counted (k²/2)


def _shape(tensor: torch.Tensor) -> str:
    return str(tuple(tensor.shape))


def facts() -> Ch1Facts:
    """Chapter 1's counts, from :mod:`mbcourse.costs` and the example's modules."""
    c_in, c_out, k, size = EXAMPLE
    standard = ConvNormAct(c_in, c_out, k)
    separable = DepthwiseSeparableConv(c_in, c_out, k)
    std = costs.standard_conv(c_in, c_out, k, size)
    sep = costs.depthwise_separable(c_in, c_out, k, size)
    dw, pw = separable.depthwise.conv.weight, separable.pointwise.conv.weight
    exact = sum(
        Fraction(costs.depthwise_separable(ci, co, kk, h, s).macs,
                 costs.standard_conv(ci, co, kk, h, s).macs) == Fraction(1, co) + Fraction(1, kk**2)
        for ci, co, kk, h, s in IDENTITY_GRID
    )
    ratio = sep.macs / std.macs
    wide = (costs.depthwise_separable(128, 128, 3, 28).macs
            / costs.standard_conv(128, 128, 3, 28).macs)
    rows = {row.name.split()[0]: row for row in intensity_rows(128, 56)}
    return Ch1Facts(
        standard_params=count_parameters(standard),
        standard_macs=std.macs,
        standard_weights=standard.conv.weight.numel(),
        separable_params=count_parameters(separable),
        separable_macs=sep.macs,
        separable_weights=dw.numel() + pw.numel(),
        dw_weights=dw.numel(),
        pw_weights=pw.numel(),
        standard_shape=_shape(standard.conv.weight),
        dw_shape=_shape(dw),
        pw_shape=_shape(pw),
        groups=separable.depthwise.conv.groups,
        checked=exact,
        grid_size=len(IDENTITY_GRID),
        ratio=ratio,
        speedup_macs=1 / ratio,
        excess_128=round(100 * (wide * 9 - 1)),
        int_dw=rows["depthwise"].per_element,
        int_std=rows["standard"].per_element,
        int_pw=rows["pointwise"].per_element,
        int_dw_byte=rows["depthwise"].per_byte,
        int_std_byte=rows["standard"].per_byte,
        int_dw_act=rows["depthwise"].per_activation,
    )


# ---- the timing study ------------------------------------------------------------------------


@dataclass(frozen=True)
class SpeedupRow:
    """One width: median times (ms per forward pass of the batch), the measured speed-up
    ``standard / separable``, the one the multiply-adds predict, and the largest relative
    spread of the two layers' timing rounds."""

    width: int
    standard_ms: float
    separable_ms: float
    measured: float
    predicted: float
    spread: float

    @property
    def noisy(self) -> bool:
        """The measured speed-up is within the rounds' spread of 1 (no difference shown)."""
        return within_noise(self.measured, self.spread)

    @property
    def share(self) -> float:
        """The part of the predicted saving realised: ``measured / predicted``."""
        return self.measured / self.predicted


@dataclass(frozen=True)
class Speedups:
    """The result of :func:`measure_speedups`: one row per width, and where it was measured."""

    rows: tuple[SpeedupRow, ...]
    device: str  # "CPU (x86_64, 1 thread), torch 2.14.1": the threads that timed it
    engine: str
    batch: int
    size: int


def setting_label(device: torch.device | str, threads: int | None) -> str:
    """The device as a figure or sentence names it, with the threads that timed it (one thread
    count only): ``"CPU (x86_64, 1 thread), torch 2.14.1"``, ``"NVIDIA H100 ..., torch ..."``."""
    device = torch.device(device)
    version = torch.__version__.split("+")[0]
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {version}"
    n = threads if threads is not None else torch.get_num_threads()
    return f"CPU ({platform.machine()}, {n} thread{'' if n == 1 else 's'}), torch {version}"


def measure_speedups(
    widths: Sequence[int],
    *,
    batch: int,
    rounds: int,
    threads: int | None,
    device: torch.device | str,
    size: int = 56,
    min_run_time: float = 0.05,
) -> Speedups:
    """Time ``ConvNormAct(C, C, 3)`` against ``DepthwiseSeparableConv(C, C, 3)`` on a
    ``batch x C x size x size`` input for each width ``C``, with
    :func:`mbcourse.measure.compare_latency` (the two alternate in ``rounds`` rounds, on
    ``threads`` threads; ``None``: all)."""
    func = "measure_speedups"
    if not widths:
        raise ValueError(f"{func}: widths must hold at least one channel count")
    for c in widths:
        check_int(func, "widths[...]", c)
    check_int(func, "batch", batch)
    rows = []
    for c in widths:
        result = compare_latency(
            {"standard": ConvNormAct(c, c, 3), "separable": DepthwiseSeparableConv(c, c, 3)},
            (batch, c, size, size), device=device, rounds=rounds, min_run_time=min_run_time,
            num_threads=threads,
        )
        std, sep = result["standard"], result["separable"]
        predicted = (costs.standard_conv(c, c, 3, size).macs
                     / costs.depthwise_separable(c, c, 3, size).macs)
        rows.append(SpeedupRow(c, std.median_ms, sep.median_ms, std.ratio_to(sep), predicted,
                               round_spread(std, sep)))
    return Speedups(tuple(rows), setting_label(device, threads), "PyTorch eager", batch, size)


@dataclass(frozen=True)
class SpeedupFacts:
    """The numbers and the verdict the chapter glues from a :class:`Speedups` (``ch1_<field>``);
    the ``bench_*`` numbers are those of the widest layer."""

    device: str
    bench_batch: int
    bench_c: int
    bench_measured: float
    bench_predicted: float
    bench_share: int  # % of the predicted saving realised
    bench_spread: int  # % spread of the timing rounds
    bench_sentence: str  # the verdict, for every outcome


def _times(x: float) -> str:
    return f"{x:.2f}"


def speedup_sentence(speedups: Speedups) -> str:
    """The verdict on the widest layer of ``speedups`` as one or two sentences: the setting
    (device and threads, engine, batch), then faster / slower / within the noise, and how the
    other widths compare with their prediction."""
    if not speedups.rows:
        raise ValueError("speedup_sentence: speedups holds no rows")
    *others, top = speedups.rows
    where = (f"On {speedups.device} ({speedups.engine}, batch {speedups.batch}), "
             f"at {top.width} channels")
    spread = f"{round(100 * top.spread)} %"
    if top.noisy:
        first = (f"{where} the two layers took the same time within the spread of the timing "
                 f"rounds ({spread}), where the multiply-adds predict a speed-up of "
                 f"{_times(top.predicted)}.")
    elif top.measured > 1:
        first = (f"{where} the separable layer was {_times(top.measured)} times faster where "
                 f"the multiply-adds predict {_times(top.predicted)}: it realised "
                 f"{round(100 * top.share)} % of the predicted saving (rounds spread by "
                 f"{spread}).")
    else:
        first = (f"{where} the separable layer was {_times(1 / top.measured)} times slower, "
                 f"although the multiply-adds predict it {_times(top.predicted)} times faster "
                 f"(rounds spread by {spread}).")
    if not others:
        return first
    short = [r for r in others if r.measured < r.predicted and not r.noisy]
    noisy = [r for r in others if r.noisy]
    rest = len(others) - len(short) - len(noisy)
    if len(short) == len(others):
        narrower = "the narrower width" if len(others) == 1 else "the narrower widths"
        second = f"At {narrower}, too, it fell short of the prediction."
    elif len(others) == 1:
        verdict = "was within the timing noise" if noisy else "matched or beat the prediction"
        second = f"At C = {others[0].width} the measured speed-up {verdict}."
    else:
        parts = []
        if short:
            parts.append(f"{len(short)} fell short of the prediction")
        if noisy:
            widths = ", ".join(str(r.width) for r in noisy)
            parts.append(f"{len(noisy)} {'was' if len(noisy) == 1 else 'were'} within the "
                         f"timing noise (C = {widths})")
        if rest:
            parts.append(f"{rest} matched or beat the prediction")
        listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        second = f"Of the {len(others)} narrower widths, {listed}."
    return f"{first} {second}"


def speedup_facts(speedups: Speedups) -> SpeedupFacts:
    """The glued record of a timing study (its widest layer, and the verdict sentence)."""
    top = speedups.rows[-1]
    return SpeedupFacts(
        device=speedups.device,
        bench_batch=speedups.batch,
        bench_c=top.width,
        bench_measured=round(top.measured, 2),
        bench_predicted=round(top.predicted, 2),
        bench_share=round(100 * top.share),
        bench_spread=round(100 * top.spread),
        bench_sentence=speedup_sentence(speedups),
    )


# ---- figures -------------------------------------------------------------------------------


def _tiles(weight: np.ndarray, rows: int, cols: int, present: np.ndarray | None) -> np.ndarray:
    """An RGB image of ``rows x cols`` kernel tiles (each ``kh x kw`` pixels, one pixel per
    weight, one white pixel between tiles); tiles where ``present`` is false are light grey
    (the layer has no weight there)."""
    kh, kw = weight.shape[-2:]
    step_h, step_w = kh + 1, kw + 1
    image = np.ones((rows * step_h - 1, cols * step_w - 1, 3))
    scale = np.abs(weight).max() or 1.0
    colours = plt.get_cmap("RdBu_r")((weight / scale + 1) / 2)[..., :3]
    for i in range(rows):
        for j in range(cols):
            tile = image[i * step_h:i * step_h + kh, j * step_w:j * step_w + kw]
            tile[:] = colours[i, j] if present is None or present[i, j] else 0.88
    return image


def plot_kernels(standard: nn.Conv2d, depthwise: nn.Conv2d, pointwise: nn.Conv2d) -> Figure:
    """The three weight tensors drawn to one scale, one pixel per weight, output channels down
    and input channels across: the standard conv's ``C_out x C_in`` grid of ``k x k`` kernels,
    the depthwise conv's kernels on the diagonal of a ``C_in x C_in`` grid (``groups = C_in``:
    output channel i sees input channel i only; grey: no weight), the pointwise conv's
    ``C_out x C_in`` grid of single weights. Colour: the weight's value (red positive, blue
    negative), each panel scaled to its own largest weight."""
    func = "plot_kernels"
    for name, conv in (("standard", standard), ("depthwise", depthwise),
                       ("pointwise", pointwise)):
        if not isinstance(conv, nn.Conv2d):
            raise TypeError(f"{func}: {name} must be an nn.Conv2d, got {type(conv).__name__}")
    c_in = depthwise.in_channels
    if depthwise.groups != c_in or depthwise.out_channels != c_in:
        raise ValueError(f"{func}: depthwise must have groups = in = out channels, got "
                         f"{depthwise.in_channels}→{depthwise.out_channels}, "
                         f"groups={depthwise.groups}")
    w_std = standard.weight.detach().cpu().numpy()
    w_dw = depthwise.weight.detach().cpu().numpy()
    w_pw = pointwise.weight.detach().cpu().numpy()
    images = [
        _tiles(w_std, *w_std.shape[:2], None),
        _tiles(np.broadcast_to(w_dw, (c_in, c_in, *w_dw.shape[-2:])), c_in, c_in,
               np.eye(c_in, dtype=bool)),
        _tiles(w_pw, *w_pw.shape[:2], None),
    ]
    titles = [
        f"standard\n{tuple(w_std.shape)}",
        f"depthwise\n{tuple(w_dw.shape)}\ngroups={depthwise.groups}",
        f"pointwise\n{tuple(w_pw.shape)}",
    ]
    widths = [im.shape[1] for im in images]
    fig, axes = plt.subplots(1, 3, figsize=(FIGURE_WIDTH_IN, 6.6), width_ratios=widths)
    for ax, image, title in zip(axes, images, titles, strict=True):
        ax.imshow(image, interpolation="nearest", aspect="equal")
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_anchor("N")
    axes[0].set_ylabel(f"{standard.out_channels} output channels")
    axes[0].set_xlabel(f"{standard.in_channels} input\nchannels")
    axes[1].set_xlabel(f"{c_in} channels")
    axes[2].set_xlabel(f"{pointwise.in_channels} in")
    fig.tight_layout()
    return fig


def plot_costs() -> Figure:
    """Conv weights and multiply-adds (millions) of the example's two layers (log scale)."""
    c_in, c_out, k, size = EXAMPLE
    weights = {"standard": costs.conv(c_in, c_out, k, size).params,
               "separable": costs.conv(c_in, c_in, k, size, groups=c_in).params
               + costs.conv(c_in, c_out, 1, size).params}
    macs = {"standard": costs.standard_conv(c_in, c_out, k, size).macs,
            "separable": costs.depthwise_separable(c_in, c_out, k, size).macs}
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH_IN, 4.4))
    bar_compare(
        ["conv weights", "multiply-adds\n(millions)"],
        {
            f"standard {k}×{k}": [weights["standard"], macs["standard"] / 1e6],
            "depthwise separable": [weights["separable"], macs["separable"] / 1e6],
        },
        ylabel="count (log scale)",
        title=f"{c_in}→{c_out} channels, {k}×{k}, on {size}×{size}",
        log=True,
        ax=ax,
        value_format=lambda v: f"{v:,.0f}" if v >= 100 else f"{v:,.1f}",
    )
    plain_log_ticks(ax.yaxis)
    fig.tight_layout()
    return fig


def plain_log_ticks(axis, ticks: Sequence[float] | None = None) -> None:
    """Label a log axis with plain numbers (``0.05``, ``1,000``), no minor labels."""
    if ticks is not None:
        axis.set_major_locator(FixedLocator(list(ticks)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def plot_saving(widths: Sequence[int] = tuple(2**i for i in range(3, 11))) -> Figure:
    """Separable / standard multiply-adds against the width ``C = C_in = C_out`` for 3x3, 5x5
    and 7x7 kernels: the formula ``1/C + 1/k^2`` (lines), :mod:`mbcourse.costs`' counts
    (markers) and the limits ``1/k^2`` (dashed)."""
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH_IN, 4.8))
    lo, hi = min(widths), max(widths)
    dense = np.geomspace(lo, hi, 200)
    for k, colour in zip((3, 5, 7), ("C0", "C1", "C2"), strict=True):
        counted = [costs.depthwise_separable(c, c, k, 28).macs
                   / costs.standard_conv(c, c, k, 28).macs for c in widths]
        ax.plot(dense, 1 / dense + 1 / k**2, color=colour, label=f"1/C + 1/{k * k}")
        ax.plot(widths, counted, "o", color=colour, label=f"{k}×{k}, counted")
        ax.axhline(1 / k**2, color=colour, linestyle="--", linewidth=0.8)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(list(widths), [str(c) for c in widths])
    ax.xaxis.set_minor_locator(NullLocator())
    plain_log_ticks(ax.yaxis, (0.02, 0.05, 0.1, 0.2))
    ax.set_xlabel("channels C (C_in = C_out)")
    ax.set_ylabel("separable / standard\nmultiply-adds")
    ax.legend(ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.24), frameon=False)
    fig.tight_layout()
    return fig


def plot_speedups(speedups: Speedups) -> Figure:
    """Predicted and measured speed-up per width; each measured point carries the rounds'
    spread, and a point within it of 1 is hollow and marked *within noise*."""
    rows = speedups.rows
    widths = [r.width for r in rows]
    measured = [r.measured for r in rows]
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH_IN, 4.8))
    ax.plot(widths, [r.predicted for r in rows], "o-", label="predicted by multiply-adds")
    ax.errorbar(widths, measured,
                yerr=[[m - m / (1 + r.spread) for m, r in zip(measured, rows, strict=True)],
                      [m * r.spread for m, r in zip(measured, rows, strict=True)]],
                fmt="s-", capsize=3, label="measured (median,\nspread of rounds)")
    for r in rows:
        if r.noisy:
            ax.plot(r.width, r.measured, "s", mfc="white", color="C1")
            ax.annotate("within noise", (r.width, r.measured), textcoords="offset points",
                        xytext=(0, -18), ha="center")
    ax.axhline(1, color="0.5", linewidth=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xticks(widths, [str(c) for c in widths])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_ylim(bottom=0)
    ax.set_xlabel(f"channels C (C_in = C_out), 3×3, {speedups.size}×{speedups.size} input")
    ax.set_ylabel("speed-up of separable\nover standard (×)")
    ax.set_title(f"{speedups.engine}, batch {speedups.batch}\n{speedups.device}")
    ax.legend(ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    fig.tight_layout()
    return fig
