"""Figures drawn from the modules themselves, so that a figure cannot drift from the code.

:func:`trace_block` walks a block's children in the order a real forward pass calls them
(forward hooks) and records every stage's input and output shape; :func:`draw_block` draws that
trace as a column of boxes with the tensor shapes on the edges and the residual (or the SE
scale) as a skip arrow exactly when the module has one; :func:`draw_blocks` puts several side
by side at one scale, and :func:`draw_mbconv_vs_fused` MBConv beside Fused-MBConv.
:func:`draw_se_mlp` draws the excitation MLP of a :class:`~mbcourse.blocks.SqueezeExcitation`
with its real widths. :func:`bar_compare`, :func:`plot_spiral_embeddings` and
:func:`mark_within_noise` are plotting helpers the chapters share.

Every figure follows the book's figure policy (:mod:`mbcourse.display`): at most
:data:`~mbcourse.display.FIGURE_WIDTH_IN` (6.8 in) wide, no text under
:data:`~mbcourse.display.FIGURE_TEXT_PT` (12 pt). Diagrams are laid out in inches from the
measured width of their labels (wrapped where a column is narrow), so every label fits its
box; legends sit above the bars, never over one.

Shapes are written ``N×C×H×W``. Figures are returned, never shown; close them with
``plt.close(fig)`` when drawing many.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.legend import Legend
from matplotlib.patches import (
    Circle,
    FancyArrowPatch,
    FancyBboxPatch,
    Patch,
    PathPatch,
    Rectangle,
)
from matplotlib.path import Path
from matplotlib.textpath import TextToPath
from matplotlib.ticker import NullFormatter
from matplotlib.transforms import Bbox, IdentityTransform, ScaledTranslation
from torch import Tensor, nn

from .blocks import (
    ConvNormAct,
    FusedMBConv,
    MBConv,
    SqueezeExcitation,
    StochasticDepth,
)
from .display import FIGURE_TEXT_PT, FIGURE_WIDTH_IN
from .introspect import check_input_shape, eval_mode, example_input, trace_calls
from .measure import count_flops, count_parameters
from .validation import check_int, check_module

__all__ = [
    "NOISE_LABEL",
    "BlockTrace",
    "Stage",
    "bar_compare",
    "draw_block",
    "draw_blocks",
    "draw_mbconv_vs_fused",
    "draw_se_mlp",
    "format_shape",
    "gate_norm",
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
    stage's real input and output shape, in the order the forward pass calls them. A
    :class:`~mbcourse.blocks.ConvNormAct` is one stage (conv, norm, activation), whether it is
    a block's child or the module traced. Every submodule's mode is restored afterwards.
    """
    return _trace("trace_block", module, input_shape)


def _trace(func: str, module: nn.Module, input_shape: Sequence[int]) -> BlockTrace:
    module = check_module(func, "module", module)
    shape = check_input_shape(func, module, input_shape, ndim=4)
    # a ConvNormAct is one box, as inside every block (conv, norm and activation in one label)
    children = ([(type(module).__name__, module)] if isinstance(module, ConvNormAct)
                else _stage_children(module))
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
# Text that fits: every size in points, every length in inches
# --------------------------------------------------------------------------------------------
_PT = 1 / 72  # inches per point
_TEXT = FIGURE_TEXT_PT  # the smallest text of the figure policy (12 pt)
_LINE = 1.2 * _TEXT * _PT  # inches per line of text (matplotlib's line spacing)
_FIT = 1.04  # safety factor on measured widths (the browser's font rendering)
_TEXT_PATHS = TextToPath()


def _text_width(text: str, size: float = _TEXT, weight: str = "normal") -> float:
    """Width of the widest line of ``text`` in inches at ``size`` points."""
    prop = FontProperties(size=size, weight=weight)
    widths = [_TEXT_PATHS.get_text_width_height_descent(line, prop, ismath=False)[0]
              for line in text.split("\n")]
    return _FIT * max(widths, default=0.0) * _PT


def _pack(pieces: Sequence[str], width: float, size: float, weight: str) -> list[str]:
    """Greedy: join ``pieces`` with spaces into lines no wider than ``width`` inches (a piece
    wider than that is a line of its own)."""
    lines, current = [], ""
    for piece in pieces:
        trial = f"{current} {piece}" if current else piece
        if current and _text_width(trial, size, weight) > width:
            lines.append(current)
            current = piece
        else:
            current = trial
    return [*lines, current]


def _wrap(text: str, width: float, size: float = _TEXT, weight: str = "normal") -> str:
    """``text`` with each line broken so that it fits ``width`` inches at ``size`` points:
    first after commas and before parentheses, then at spaces (a single word wider than
    ``width`` stays whole)."""
    out: list[str] = []
    for line in text.split("\n"):
        pieces: list[str] = []
        for chunk in re.split(r"(?<=,) | (?=\()", line):
            if _text_width(chunk, size, weight) <= width:
                pieces.append(chunk)
            else:  # too wide on its own: broken at its spaces
                pieces += _pack(chunk.split(" "), width, size, weight)
        out += _pack(pieces, width, size, weight)
    return "\n".join(out)


