"""Chapter 2 (Inverted residuals and linear bottlenecks): the numbers its prose prints and its
figures. Taught in chapter 2 (book/02_inverted_residuals.ipynb).

* :func:`facts` -> :class:`Ch2Facts`: every number of the chapter's text, from the package's
  blocks, :mod:`mbcourse.costs`, MobileNetV2 (its Table 2, its activation memory, its width
  family) and the spiral experiment of :mod:`mbcourse.studies.manifold`.
* :func:`table1_shapes`: the shapes the paper's Table 1 gives the block's three layers.
* :func:`largest_tensors` and :func:`plot_memory`: the largest bottleneck and expanded tensor
  per resolution beside the paper's Table 3 (:data:`PAPER_TABLE3`).
* :func:`spiral_readout`: what the spiral figure draws (the linear read-out ``T⁺``) against
  what is lost (points no read-out can recover).
* :func:`width_family`: the width multipliers' parameters and multiply-adds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torch import Tensor

from .. import costs
from ..blocks import InvertedResidual
from ..display import FIGURE_WIDTH_IN
from ..measure import ActivationMemory, activation_memory, count_flops, count_parameters
from ..models import mobilenet_v2
from ..validation import check_int
from ..viz import bar_compare, format_shape
from . import manifold
from .ch01 import plain_log_ticks

__all__ = [
    "COLLAPSE",
    "FP16",
    "PAPER_RESOLUTIONS",
    "PAPER_TABLE3",
    "PAPER_WIDTHS",
    "SPIRAL",
    "Ch2Facts",
    "FamilyMember",
    "LargestTensors",
    "SpiralReadout",
    "facts",
    "largest_tensors",
    "plot_memory",
    "spiral_readout",
    "table1_shapes",
    "width_family",
]

#: The spiral figure's run: ``manifold.spiral_experiment(manifold.PAPER_DIMS, **SPIRAL)``.
SPIRAL: Mapping[str, int] = {"num_points": 800, "seed": 3}
#: The averages of the text: ``manifold.collapse_statistics(manifold.PAPER_DIMS, **COLLAPSE)``.
COLLAPSE: Mapping[str, int] = {"trials": 200, "num_points": 400, "seed": 0}

#: Bytes per activation in the paper's Table 3 (16-bit floats).
FP16 = 2
#: MobileNetV2's Table 3, MobileNetV2 column: resolution -> (max channels, memory in kB,
#: 16-bit). At 112x112 the table gives "1/O(1)": the first layer computed with Section 5.1's
#: memory trick, no number to draw.
PAPER_TABLE3: Mapping[int, tuple[int, int]] = {56: (32, 200), 28: (64, 100), 14: (160, 62),
                                               7: (320, 32)}
#: The paper's width multipliers (0.35 to 1.4) and input resolutions (96 to 224).
PAPER_WIDTHS = (0.35, 0.5, 0.75, 1.0, 1.4)
PAPER_RESOLUTIONS = (96, 160, 224)


def table1_shapes(
    input_shape: Sequence[int], *, expand_ratio: float, out_channels: int, stride: int
) -> list[tuple[int, ...]]:
    """The outputs of the block's three layers as the paper's Table 1 gives them:
    ``h x w x d' -> h x w x t d' -> h/s x w/s x t d' -> h/s x w/s x d''`` (``N x C x H x W``)."""
    func = "table1_shapes"
    if len(input_shape) != 4:
        raise ValueError(f"{func}: input_shape must be (N, C, H, W), got {tuple(input_shape)}")
    check_int(func, "out_channels", out_channels)
    check_int(func, "stride", stride)
    n, d_in, h, w = (int(v) for v in input_shape)
    hidden = round(d_in * expand_ratio)
    return [(n, hidden, h, w), (n, hidden, h // stride, w // stride),
            (n, out_channels, h // stride, w // stride)]


# ---- memory --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LargestTensors:
    """The largest tensors MobileNetV2 holds at one spatial resolution, in channels and kB of
    16-bit floats (1 kB = 1000 bytes), beside the paper's Table 3 (``None`` where it prints no
    number)."""

    resolution: int
    bottleneck_channels: int
    expanded_channels: int
    paper_channels: int | None
    paper_kb: int | None

    def kb(self, channels: int) -> float:
        """``channels x resolution² x 2`` bytes, in kB."""
        return channels * self.resolution**2 * FP16 / 1000

    @property
    def bottleneck_kb(self) -> float:
        return self.kb(self.bottleneck_channels)

    @property
    def expanded_kb(self) -> float:
        return self.kb(self.expanded_channels)


def largest_tensors(memory: ActivationMemory) -> list[LargestTensors]:
    """Per resolution (largest first): the widest bottleneck tensor (a block's input or output)
    and the widest expanded tensor (the largest inside a block, at the block's input
    resolution) of the :class:`~mbcourse.blocks.InvertedResidual` blocks of ``memory``."""
    bottleneck: dict[int, int] = {}
    expanded: dict[int, int] = {}
    for r in memory.blocks:
        if r.type != "InvertedResidual":
            continue
        for shape in (r.input_shape, r.output_shape):
            bottleneck[shape[-1]] = max(bottleneck.get(shape[-1], 0), shape[1])
        res = r.input_shape[-1]
        channels = memory.elements(r.largest_bytes) // (res * res)
        expanded[res] = max(expanded.get(res, 0), channels)
    if not bottleneck:
        raise ValueError("largest_tensors: memory holds no InvertedResidual block")
    rows = []
    for res in sorted(bottleneck, reverse=True):
        paper = PAPER_TABLE3.get(res)
        rows.append(LargestTensors(res, bottleneck[res], expanded[res],
                                   paper[0] if paper else None, paper[1] if paper else None))
    return rows


def plot_memory(rows: Sequence[LargestTensors]) -> Figure:
    """Grouped bars per resolution: the bottleneck and expanded tensors (ours) and the paper's
    Table 3, in kB at 16 bit, log scale; where the paper prints ``1/O(1)`` (112x112) the figure
    says so instead of a bar. Values are written without a thousands separator, so that
    ``2408`` cannot be read as ``2.4``."""
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH_IN, 5.0))
    categories = [f"{r.resolution}×{r.resolution}" for r in rows]
    bar_compare(
        categories,
        {
            "bottleneck (ours)": [r.bottleneck_kb for r in rows],
            "expanded (ours)": [r.expanded_kb for r in rows],
            "paper, Table 3": [r.paper_kb or 0 for r in rows],
        },
        ylabel="largest tensor, kB (16-bit)",
        xlabel="spatial resolution",
        title="MobileNetV2 at 224×224",
        log=True,
        ax=ax,
        value_format=lambda v: f"{v:.0f}" if v else "",
    )
    for i, r in enumerate(rows):
        if r.paper_kb is None:
            ax.annotate("paper:\n1/O(1)", (i + 0.27, 0), xycoords=("data", "axes fraction"),
                        xytext=(0, 6), textcoords="offset points", ha="center", va="bottom")
    plain_log_ticks(ax.yaxis)
    ax.set_ylim(10, 10_000)
    ax.legend(ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.22), frameon=False)
    fig.tight_layout()
    return fig


