"""Figures drawn from the modules themselves, so that a figure cannot drift from the code.

:func:`trace_block` walks a block's children in the order a real forward pass calls them
(forward hooks) and records every stage's input and output shape; :func:`draw_block` draws that
trace as a column of boxes with the tensor shapes on the edges and the residual (or the SE
scale) as a skip arrow exactly when the module has one. :func:`draw_se_mlp` draws the excitation
MLP of a :class:`~mbcourse.blocks.SqueezeExcitation` with its real widths, and
:func:`draw_mbconv_vs_fused` puts MBConv beside Fused-MBConv. :func:`bar_compare` and
:func:`plot_spiral_embeddings` are plotting helpers the chapters share.

Shapes are written ``N×C×H×W``. Figures are returned, never shown; close them with
``plt.close(fig)`` when drawing many.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Patch
from matplotlib.path import Path
from torch import Tensor, nn

from .blocks import (
    ConvNormAct,
    FusedMBConv,
    MBConv,
    SqueezeExcitation,
    StochasticDepth,
)
from .introspect import check_input_shape, eval_mode, example_input, trace_calls
from .measure import count_flops, count_parameters
from .validation import check_int, check_module

__all__ = [
    "NOISE_LABEL",
    "BlockTrace",
    "Stage",
    "bar_compare",
    "draw_block",
    "draw_mbconv_vs_fused",
    "draw_se_mlp",
    "format_shape",
    "mark_within_noise",
    "plot_spiral_embeddings",
    "trace_block",
]

# Box colours by kind of stage (colour-blind-safe pastel palette).
_COLOURS = {
    "pointwise": "#9ecae1",  # 1x1 conv with an activation (expansion)
    "depthwise": "#a1d99b",  # depthwise k x k
    "conv": "#bcbddc",  # regular k x k conv (e.g. the fused conv)
    "projection": "#fdd0a2",  # conv without activation (linear bottleneck)
    "se": "#fcbba1",  # squeeze-and-excitation
    "norm": "#e5e5e5",
    "act": "#fff2ae",
    "pool": "#d9d9d9",
    "other": "#d9d9d9",
}

_NORM_NAMES = {nn.BatchNorm2d: "BN", nn.GroupNorm: "GN", nn.LayerNorm: "LN"}


# --------------------------------------------------------------------------------------------
# Tracing: which stages run, in which order, with which shapes
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stage:
    """One box of a block diagram: a child module as the forward pass used it."""

    name: str  # attribute name of the child, e.g. "expand"
    label: str  # text of the box, built from the child's own layers
    kind: str  # "pointwise", "depthwise", "conv", "projection", "se", "norm", "act", ...
    linear: bool  # True when the stage has no non-linearity (drawn hatched)
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]


@dataclass(frozen=True)
class BlockTrace:
    """The stages of a block in execution order, plus its skip connection if it has one.

    ``skip`` is ``"add"`` for a residual (``use_residual``), ``"multiply"`` for the SE scale
    ``x * gate`` of a bare :class:`~mbcourse.blocks.SqueezeExcitation`, else ``None``.
    """

    block: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    stages: tuple[Stage, ...]
    skip: str | None
    skip_note: str


def format_shape(shape: Sequence[int]) -> str:
    """``(1, 24, 56, 56) -> "1×24×56×56"``."""
    return "×".join(str(int(s)) for s in shape)


def _act_name(act: nn.Module) -> str:
    return {"Sigmoid": "sigmoid", "Hardsigmoid": "hard sigmoid"}.get(
        type(act).__name__, type(act).__name__
    )


def _kernel(conv: nn.Conv2d) -> str:
    return "×".join(str(k) for k in conv.kernel_size)


def _conv_text(conv: nn.Conv2d) -> tuple[str, str]:
    """(text, kind) for a bare conv: its kernel, channels, groups, stride and bias."""
    cin, cout, g = conv.in_channels, conv.out_channels, conv.groups
    if g > 1 and g == cin == cout:
        text, kind = f"{_kernel(conv)} depthwise, {cin} ch", "depthwise"
    elif g > 1:
        text, kind = f"{_kernel(conv)} conv {cin}→{cout}, {g} groups", "conv"
    else:
        kind = "pointwise" if conv.kernel_size == (1, 1) else "conv"
        text = f"{_kernel(conv)} conv {cin}→{cout}"
    if conv.stride != (1, 1):
        s = conv.stride[0] if conv.stride[0] == conv.stride[1] else "×".join(map(str, conv.stride))
        text += f", stride {s}"
    if conv.bias is not None:
        text += " + bias"
    return text, kind


def _describe(module: nn.Module) -> tuple[str, str, bool]:
    """(label, kind, linear) of one stage, read from the module's own layers."""
    if isinstance(module, ConvNormAct):
        text, kind = _conv_text(module.conv)
        norm = next((v for k, v in _NORM_NAMES.items() if isinstance(module.norm, k)),
                    type(module.norm).__name__)
        if hasattr(module, "act"):
            return f"{text}\n{norm}, {_act_name(module.act)}", kind, False
        return f"{text}\n{norm}, linear (no activation)", "projection", True
    if isinstance(module, SqueezeExcitation):
        c, s = module.channels, module.squeeze_channels
        act = _act_name(module.activation)
        return (
            f"squeeze-excitation {c}→{s}→{c}\navg pool, {act}, sigmoid gate, × input",
            "se",
            False,
        )
    if isinstance(module, nn.Conv2d):
        text, kind = _conv_text(module)
        return text, kind, True
    if isinstance(module, tuple(_NORM_NAMES)):
        short = next(v for k, v in _NORM_NAMES.items() if isinstance(module, k))
        return f"{short} ({type(module).__name__})", "norm", True
    if isinstance(module, nn.AdaptiveAvgPool2d) and module.output_size in (1, (1, 1)):
        return "global average pool", "pool", True
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AvgPool2d)):
        return "average pool", "pool", True
    if isinstance(module, (nn.ReLU, nn.ReLU6, nn.SiLU, nn.Sigmoid, nn.Hardswish, nn.GELU)):
        return _act_name(module), "act", False
    if isinstance(module, nn.Linear):
        return f"linear {module.in_features}→{module.out_features}", "pointwise", True
    return type(module).__name__, "other", False