def _lines(text: str) -> int:
    return text.count("\n") + 1 if text else 0


def _axes_size(ax: Axes) -> tuple[float, float]:
    """Width and height of ``ax`` in inches (its position in its figure now)."""
    box = ax.get_position()
    width, height = ax.figure.get_size_inches()
    return box.width * width, box.height * height


# --------------------------------------------------------------------------------------------
# Block diagrams, laid out in inches so that every text is 12 pt and fits its box
# --------------------------------------------------------------------------------------------
_PAD_X, _PAD_Y = 0.12, 0.08  # text to box edge
_EDGE = 0.42  # arrow between two boxes: room for one shape label
_MIN_BOX = 1.3  # narrowest box
_MERGE_R = 0.16  # the + / × node
_SHAPE_DX = 0.07  # shape labels start this far right of the arrows
_LANE = 0.25  # from the widest thing right of the column to the skip path
_IO = 0.22  # height of the "input" / "output" labels
_MARGIN = 0.05
_GAP = 0.25  # between two diagrams of one figure


@dataclass(frozen=True)
class _Layout:
    """Where everything of one block diagram goes, in inches (x: 0 at the column's centre;
    y: 0 at the top, growing downwards as negative numbers)."""

    trace: BlockTrace
    box_w: float
    texts: tuple[str, ...]  # wrapped label of each stage
    tops: tuple[float, ...]  # top edge of each box
    heights: tuple[float, ...]
    merge_y: float | None  # centre of the + / × node
    skip_x: float
    note: str  # wrapped skip note
    out_y: float  # centre of the "output" label
    legend_y: float | None  # centre of the hatch legend
    extent: tuple[float, float, float, float]  # x0, x1, y0 (bottom), y1 (top)

    @property
    def width(self) -> float:
        return self.extent[1] - self.extent[0]

    @property
    def height(self) -> float:
        return self.extent[3] - self.extent[2]


def _hatched(stage: Stage) -> bool:
    return stage.linear and stage.kind == "projection"


_LEGEND_TEXT = "linear: no activation"
_SWATCH = (0.34, 0.2)


def _layout(trace: BlockTrace, max_width: float, *, legend: bool = True) -> _Layout:
    """Lay ``trace`` out within ``max_width`` inches: labels wrapped to the widest box that
    leaves room for the shape labels and the skip path; ``legend``: explain the hatching
    under the diagram when a stage is hatched."""
    shapes = [format_shape(s.in_shape) for s in trace.stages] + [format_shape(trace.output_shape)]
    shape_right = _SHAPE_DX + max(_text_width(t) for t in shapes)
    note_lines = _lines(trace.skip_note)
    for _ in range(2):  # the note's line count depends on the column's height
        skip_w = _LANE + note_lines * _LINE + 0.1 if trace.skip else 0.0
        room = max_width - skip_w - 2 * _MARGIN
        widest = room if room / 2 >= shape_right else 2 * (room - shape_right)
        widest = max(widest, _MIN_BOX)
        texts = tuple(_wrap(s.label, widest - 2 * _PAD_X) for s in trace.stages)
        box_w = max([_MIN_BOX, *(_text_width(t) + 2 * _PAD_X for t in texts)])
        heights = tuple(_lines(t) * _LINE + 2 * _PAD_Y for t in texts)
        tops, y = [], -_IO
        for h in heights:
            y -= _EDGE
            tops.append(y)
            y -= h
        merge_y = None
        if trace.skip is not None:
            merge_y = y - _EDGE - _MERGE_R
            y = merge_y - _MERGE_R
        note = ""
        if trace.skip is not None:
            span = -_IO / 2 - merge_y  # the skip path's vertical run
            note = _wrap(trace.skip_note, span - 0.2)
        if _lines(note) == note_lines or trace.skip is None:
            break
        note_lines = _lines(note)
    out_y = y - _EDGE - _IO / 2
    bottom = out_y - _IO / 2
    legend_y = None
    if legend and any(_hatched(s) for s in trace.stages):
        legend_y = bottom - 0.15 - _SWATCH[1] / 2
        bottom = legend_y - _SWATCH[1] / 2
    right = max(box_w / 2, shape_right)
    skip_x = right + _LANE
    if trace.skip is not None:
        right = skip_x + 0.06 + note_lines * _LINE
    left = -box_w / 2
    if legend_y is not None:
        right = max(right, left + _SWATCH[0] + 0.08 + _text_width(_LEGEND_TEXT))
    extent = (left - _MARGIN, right + _MARGIN, bottom - _MARGIN, _MARGIN)
    return _Layout(trace, box_w, texts, tuple(tops), heights, merge_y, skip_x, note, out_y,
                   legend_y, extent)


def _subtitle(module: nn.Module) -> str:
    if not hasattr(module, "use_residual"):
        return ""
    cin, cout, s = module.in_channels, module.out_channels, module.stride
    if module.use_residual:
        return f"residual: stride 1, {cin} = {cout} channels"
    reasons = []
    if s != 1:
        reasons.append(f"stride {s}")
    if cin != cout:
        reasons.append(f"{cin} ≠ {cout} channels")
    return "no residual: " + ", ".join(reasons)