# ---- the spiral ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpiralReadout:
    """One ``n`` of the spiral figure: what it draws and what is lost.

    ``size``: the mean distance of the drawn points ``T⁺ ReLU(T x)`` from the origin, over the
    spiral's (the drawing's scale; about 1/2 for large ``n``); ``lost``: the fraction of points
    that ``ReLU(T x)`` does not determine; ``recovered_error``: the largest distance between a
    point and its recovery by :func:`~mbcourse.studies.manifold.recover` (the other points).
    """

    dim: int
    size: float
    lost: float
    recovered_error: float


def spiral_readout(points: Tensor, runs: Mapping[int, manifold.SpiralEmbedding]
                   ) -> dict[int, SpiralReadout]:
    """For each run of :func:`~mbcourse.studies.manifold.spiral_experiment`: the drawing's
    scale, the fraction lost, and how exactly the rest is recovered."""
    out = {}
    scale = float(points.norm(dim=1).mean())
    for n, run in runs.items():
        recovered = manifold.recover(run.embedded, run.transform)
        keep = run.recoverable
        error = float((recovered[keep] - points[keep]).norm(dim=1).max()) if keep.any() else 0.0
        size = float(run.reconstruction.norm(dim=1).mean()) / scale
        out[n] = SpiralReadout(n, size, run.collapsed_fraction, error)
    return out


# ---- the width family ----------------------------------------------------------------------


@dataclass(frozen=True)
class FamilyMember:
    """``mobilenet_v2(width_mult=width)``: its parameters and multiply-adds per resolution."""

    width: float
    params: int
    macs: Mapping[int, int]


@lru_cache(maxsize=4)
def width_family(widths: tuple[float, ...] = PAPER_WIDTHS,
                 resolutions: tuple[int, ...] = PAPER_RESOLUTIONS) -> tuple[FamilyMember, ...]:
    """Each width multiplier's network, built and counted on the ``meta`` device (shapes only)."""
    members = []
    for width in widths:
        with torch.device("meta"):
            net = mobilenet_v2(width_mult=width)
        macs = {r: count_flops(net, r, device="meta").macs for r in resolutions}
        members.append(FamilyMember(width, count_parameters(net), macs))
    return tuple(members)