def _stage_children(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """The children drawn as boxes: identities and stochastic depth are not drawn."""
    return [
        (name, child)
        for name, child in module.named_children()
        if not isinstance(child, (nn.Identity, StochasticDepth, nn.Dropout))
    ]


def _skip_of(module: nn.Module) -> tuple[str | None, str]:
    if isinstance(module, SqueezeExcitation):
        return "multiply", "× input (channel-wise scale)"
    if getattr(module, "use_residual", False):
        note = "+ input (residual)"
        sd = getattr(module, "stochastic_depth", None)
        if isinstance(sd, StochasticDepth) and sd.p > 0:
            note += f"\nbranch through stochastic depth p={sd.p:g}"
        return "add", note
    return None, ""


def trace_block(module: nn.Module, input_shape: Sequence[int]) -> BlockTrace:
    """Run ``module`` once on a random ``input_shape`` tensor and record its stages.

    Forward hooks (:func:`~mbcourse.introspect.trace_calls`) on the drawable children give each
    stage's real input and output shape, in the order the forward pass calls them. Every
    submodule's mode is restored afterwards.
    """
    return _trace("trace_block", module, input_shape)


def _trace(func: str, module: nn.Module, input_shape: Sequence[int]) -> BlockTrace:
    module = check_module(func, "module", module)
    shape = check_input_shape(func, module, input_shape, ndim=4)
    children = _stage_children(module)
    if not children:
        raise ValueError(
            f"{func}: {type(module).__name__} has no child layers to draw "
            "(expected a block such as InvertedResidual, MBConv, ConvNormAct)"
        )
    with eval_mode(module), torch.no_grad(), trace_calls(children) as calls:
        out = module(example_input(module, shape))
    stages = []
    for call in calls:
        label, kind, linear = _describe(call.module)
        if type(call.module) is nn.Conv2d:  # a bare conv (e.g. SE's fc1): say which one
            label = f"{call.name}: {label}"
        stages.append(Stage(call.name, label, kind, linear, call.in_shape or (),
                            call.out_shape or ()))
    skip, note = _skip_of(module)
    return BlockTrace(type(module).__name__, shape, tuple(out.shape), tuple(stages), skip, note)


# --------------------------------------------------------------------------------------------
# Block diagrams
# --------------------------------------------------------------------------------------------
_BOX_W, _BOX_H, _STEP, _X = 6.0, 1.1, 2.0, 4.0


def _subtitle(module: nn.Module) -> str:
    if not hasattr(module, "use_residual"):
        return ""
    cin, cout, s = module.in_channels, module.out_channels, module.stride
    if module.use_residual:
        return f"residual: stride 1 and {cin} = {cout} channels"
    reasons = []
    if s != 1:
        reasons.append(f"stride {s}")
    if cin != cout:
        reasons.append(f"{cin} ≠ {cout} channels")
    return "no residual: " + " and ".join(reasons)


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is not None:
        if not isinstance(ax, Axes):
            raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
        return ax
    fig = plt.figure(figsize=figsize)
    return fig.add_subplot()


def _arrow(ax: Axes, y0: float, y1: float, text: str) -> None:
    ax.add_patch(
        FancyArrowPatch((_X, y0), (_X, y1), arrowstyle="-|>", mutation_scale=12, color="0.25")
    )
    ax.text(_X + 0.15, (y0 + y1) / 2, text, fontsize=8, va="center", ha="left", color="0.2",
            gid="shape")


def draw_block(
    module: nn.Module,
    input_shape: Sequence[int],
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Draw ``module`` as it runs on an ``input_shape`` tensor; return the Figure.

    One box per child (a :class:`~mbcourse.blocks.ConvNormAct` is one box: conv, norm and
    activation; identities are skipped), in forward order, labelled from the layers' own
    attributes; the real tensor shape on every edge; a skip arrow for the residual exactly when
    ``module.use_residual`` (or for the ``× input`` scale of a bare SE). Linear stages (no
    activation) are hatched, as in the MobileNetV2 paper's figures. Used from chapter 1
    (book/01_cost_of_convolution.ipynb) on; chapter 2 (book/02_inverted_residuals.ipynb) reads
    its trace.
    """
    trace = _trace("draw_block", module, input_shape)
    rows = len(trace.stages) + (1 if trace.skip is not None else 0)
    ax = _new_axes(ax, (6.4, 1.3 + 1.05 * (rows + 1)))
    y_last = _draw_stages(ax, trace)
    if trace.skip is not None:
        y_last = _draw_skip(ax, trace, y_last)
    y_out = y_last - 1.1
    _arrow(ax, y_last, y_out + 0.2, format_shape(trace.output_shape))
    ax.text(_X, y_out, "output", ha="center", va="center", fontsize=9, fontweight="bold",
            gid="output")
    _finish_block_axes(ax, module, trace, title, y_out)
    return ax.figure


def _draw_stages(ax: Axes, trace: BlockTrace) -> float:
    """The input label and one box per stage, joined by arrows labelled with the shapes.
    Returns the y of the last box's bottom edge."""
    ax.text(_X, 0.0, "input", ha="center", va="center", fontsize=9, fontweight="bold",
            gid="input")
    y_prev = -0.25
    for i, stage in enumerate(trace.stages):
        y = -(i + 1) * _STEP
        _arrow(ax, y_prev, y + _BOX_H / 2, format_shape(stage.in_shape))
        hatched = stage.linear and stage.kind == "projection"
        ax.add_patch(FancyBboxPatch(
            (_X - _BOX_W / 2, y - _BOX_H / 2), _BOX_W, _BOX_H,
            boxstyle="round,pad=0.02,rounding_size=0.15",
            facecolor=_COLOURS.get(stage.kind, _COLOURS["other"]),
            edgecolor="0.3", hatch="///" if hatched else None,
            linewidth=1.0, gid=f"stage:{stage.name}",
        ))
        ax.text(_X, y, stage.label, ha="center", va="center", fontsize=8.5, gid="label",
                bbox={"facecolor": "white", "alpha": 0.75, "edgecolor": "none", "pad": 1.0}
                if hatched else None)
        y_prev = y - _BOX_H / 2
    return y_prev


def _draw_skip(ax: Axes, trace: BlockTrace, y_prev: float) -> float:
    """The merge node (``+`` or ``×``) below the last box and the skip path into it, from the
    input round the right of the boxes. Returns the y of the merge node's bottom."""
    y_merge = -(len(trace.stages) + 1) * _STEP + 0.5
    shape = trace.stages[-1].out_shape if trace.stages else trace.input_shape
    _arrow(ax, y_prev, y_merge + 0.35, format_shape(shape))
    symbol = "+" if trace.skip == "add" else "×"
    ax.add_patch(Circle((_X, y_merge), 0.35, facecolor="white", edgecolor="0.2",
                        linewidth=1.2, gid=f"merge-{trace.skip}"))
    ax.text(_X, y_merge, symbol, ha="center", va="center", fontsize=13, fontweight="bold")
    x_side, y_in = _X + _BOX_W / 2 + 0.9, 0.0
    path = Path([(_X + 0.45, y_in), (x_side, y_in), (x_side, y_merge), (_X + 0.38, y_merge)],
                [Path.MOVETO, Path.LINETO, Path.LINETO, Path.LINETO])
    ax.add_patch(FancyArrowPatch(path=path, arrowstyle="-|>", mutation_scale=12,
                                 color="#d62728", linewidth=1.6,
                                 gid="residual" if trace.skip == "add" else "scale"))
    ax.text(x_side + 0.15, (y_in + y_merge) / 2, trace.skip_note, rotation=90,
            ha="left", va="center", fontsize=8, color="#d62728")
    return y_merge - 0.35


def _finish_block_axes(
    ax: Axes, module: nn.Module, trace: BlockTrace, title: str | None, y_out: float
) -> None:
    """Title (the block's name and why it has a residual or not), limits, the hatch legend."""
    if title is None:
        title = trace.block
        sub = _subtitle(module)
        if sub:
            title += f"\n{sub}"
    ax.set_title(title, fontsize=10)
    ax.set_xlim(_X - _BOX_W / 2 - 0.3, _X + _BOX_W / 2 + 1.6)
    ax.set_ylim(y_out - 0.5, 0.5)
    ax.set_aspect("equal")
    ax.axis("off")
    if any(s.linear and s.kind == "projection" for s in trace.stages):
        ax.text(_X - _BOX_W / 2 - 0.2, y_out, "hatched: linear,\nno activation", fontsize=7,
                va="center", ha="left", color="0.35")


def draw_mbconv_vs_fused(
    mbconv: MBConv, fused: FusedMBConv, input_shape: Sequence[int]
) -> Figure:
    """MBConv beside Fused-MBConv on the same input: two panels, each titled with the block's
    parameter count and multiply-adds (:func:`~mbcourse.measure.count_parameters`,
    :func:`~mbcourse.measure.count_flops`) measured on ``input_shape``."""
    func = "draw_mbconv_vs_fused"
    if not isinstance(mbconv, MBConv):
        raise TypeError(f"{func}: mbconv must be an mbcourse MBConv, got {type(mbconv).__name__}")
    if not isinstance(fused, FusedMBConv):
        raise TypeError(
            f"{func}: fused must be an mbcourse FusedMBConv, got {type(fused).__name__}"
        )
    shape = check_input_shape(func, mbconv, input_shape, ndim=4)
    check_input_shape(func, fused, shape)
    traces = [_trace(func, mbconv, shape), _trace(func, fused, shape)]
    rows = max(len(t.stages) + (1 if t.skip else 0) for t in traces)
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 1.3 + 1.05 * (rows + 1)))
    for ax, block, name in zip(axes, (mbconv, fused), ("MBConv", "Fused-MBConv"), strict=True):
        params, macs = count_parameters(block), count_flops(block, shape).macs
        draw_block(block, shape, ax=ax,
                   title=f"{name}: {params:,} parameters, {macs / 1e6:,.2f} M multiply-adds\n"
                   f"{_subtitle(block)}")
    # equalise the vertical extent so the two columns line up
    lo = min(a.get_ylim()[0] for a in axes)
    for a in axes:
        a.set_ylim(lo, a.get_ylim()[1])
    fig.suptitle(f"MBConv vs Fused-MBConv on a {format_shape(shape)} input", fontsize=11)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# The excitation MLP