def _default_title(module: nn.Module, trace: BlockTrace) -> str:
    sub = _subtitle(module)
    return f"{trace.block}\n{sub}" if sub else trace.block


def _arrow(ax: Axes, y0: float, y1: float, text: str) -> None:
    ax.add_patch(
        FancyArrowPatch((0, y0), (0, y1), arrowstyle="-|>", mutation_scale=14, color="0.25",
                        shrinkA=0, shrinkB=0)
    )
    ax.text(_SHAPE_DX, (y0 + y1) / 2, text, va="center", ha="left", color="0.2", gid="shape")


def _draw_layout(ax: Axes, layout: _Layout) -> None:
    """Draw ``layout`` in ``ax``, whose data units are inches."""
    trace = layout.trace
    ax.text(0, -_IO / 2, "input", ha="center", va="center", fontweight="bold", gid="input")
    y_prev = -_IO
    for stage, text, top, h in zip(trace.stages, layout.texts, layout.tops, layout.heights,
                                   strict=True):
        _arrow(ax, y_prev, top, format_shape(stage.in_shape))
        hatched = _hatched(stage)
        ax.add_patch(FancyBboxPatch(
            (-layout.box_w / 2, top - h), layout.box_w, h,
            boxstyle="round,pad=0,rounding_size=0.06",
            facecolor=_COLOURS.get(stage.kind, _COLOURS["other"]),
            edgecolor="0.3", hatch="///" if hatched else None,
            linewidth=1.0, gid=f"stage:{stage.name}",
        ))
        ax.text(0, top - h / 2, text, ha="center", va="center", gid="label",
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1.5}
                if hatched else None)
        y_prev = top - h
    if trace.skip is not None:
        y_prev = _draw_skip(ax, layout, y_prev)
    _arrow(ax, y_prev, layout.out_y + _IO / 2, format_shape(trace.output_shape))
    ax.text(0, layout.out_y, "output", ha="center", va="center", fontweight="bold",
            gid="output")
    if layout.legend_y is not None:
        w, h = _SWATCH
        x0 = -layout.box_w / 2
        ax.add_patch(Rectangle((x0, layout.legend_y - h / 2), w, h, hatch="///",
                               facecolor=_COLOURS["projection"], edgecolor="0.3",
                               linewidth=1.0, gid="legend-linear"))
        ax.text(x0 + w + 0.08, layout.legend_y, _LEGEND_TEXT, ha="left", va="center",
                color="0.2", gid="legend")


def _draw_skip(ax: Axes, layout: _Layout, y_prev: float) -> float:
    """The merge node (``+`` or ``×``) below the last box and the skip path into it, from the
    input round the right of the boxes. Returns the y of the merge node's bottom."""
    trace, y_merge = layout.trace, layout.merge_y
    shape = trace.stages[-1].out_shape if trace.stages else trace.input_shape
    _arrow(ax, y_prev, y_merge + _MERGE_R, format_shape(shape))
    symbol = "+" if trace.skip == "add" else "×"
    ax.add_patch(Circle((0, y_merge), _MERGE_R, facecolor="white", edgecolor="0.2",
                        linewidth=1.2, gid=f"merge-{trace.skip}"))
    ax.text(0, y_merge, symbol, ha="center", va="center", fontsize=1.25 * _TEXT,
            fontweight="bold")
    x_side, y_in = layout.skip_x, -_IO / 2
    x_start = _text_width("input", weight="bold") / 2 + 0.06
    path = Path([(x_start, y_in), (x_side, y_in), (x_side, y_merge), (_MERGE_R, y_merge)],
                [Path.MOVETO, Path.LINETO, Path.LINETO, Path.LINETO])
    ax.add_patch(FancyArrowPatch(path=path, arrowstyle="-|>", mutation_scale=14,
                                 color="#d62728", linewidth=1.6, shrinkA=0, shrinkB=0,
                                 gid="residual" if trace.skip == "add" else "scale"))
    ax.text(x_side + 0.06, (y_in + y_merge) / 2, layout.note, rotation=90, ha="left",
            va="center", color="#b2182b", gid="skip-note")
    return y_merge - _MERGE_R