# ---- the facts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Ch2Facts:
    """The numbers chapter 2's prose prints (glued as ``ch2_<field>``)."""

    n_blocks: int  # MobileNetV2's inverted residual blocks (Table 2's n summed)
    n_residual: int  # of them with a residual
    n_rows: int  # Table 2's bottleneck rows
    first_t: float  # the expansion ratio of Table 2's first bottleneck row (1)
    first_c: int  # its output channels (16)
    t6_rows: int  # rows with t = 6
    t6_blocks: int  # blocks with t = 6
    hidden: int  # InvertedResidual(24, 32, stride=2): expanded channels
    expanded_shape: str  # its expansion's output shape
    out_shape: str  # its output shape
    keep_macs: int  # InvertedResidual(24, 24) on 56x56
    keep_params: int
    keep_pw_share: int  # % of its multiply-adds in the two 1x1 convs
    lost_2: float  # % of the spiral lost, averaged over COLLAPSE["trials"] matrices T
    lost_3: float
    lost_5: float
    lost_15: float
    lost_30: float
    trials: int  # the number of random matrices T of those averages
    drawn_15: int  # % of the spiral's size at which the figure draws n = 15 (T⁺ read-out)
    drawn_30: int
    recover_error: float  # largest recovery error over the figure's recoverable points
    mem_streaming: float  # MB at 16 bit: a block's input + output, the largest over blocks
    mem_expanded: float  # MB: the largest expanded tensor
    mem_peak: float  # MB: eager PyTorch's peak
    mem_ratio: float  # peak / streaming
    b112: int  # widest bottleneck tensor per resolution (channels)
    b56: int
    b28: int
    b14: int
    e112: int  # widest expanded tensor at 112x112 (channels) and its kB
    e112_kb: int
    w035_params_m: float  # the width family's smallest and largest member
    w14_params_m: float
    w035_r96_macs_m: int
    w14_r224_macs_m: int
    res_ratio: float  # width 1: multiply-adds at 224 over those at 96


def facts(memory: ActivationMemory | None = None) -> Ch2Facts:
    """Chapter 2's numbers (a few seconds on a 2-core CPU). ``memory``: MobileNetV2's
    :func:`~mbcourse.measure.activation_memory` at 224x224, if the caller has it already
    (default: measured here, on the ``meta`` device)."""
    net = mobilenet_v2()
    blocks = [m for m in net.features if isinstance(m, InvertedResidual)]
    rows = net.table
    down = InvertedResidual(24, 32, stride=2, expand_ratio=6)
    shapes = table1_shapes((1, 24, 56, 56), expand_ratio=6, out_channels=32, stride=2)
    keep = costs.inverted_residual(24, 24, 56, stride=1, expand_ratio=6)
    pointwise = costs.conv(24, 144, 1, 56).macs + costs.conv(144, 24, 1, 56).macs

    stats = manifold.collapse_statistics(manifold.PAPER_DIMS, **COLLAPSE)
    points, runs = manifold.spiral_experiment(manifold.PAPER_DIMS, **SPIRAL)
    readout = spiral_readout(points, runs)

    if memory is None:
        memory = activation_memory(net, 224, device="meta")
    elif memory.input_shape != (1, 3, 224, 224):
        raise ValueError(f"studies.ch02.facts: memory must be MobileNetV2's at 1x3x224x224, "
                         f"got input {memory.input_shape}")
    largest = {r.resolution: r for r in largest_tensors(memory)}
    ir_rows = [r for r in memory.blocks if r.type == "InvertedResidual"]

    def mb(nbytes: int) -> float:  # a float32 byte count, as 16-bit floats, in MB
        return round(memory.elements(nbytes) * FP16 / 1e6, 2)

    streaming = max(r.boundary_bytes for r in ir_rows)
    family = {m.width: m for m in width_family()}
    return Ch2Facts(
        n_blocks=len(blocks),
        n_residual=sum(b.use_residual for b in blocks),
        n_rows=len(rows),
        first_t=rows[0].expand_ratio,
        first_c=rows[0].out_channels,
        t6_rows=sum(r.expand_ratio == 6 for r in rows),
        t6_blocks=sum(r.layers for r in rows if r.expand_ratio == 6),
        hidden=down.expanded_channels,
        expanded_shape=format_shape(shapes[0]),
        out_shape=format_shape(shapes[-1]),
        keep_macs=keep.macs,
        keep_params=keep.params,
        keep_pw_share=round(100 * pointwise / keep.macs),
        **{f"lost_{n}": round(100 * stats[n], 1) for n in manifold.PAPER_DIMS},
        trials=COLLAPSE["trials"],
        drawn_15=round(100 * readout[15].size),
        drawn_30=round(100 * readout[30].size),
        recover_error=max(r.recovered_error for r in readout.values()),
        mem_streaming=mb(streaming),
        mem_expanded=mb(max(r.largest_bytes for r in ir_rows)),
        mem_peak=mb(memory.peak_bytes),
        mem_ratio=round(memory.peak_bytes / streaming, 1),
        b112=largest[112].bottleneck_channels,
        b56=largest[56].bottleneck_channels,
        b28=largest[28].bottleneck_channels,
        b14=largest[14].bottleneck_channels,
        e112=largest[112].expanded_channels,
        e112_kb=round(largest[112].expanded_kb),
        w035_params_m=round(family[0.35].params / 1e6, 2),
        w14_params_m=round(family[1.4].params / 1e6, 2),
        w035_r96_macs_m=round(family[0.35].macs[96] / 1e6),
        w14_r224_macs_m=round(family[1.4].macs[224] / 1e6),
        res_ratio=round(family[1.0].macs[224] / family[1.0].macs[96], 1),
    )