# --------------------------------------------------------------------------------------------
def _shown(count: int, max_neurons: int) -> tuple[list[int], bool]:
    if count <= max_neurons:
        return list(range(count)), False
    half = max_neurons // 2
    return list(range(half)) + list(range(count - (max_neurons - half), count)), True


def draw_se_mlp(
    se: SqueezeExcitation,
    ax: Axes | None = None,
    max_neurons: int = 16,
    *,
    gate: Tensor | None = None,
) -> Figure:
    """The excitation MLP of ``se`` as columns of neurons: pooled input (C), squeeze (S),
    gate (C), with the module's real widths and parameter count.

    Columns wider than ``max_neurons`` are subsampled (first and last channels, a ``⋮`` between)
    and the figure says so. ``gate``, a gate this SE computed (``(C,)``, or ``(N, C)`` from
    :func:`~mbcourse.blocks.record_se_gates`: sample 0 is drawn), colours the output neurons.
    Taught in chapter 3 (book/03_squeeze_excitation.ipynb).
    """
    func = "draw_se_mlp"
    if not isinstance(se, SqueezeExcitation):
        raise TypeError(f"{func}: se must be an mbcourse SqueezeExcitation, got "
                        f"{type(se).__name__}")
    check_int(func, "max_neurons", max_neurons, minimum=2)
    values = _gate_values(func, gate, se.channels)
    ax = _new_axes(ax, (9.5, 6.0))
    xs = (0.0, 4.5, 9.0)
    columns = [("in", se.channels), ("hidden", se.squeeze_channels), ("out", se.channels)]
    positions = [
        _draw_neuron_column(ax, x, kind, count, max_neurons, values if kind == "out" else None)
        for x, (kind, count) in zip(xs, columns, strict=True)
    ]
    for left, right in pairwise(positions):
        for x0, y0 in left:
            for x1, y1 in right:
                ax.plot([x0 + 0.13, x1 - 0.13], [y0, y1], color="0.6", linewidth=0.3,
                        alpha=0.5, zorder=1)
    _label_se_mlp(ax, se, xs)
    if values is not None:
        sm = plt.cm.ScalarMappable(cmap=_GATE_CMAP, norm=plt.Normalize(0, 1))
        ax.figure.colorbar(sm, ax=ax, fraction=0.03, pad=0.02, label="gate value (sample 0)")
    ax.set_xlim(-1.8, 12.3)
    ax.set_ylim(-4.9, 6.2)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax.figure