def _place(ax: Axes, layout: _Layout, title: str, *, anchor: str = "N") -> None:
    """Limits (the layout's extent, one data unit = one inch at the drawn size), the title."""
    x0, x1, y0, y1 = layout.extent
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal", adjustable="box", anchor=anchor)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=_TEXT)


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
    activation) are hatched, as in the MobileNetV2 paper's figures.

    Every text is 12 pt (the figure policy of :mod:`mbcourse.display`). Without ``ax`` the
    figure has the diagram's own size (at most 6.8 in wide); with ``ax``, the labels are
    wrapped to the axes' width, so give it room (:func:`draw_blocks` puts several side by
    side). Used from chapter 0 (book/00_start_here.ipynb) on; chapter 2
    (book/02_inverted_residuals.ipynb) reads its trace.
    """
    trace = _trace("draw_block", module, input_shape)
    if title is None:
        title = _default_title(module, trace)
    if ax is not None:
        if not isinstance(ax, Axes):
            raise TypeError(f"draw_block: ax must be a matplotlib Axes or None, got "
                            f"{type(ax).__name__}")
        width = _axes_size(ax)[0]
        layout = _layout(trace, width)
        _draw_layout(ax, layout)
        _place(ax, layout, _wrap(title, max(width, layout.width)))
        return ax.figure
    return _diagram_figure([trace], [title], "")


def draw_blocks(
    modules: Sequence[nn.Module],
    input_shape: Sequence[int],
    *,
    titles: Sequence[str | None] | None = None,
    suptitle: str = "",
) -> Figure:
    """:func:`draw_block` for several modules on the same input, side by side at one scale,
    their inputs level, within the column's 6.8 inches; return the Figure.

    ``titles[i]`` (``None``: the block's name and why it has a residual or not) heads
    ``modules[i]``; ``suptitle`` heads the figure.
    """
    func = "draw_blocks"
    modules = list(modules) if not isinstance(modules, nn.Module) else [modules]
    if not modules:
        raise ValueError(f"{func}: modules must hold at least one module")
    titles = [None] * len(modules) if titles is None else list(titles)
    if len(titles) != len(modules):
        raise ValueError(f"{func}: got {len(modules)} modules but {len(titles)} titles; give "
                         "one each (None for the default)")
    traces = [_trace(func, m, input_shape) for m in modules]
    titles = [_default_title(m, t) if title is None else title
              for m, t, title in zip(modules, traces, titles, strict=True)]
    return _diagram_figure(traces, titles, suptitle)


def _diagram_figure(traces: Sequence[BlockTrace], titles: Sequence[str], suptitle: str) -> Figure:
    """One figure with the diagrams of ``traces`` side by side: every axes exactly its
    layout's size in inches (one scale), tops level, under wrapped titles."""
    n = len(traces)
    column = (FIGURE_WIDTH_IN - (n - 1) * _GAP) / n
    hatched = [any(_hatched(s) for s in t.stages) for t in traces]
    first = hatched.index(True) if any(hatched) else -1  # the hatching explained once
    layouts = [_layout(t, column, legend=i == first) for i, t in enumerate(traces)]
    # each column as wide as its diagram, or its title where that is wider (within the column)
    heads = [_wrap(title, max(layout.width, min(column, _text_width(title))))
             for title, layout in zip(titles, layouts, strict=True)]
    widths = [max(layout.width, _text_width(head)) for layout, head in zip(layouts, heads,
                                                                            strict=True)]
    head_h = max(_lines(h) for h in heads) * _LINE + 0.12 if any(heads) else 0.0
    sup = _wrap(suptitle, FIGURE_WIDTH_IN, size=1.2 * _TEXT) if suptitle else ""
    sup_h = _lines(sup) * 1.2 * _LINE + 0.12 if sup else 0.0
    body = max(layout.height for layout in layouts)
    fig_w = sum(widths) + (n - 1) * _GAP
    fig_h = body + head_h + sup_h
    fig = plt.figure(figsize=(fig_w, fig_h))
    x = 0.0
    for layout, head, w in zip(layouts, heads, widths, strict=True):
        left = x + (w - layout.width) / 2
        top = fig_h - sup_h - head_h
        ax = fig.add_axes((left / fig_w, (top - layout.height) / fig_h,
                           layout.width / fig_w, layout.height / fig_h))
        _draw_layout(ax, layout)
        _place(ax, layout, head)
        x += w + _GAP
    if sup:
        fig.suptitle(sup, y=1 - 0.04 / fig_h, va="top", fontsize=1.2 * _TEXT)
    return fig


def draw_mbconv_vs_fused(
    mbconv: MBConv, fused: FusedMBConv, input_shape: Sequence[int]
) -> Figure:
    """MBConv beside Fused-MBConv on the same input: two diagrams, each titled with the
    block's parameter count and multiply-adds (:func:`~mbcourse.measure.count_parameters`,
    :func:`~mbcourse.measure.count_flops`) measured on ``input_shape``, within 6.8 in."""
    func = "draw_mbconv_vs_fused"
    if not isinstance(mbconv, MBConv):
        raise TypeError(f"{func}: mbconv must be an mbcourse MBConv, got {type(mbconv).__name__}")
    if not isinstance(fused, FusedMBConv):
        raise TypeError(
            f"{func}: fused must be an mbcourse FusedMBConv, got {type(fused).__name__}"
        )
    shape = check_input_shape(func, mbconv, input_shape, ndim=4)
    check_input_shape(func, fused, shape)
    blocks = {"MBConv": mbconv, "Fused-MBConv": fused}
    traces = [_trace(func, block, shape) for block in blocks.values()]
    subtitles = {_subtitle(block) for block in blocks.values()}
    titles = []
    for name, block in blocks.items():
        params, macs = count_parameters(block), count_flops(block, shape).macs
        title = f"{name}\n{params:,} parameters\n{macs / 1e6:,.2f} M multiply-adds"
        if len(subtitles) > 1:  # said once in the figure's title when they agree
            title += f"\n{_subtitle(block)}"
        titles.append(title)
    suptitle = f"MBConv vs Fused-MBConv on a {format_shape(shape)} input"
    if len(subtitles) == 1:
        suptitle += f"\n{subtitles.pop()}"
    return _diagram_figure(traces, titles, suptitle)


# --------------------------------------------------------------------------------------------
# The excitation MLP
# --------------------------------------------------------------------------------------------
def _shown(count: int, max_neurons: int) -> tuple[list[int], bool]:
    if count <= max_neurons:
        return list(range(count)), False
    half = max_neurons // 2
    return list(range(half)) + list(range(count - (max_neurons - half), count)), True


_GATE_CMAP = "RdBu_r"  # diverging: white at a gate of 0.5, red above, blue below
_NEURON_COLOURS = {"in": "#9ecae1", "hidden": "#fcbba1", "out": "#a1d99b"}
_MLP_X = (0.95, 2.95, 4.95)  # the three columns, inches from the left
_MLP_STEP = 0.21  # between two neurons
_MLP_TOP = -0.1  # the first neuron (y, inches); the headings sit above it
_NEURON_R = 0.075


def gate_norm(gate: Tensor | np.ndarray) -> Normalize:
    """The colour scale of a gate in :func:`draw_se_mlp`: centred on 0.5 (a sigmoid's 0) and
    spanning the gate's values, ``0.5 ± max |g - 0.5|`` (at least ``± 0.001``)."""
    values = np.asarray(gate.detach().float().cpu() if isinstance(gate, Tensor) else gate,
                        dtype=float)
    half = max(float(np.abs(values - 0.5).max()), 1e-3)
    return Normalize(0.5 - half, 0.5 + half)


def draw_se_mlp(
    se: SqueezeExcitation,
    ax: Axes | None = None,
    max_neurons: int = 16,
    *,
    gate: Tensor | None = None,
) -> Figure:
    """The excitation MLP of ``se`` as columns of neurons: pooled input (C), squeeze (S),
    gate (C), with the module's real widths and parameter count; 12-pt text, 6.8 in wide.

    Columns wider than ``max_neurons`` are subsampled (first and last channels, a ``⋮`` between)
    and the figure says so. ``gate``, a gate this SE computed (``(C,)``, or ``(N, C)`` from
    :func:`~mbcourse.blocks.record_se_gates`: sample 0 is drawn), colours the output neurons on
    a diverging scale centred on 0.5 that spans the gate's values (:func:`gate_norm`; the
    colour bar marks the lowest and highest gate). Taught in chapter 3
    (book/03_squeeze_excitation.ipynb).
    """
    func = "draw_se_mlp"
    if not isinstance(se, SqueezeExcitation):
        raise TypeError(f"{func}: se must be an mbcourse SqueezeExcitation, got "
                        f"{type(se).__name__}")
    check_int(func, "max_neurons", max_neurons, minimum=2)
    values = _gate_values(func, gate, se.channels)
    rows = min(max(se.channels, se.squeeze_channels), max_neurons + 1)
    bottom = _MLP_TOP - (rows - 1) * _MLP_STEP - 0.45  # room for "showing 16 of 64"
    top = 1.25  # the column headings
    width = FIGURE_WIDTH_IN
    if ax is None:
        height = top - bottom + (0.75 if values is not None else 0.0)
        fig = plt.figure(figsize=(width, height + 0.9))  # the title above
        bar_h = 0.75 / (height + 0.9) if values is not None else 0.0
        ax = fig.add_axes((0, bar_h, 1, (top - bottom) / (height + 0.9)))
    elif not isinstance(ax, Axes):
        raise TypeError(f"{func}: ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    norm = gate_norm(values) if values is not None else None
    columns = [("in", se.channels), ("hidden", se.squeeze_channels), ("out", se.channels)]
    positions = [
        _draw_neuron_column(ax, x, kind, count, max_neurons,
                            values if kind == "out" else None, norm)
        for x, (kind, count) in zip(_MLP_X, columns, strict=True)
    ]
    ends = [((x0 + _NEURON_R, y0), (x1 - _NEURON_R, y1))
            for left, right in pairwise(positions) for x0, y0 in left for x1, y1 in right]
    # up to 2 · 16 · 16 thin lines as one path: one element of the SVG, not hundreds
    lines = Path([p for pair in ends for p in pair], [Path.MOVETO, Path.LINETO] * len(ends))
    ax.add_patch(PathPatch(lines, facecolor="none", edgecolor="0.6", linewidth=0.3, alpha=0.5,
                           zorder=1, gid="connections"))
    _label_se_mlp(ax, se)
    ax.set_xlim(0, width)
    ax.set_ylim(bottom, top)
    ax.set_aspect("equal", anchor="N")
    ax.axis("off")
    if values is not None:
        _gate_colourbar(ax, values, norm)
    return ax.figure


def _gate_colourbar(ax: Axes, values: np.ndarray, norm: Normalize) -> None:
    """A horizontal colour bar under the MLP, ticks at the lowest gate, 0.5 and the highest."""
    sm = plt.cm.ScalarMappable(cmap=_GATE_CMAP, norm=norm)
    bar = ax.figure.colorbar(sm, ax=ax, orientation="horizontal", fraction=0.04, pad=0.02,
                             shrink=0.7, aspect=30,
                             label="gate value of each output channel (sample 0)")
    lo, hi = float(values.min()), float(values.max())
    ticks = sorted({round(lo, 3), 0.5, round(hi, 3)})
    bar.set_ticks(ticks, labels=[f"{t:.3f}" if t != 0.5 else "0.5" for t in ticks])


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
    ax: Axes, x: float, kind: str, count: int, max_neurons: int, gate: np.ndarray | None,
    norm: Normalize | None,
) -> list[tuple[float, float]]:
    """One column of ``count`` neurons (subsampled to ``max_neurons`` with a ``⋮``); output
    neurons coloured by ``gate`` on ``norm`` when given. Returns the neurons' centres."""
    idx, cut = _shown(count, max_neurons)
    n_rows = len(idx) + (1 if cut else 0)
    tallest = min(max_neurons + 1, max(n_rows, 1))
    offset = (tallest - n_rows) * _MLP_STEP / 2 if n_rows < max_neurons else 0.0
    ys = [_MLP_TOP - offset - i * _MLP_STEP for i in range(n_rows)]
    cmap = plt.get_cmap(_GATE_CMAP)
    points: list[tuple[float, float]] = []
    row = 0
    for j, channel in enumerate(idx):
        if cut and j == len(idx) - (max_neurons - max_neurons // 2):
            ax.text(x, ys[row], "⋮", ha="center", va="center", fontsize=1.2 * _TEXT,
                    gid="ellipsis")
            row += 1
        if gate is not None:
            colour = cmap(norm(float(gate[channel])))
        else:  # grey beside gate-coloured outputs, so that no colour reads as a value
            colour = _NEURON_COLOURS[kind] if norm is None else "0.88"
        ax.add_patch(Circle((x, ys[row]), _NEURON_R, facecolor=colour, edgecolor="0.2",
                            linewidth=0.8, zorder=3, gid=f"neuron-{kind}"))
        points.append((x, ys[row]))
        row += 1
    if cut:
        ax.text(x, ys[-1] - 0.18, f"showing {len(idx)} of {count}", ha="center", va="top",
                color="0.3", gid="subsampled")
    return points


def _label_se_mlp(ax: Axes, se: SqueezeExcitation) -> None:
    """Column headings, the ``x_c · g_c`` scale arrow and the title with the parameter count."""
    c, s = se.channels, se.squeeze_channels
    r = c / s
    r_text = f"{r:g}" if r == int(r) else f"{c}/{s}"
    heads = [
        f"pooled input z\nC = {c}\n(average of each\nchannel)",
        f"fc1: 1×1 conv\n+ bias, {_act_name(se.activation)}\nS = {s}\n(r = C/S = {r_text})",
        f"fc2: 1×1 conv\n+ bias, sigmoid\ngate g ∈ (0, 1)\nC = {c}",
    ]
    for x, head in zip(_MLP_X, heads, strict=True):
        ax.text(x, _MLP_TOP + 0.25, head, ha="center", va="bottom", gid="heading")
    y_mid = _MLP_TOP - (min(c, 17) - 1) * _MLP_STEP / 2
    ax.annotate("", xy=(_MLP_X[2] + 0.75, y_mid), xytext=(_MLP_X[2] + 0.15, y_mid),
                arrowprops={"arrowstyle": "-|>", "color": "0.25"})
    ax.text(_MLP_X[2] + 0.82, y_mid, "scale\neach\nchannel:\nx_c · g_c", ha="left",
            va="center", gid="scale")
    params = count_parameters(se)
    ax.set_title(
        f"Excitation MLP of SqueezeExcitation: {c} → {s} → {c}\n"
        f"{params:,} parameters = 2·C·S + S + C\n= 2·{c}·{s} + {s} + {c}",
        fontsize=_TEXT,
    )


# --------------------------------------------------------------------------------------------
# Shared plotting helpers
# --------------------------------------------------------------------------------------------
def _content_top(ax: Axes, frame: Bbox, renderer: object) -> float | None:
    """The highest point (display units) of the bars, lines and texts of ``ax`` that lie
    under ``frame`` horizontally, or None."""
    top = None
    for artist in [*ax.patches, *ax.lines, *ax.texts, *ax.collections]:
        if not artist.get_visible():
            continue
        box = artist.get_window_extent(renderer)
        if box.width == box.height == 0 or box.x1 < frame.x0 or box.x0 > frame.x1:
            continue
        if not np.isfinite(box.y1):
            continue
        top = box.y1 if top is None else max(top, box.y1)
    return top


_CORNERS = ("upper left", "upper right", "upper center")
_SQUASH = 0.6  # the bars keep at least this share of their height, or the legend goes below


def _legend_below(ax: Axes, legend: Legend) -> None:
    """Put ``legend`` under the axes, below its tick labels and x-label (one line kept free
    for an x-label not set yet), at a fixed distance in inches, so that a later layout
    change keeps it clear of them; ``tight_layout`` makes room for it."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    axes_box = ax.get_window_extent(renderer)
    axis_box = ax.xaxis.get_tightbbox(renderer)
    depth = (axes_box.y0 - axis_box.y0) / fig.dpi if axis_box is not None else 0.0
    if not ax.get_xlabel():
        depth += _LINE + 0.05
    below = ScaledTranslation(0, -(depth + 0.08), fig.dpi_scale_trans)
    legend.set_loc("upper center")
    legend.set_bbox_to_anchor((0.5, 0.0), transform=ax.transAxes + below)


def _legend_clear_of_bars(ax: Axes, legend: Legend, *, corners: Sequence[str] = _CORNERS) -> None:
    """Move ``legend`` to the one of ``corners`` with the least under it, and raise the top of
    the y-axis until nothing of ``ax`` lies under the legend's frame: the legend sits above
    the bars. A legend too tall for that goes outside, right of the axes."""
    fig = ax.figure
    ax.get_ylim()  # applies a pending autoscale: the transforms below need the final limits
    renderer = fig.canvas.get_renderer()
    best = None
    for corner in corners:
        legend.set_loc(corner)
        frame = legend.get_window_extent(renderer)
        top = _content_top(ax, frame, renderer)
        if best is None or (top or -np.inf) < best[1]:
            best = (corner, -np.inf if top is None else top)
    legend.set_loc(best[0])
    if legend.get_window_extent(renderer).width > ax.get_window_extent(renderer).width:
        _legend_below(ax, legend)  # wider than the axes: no room above the bars either
        return
    log = ax.get_yscale() == "log"
    for _ in range(8):
        frame = legend.get_window_extent(renderer)
        box = ax.get_window_extent(renderer)
        pad = 8 + 0.06 * box.height  # points; room for a layout that shrinks the axes a bit
        top = _content_top(ax, frame, renderer)
        target = frame.y0 - pad * fig.dpi / 72
        if top is None or top <= target:
            return
        have, want = (top - box.y0) / box.height, (target - box.y0) / box.height
        if have <= 0 or want < _SQUASH * min(have, 1.0):  # room above would squash the bars
            _legend_below(ax, legend)
            return
        y0, y1 = ax.get_ylim()
        if log:
            l0, l1 = np.log10(y0), np.log10(y1)
            ax.set_ylim(y0, 10 ** (l0 + (l1 - l0) * have / want))
        else:
            ax.set_ylim(y0, y0 + (y1 - y0) * have / want)


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
    value (``value_format``: a format string such as ``"{:,.1f}"`` or a function).

    A NaN value (or one that is not positive on a ``log`` axis) draws no bar and no label: a
    value the source does not give. Every text is 12 pt: the values turn upright where they
    are wider than their bars; the title, the y-label and the category names wrap to the
    axes; the legend sits above the bars (the y-axis grows to make room).
    """
    func = "bar_compare"
    if not series:
        raise ValueError(f"{func}: series must hold at least one named sequence of values")
    for name, values in series.items():
        if len(values) != len(categories):
            raise ValueError(
                f"{func}: series {name!r} has {len(values)} values for "
                f"{len(categories)} categories"
            )
    n_bars = len(categories) * len(series)
    width_in = min(FIGURE_WIDTH_IN, max(5.0, 0.45 * n_bars + 2.0))
    if ax is None:
        fig = plt.figure(figsize=(width_in, 4.2))
        ax = fig.add_subplot()
        fig.subplots_adjust(left=0.16, right=0.97)
    elif not isinstance(ax, Axes):
        raise TypeError(f"{func}: ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    fig = ax.figure
    axes_w, axes_h = _axes_size(ax)
    fmt = value_format if callable(value_format) else value_format.format
    x = np.arange(len(categories))
    width = 0.8 / len(series)
    bar_w = axes_w / max(len(categories), 1) * width
    for i, (name, values) in enumerate(series.items()):
        heights = [float(v) for v in values]
        shown = [np.isfinite(v) and (v > 0 or not log) for v in heights]
        labels = [fmt(v) if ok else "" for v, ok in zip(heights, shown, strict=True)]
        upright = max([_text_width(t) for t in labels if t] or [0.0]) > 0.95 * bar_w
        bars = ax.bar(x - 0.4 + width * (i + 0.5),
                      [v if ok else np.nan for v, ok in zip(heights, shown, strict=True)],
                      width, label=name)
        ax.bar_label(bars, labels=labels, padding=2, rotation=90 if upright else 0)
    group_w = axes_w / max(len(categories), 1)
    names = [_wrap(str(c), 0.95 * group_w) for c in categories]
    if max(_text_width(n) for n in names) <= 0.95 * group_w:
        ax.set_xticks(x, names)
    else:  # a word wider than its group: slanted, whole
        ax.set_xticks(x, [str(c) for c in categories], rotation=40, ha="right",
                      rotation_mode="anchor")
    if log:
        ax.set_yscale("log")
        ax.yaxis.set_minor_formatter(NullFormatter())  # no "2×10²" minor labels
    ax.set_ylabel(_wrap(ylabel, 0.9 * axes_h))
    if xlabel:
        ax.set_xlabel(_wrap(xlabel, axes_w))
    title_pt = FontProperties(size=plt.rcParams["axes.titlesize"]).get_size_in_points()
    ax.set_title(_wrap(title, axes_w, size=title_pt))
    ax.margins(y=0.1)
    ncols = len(series)
    if sum(_text_width(n) + 0.6 for n in series) > 0.9 * axes_w:
        ncols = 1
    legend = ax.legend(ncols=ncols)
    _legend_clear_of_bars(ax, legend)
    return fig


_SPIRAL_COLUMNS = 3


def plot_spiral_embeddings(
    points: Tensor,
    reconstructions: Mapping[int, Tensor],
    *,
    notes: Mapping[int, str] | None = None,
    title: str = "",
) -> Figure:
    """The input 2-D curve beside its reconstruction for each embedding dimension ``n``.

    ``points`` is ``(P, 2)``; ``reconstructions[n]`` is ``(P, 2)``. Points are coloured by their
    position along the curve, so collapsed stretches show as one colour on a line. At most
    three panels a row within 6.8 in, 12-pt text; the points are drawn as an image inside the
    SVG (``rasterized``), which keeps the file small.
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
    panels = [("Input", pts, None)] + [(f"n = {n}", r.detach().cpu(), n) for n, r in
                                       reconstructions.items()]
    cols = min(_SPIRAL_COLUMNS, len(panels))
    rows = -(-len(panels) // cols)
    panel_w = (FIGURE_WIDTH_IN - 0.6) / cols
    names = []
    for name, _, key in panels:
        note = notes.get(key) if notes is not None and key is not None else None
        names.append(name if note is None else f"{name}\n{_wrap(note, panel_w - 0.1)}")
    head = max(_lines(n) for n in names) * _LINE
    sup = _wrap(title, FIGURE_WIDTH_IN, size=1.2 * _TEXT) if title else ""
    height = rows * (panel_w + head + 0.55) + (_lines(sup) * 1.2 * _LINE + 0.1 if sup else 0)
    fig, axes = plt.subplots(rows, cols, figsize=(FIGURE_WIDTH_IN, height), dpi=150,
                             sharex=True, sharey=True, squeeze=False)
    colour = np.linspace(0, 1, pts.shape[0])
    lim = float(pts.abs().max()) * 1.15
    ticks = [t for t in (-1.0, 0.0, 1.0) if abs(t) <= lim]
    flat = list(axes.flat)
    for ax, (_, xy, _), label in zip(flat, panels, names, strict=False):
        ax.scatter(xy[:, 0], xy[:, 1], c=colour, cmap="viridis", s=3, rasterized=True)
        ax.set_title(label, fontsize=_TEXT)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        names_ = [f"{t:g}".replace("-", "−") for t in ticks]
        ax.set_xticks(ticks, names_)
        ax.set_yticks(ticks, names_)
    for ax in flat[len(panels):]:
        ax.set_visible(False)
    for i, ax in enumerate(flat[: len(panels)]):
        if i % cols == 0:
            ax.set_ylabel("x₂")
        if i + cols >= len(panels):  # the lowest panel of its column
            ax.set_xlabel("x₁")
            ax.xaxis.set_tick_params(labelbottom=True)
    if sup:
        fig.suptitle(sup, fontsize=1.2 * _TEXT)
    fig.tight_layout()
    return fig


#: Legend entry of bars that :func:`mark_within_noise` greys (see measure.timing.within_noise).
NOISE_LABEL = "within noise (|ratio − 1| ≤ spread of rounds)"


def _legend_kwargs(legend: Legend) -> dict[str, object]:
    """What a caller set on ``legend`` that a rebuilt legend must keep: position, columns,
    frame, font size, title."""
    kwargs: dict[str, object] = {
        "loc": legend._get_loc(),  # no public getter (matplotlib 3.11)
        "ncols": getattr(legend, "_ncols", 1),
        "frameon": legend.get_frame_on(),
        "fontsize": legend.prop.get_size(),
    }
    anchor = getattr(legend, "_bbox_to_anchor", None)  # in display units, and kept live
    if anchor is not None:
        kwargs["bbox_to_anchor"] = anchor
        kwargs["bbox_transform"] = IdentityTransform()
    title = legend.get_title().get_text()
    if title:
        kwargs["title"] = title
    return kwargs


def mark_within_noise(
    ax: Axes, bars: Sequence[Patch], flags: Sequence[bool], *, label: str = NOISE_LABEL
) -> int:
    """Grey and hatch the ``bars`` (matplotlib patches) whose flag is true; add ``label`` to
    the axes' legend when any is marked. Returns how many bars were marked.

    The legend keeps what the caller set on it (position, anchor, columns, frame, font size,
    title). A legend at matplotlib's default place ("best", or none yet) is put above the
    bars instead, the y-axis growing to make room, so that it never covers one.
    """
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
        old = ax.get_legend()
        kwargs = _legend_kwargs(old) if old is not None else {"loc": 0}
        text = _wrap(label, max(_axes_size(ax)[0] - 0.7, 1.0))  # no wider than the axes
        legend = ax.legend(handles=[*handles, Patch(**style, label=text)], **kwargs)
        if kwargs["loc"] == 0 and "bbox_to_anchor" not in kwargs:
            _legend_clear_of_bars(ax, legend)
    return marked