_GATE_CMAP = "viridis"
_NEURON_COLOURS = {"in": "#9ecae1", "hidden": "#fcbba1", "out": "#a1d99b"}


def _gate_values(func: str, gate: Tensor | None, channels: int) -> np.ndarray | None:
    """``gate`` as ``C`` floats (sample 0 of an ``(N, C)`` gate), or ``None``."""
    if gate is None:
        return None
    if not isinstance(gate, Tensor) or gate.dim() not in (1, 2) or gate.shape[-1] != channels:
        shape = tuple(gate.shape) if isinstance(gate, Tensor) else type(gate).__name__
        raise ValueError(
            f"{func}: gate must be a tensor of shape ({channels},) or (N, {channels}) "
            f"(the SE's channels), got {shape}"
        )
    return (gate if gate.dim() == 1 else gate[0]).detach().float().cpu().numpy()


def _draw_neuron_column(
    ax: Axes, x: float, kind: str, count: int, max_neurons: int, gate: np.ndarray | None
) -> list[tuple[float, float]]:
    """One column of ``count`` neurons (subsampled to ``max_neurons`` with a ``⋮``); output
    neurons coloured by ``gate`` when given. Returns the neurons' centres."""
    idx, cut = _shown(count, max_neurons)
    n_rows = len(idx) + (1 if cut else 0)
    ys = np.linspace(1.0, -1.0, n_rows) * min(1.0, 0.09 * n_rows) * 4
    cmap = plt.get_cmap(_GATE_CMAP)
    points: list[tuple[float, float]] = []
    row = 0
    for j, channel in enumerate(idx):
        if cut and j == len(idx) - (max_neurons - max_neurons // 2):
            ax.text(x, ys[row], "⋮", ha="center", va="center", fontsize=14, gid="ellipsis")
            row += 1
        colour = _NEURON_COLOURS[kind] if gate is None else cmap(float(gate[channel]))
        ax.add_patch(Circle((x, ys[row]), 0.13, facecolor=colour, edgecolor="0.2",
                            linewidth=0.8, zorder=3, gid=f"neuron-{kind}"))
        points.append((x, ys[row]))
        row += 1
    if cut:
        ax.text(x, -4.35, f"showing {len(idx)} of {count}", ha="center", va="top",
                fontsize=8, color="0.35", gid="subsampled")
    return points


def _label_se_mlp(ax: Axes, se: SqueezeExcitation, xs: Sequence[float]) -> None:
    """Column headings, the ``x_c · g_c`` scale arrow and the title with the parameter count."""
    c, s = se.channels, se.squeeze_channels
    r = c / s
    r_text = f"{r:g}" if r == int(r) else f"{c}/{s}"
    heads = [
        f"pooled input z\nC = {c}\n(global avg pool\nof each channel)",
        f"fc1 (1×1 conv + bias), {_act_name(se.activation)}\nS = {s}  (r = C/S = {r_text})",
        f"fc2 (1×1 conv + bias), sigmoid\ngate g ∈ (0, 1), C = {c}",
    ]
    for x, head in zip(xs, heads, strict=True):
        ax.text(x, 4.55, head, ha="center", va="bottom", fontsize=8)
    ax.annotate("", xy=(10.6, 0), xytext=(9.3, 0),
                arrowprops={"arrowstyle": "-|>", "color": "0.25"})
    ax.text(10.7, 0, "scale:\nx_c · g_c", ha="left", va="center", fontsize=9)
    params = count_parameters(se)
    ax.set_title(
        f"Excitation MLP of SqueezeExcitation: {c} → {s} → {c}\n"
        f"{params:,} parameters = 2·C·S + S + C = 2·{c}·{s} + {s} + {c}",
        fontsize=10,
    )


# --------------------------------------------------------------------------------------------
# Shared plotting helpers
# --------------------------------------------------------------------------------------------
def bar_compare(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    ylabel: str,
    title: str,
    xlabel: str = "",
    ax: Axes | None = None,
    log: bool = False,
    value_format: str | Callable[[float], str] = "{:,.0f}",
) -> Figure:
    """Grouped bars: one group per category, one bar per series, each bar annotated with its
    value (``value_format``: a format string such as ``"{:,.1f}"`` or a function)."""
    func = "bar_compare"
    if not series:
        raise ValueError(f"{func}: series must hold at least one named sequence of values")
    for name, values in series.items():
        if len(values) != len(categories):
            raise ValueError(
                f"{func}: series {name!r} has {len(values)} values for "
                f"{len(categories)} categories"
            )
    ax = _new_axes(ax, (max(6.0, 1.2 * len(categories) * len(series) ** 0.5 + 2), 4.2))
    fig = ax.figure
    x = np.arange(len(categories))
    width = 0.8 / len(series)
    for i, (name, values) in enumerate(series.items()):
        offs = x - 0.4 + width * (i + 0.5)
        bars = ax.bar(offs, [float(v) for v in values], width, label=name)
        fmt = value_format if callable(value_format) else value_format.format
        ax.bar_label(bars, labels=[fmt(float(v)) for v in values], fontsize=7,
                     padding=2, rotation=90 if len(series) * len(categories) > 12 else 0)
    ax.set_xticks(x, list(categories))
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    if xlabel:
        ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.legend()
    ax.margins(y=0.15)
    fig.tight_layout()
    return fig


def plot_spiral_embeddings(
    points: Tensor,
    reconstructions: Mapping[int, Tensor],
    *,
    notes: Mapping[int, str] | None = None,
    title: str = "",
) -> Figure:
    """The input 2-D curve beside its reconstruction for each embedding dimension ``n``.

    ``points`` is ``(P, 2)``; ``reconstructions[n]`` is ``(P, 2)``. Points are coloured by their
    position along the curve, so collapsed stretches show as one colour on a line.
    """
    func = "plot_spiral_embeddings"
    pts = torch.as_tensor(points).detach().cpu()
    if pts.dim() != 2 or pts.shape[1] != 2:
        raise ValueError(f"{func}: points must have shape (P, 2), got {tuple(pts.shape)}")
    for n, rec in reconstructions.items():
        if tuple(rec.shape) != tuple(pts.shape):
            raise ValueError(
                f"{func}: reconstruction for n={n} has shape {tuple(rec.shape)}, "
                f"expected {tuple(pts.shape)}"
            )
    panels = [("Input", pts)] + [(f"n = {n}", r.detach().cpu()) for n, r in
                                 reconstructions.items()]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.4 * len(panels), 2.9))
    axes = np.atleast_1d(axes)
    colour = np.linspace(0, 1, pts.shape[0])
    lim = float(pts.abs().max()) * 1.15
    for ax, (name, xy), key in zip(axes, panels, [None, *reconstructions], strict=True):
        ax.scatter(xy[:, 0], xy[:, 1], c=colour, cmap="viridis", s=3)
        label = name if key is None or notes is None or key not in notes else (
            f"{name}\n{notes[key]}"
        )
        ax.set_title(label, fontsize=9)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xlabel("x₁", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("x₂", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


#: Legend entry of bars that :func:`mark_within_noise` greys (see measure.timing.within_noise).
NOISE_LABEL = "within noise (|ratio − 1| ≤ spread of rounds)"


def mark_within_noise(
    ax: Axes, bars: Sequence[Patch], flags: Sequence[bool], *, label: str = NOISE_LABEL
) -> int:
    """Grey and hatch the ``bars`` (matplotlib patches) whose flag is true; add ``label`` to
    the axes' legend when any is marked. Returns how many bars were marked."""
    func = "mark_within_noise"
    bars, flags = list(bars), list(flags)
    if len(bars) != len(flags):
        raise ValueError(f"{func}: got {len(bars)} bars but {len(flags)} flags; give one each")

    style = {"facecolor": "#d9d9d9", "edgecolor": "#525252", "hatch": "///"}
    marked = 0
    for bar, flag in zip(bars, flags, strict=True):
        if flag:
            bar.set(**style)
            marked += 1
    if marked:
        handles, _ = ax.get_legend_handles_labels()
        size = ax.get_legend().prop.get_size() if ax.get_legend() is not None else None
        ax.legend(handles=[*handles, Patch(**style, label=label)], fontsize=size)
    return marked
