"""The row type of every architecture table (MobileNetV2's Table 2, EfficientNet's Table 1,
EfficientNetV2's Table 4) and the rule that turns a table into the rows a network is built from.

Taught in chapter 6 (book/06_whole_networks.ipynb).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from torch import nn

from ..blocks import ConvNormAct, FusedMBConv, InvertedResidual, MBConv, make_divisible

__all__ = ["StageRow", "resolve_rows"]

# The papers' names for the operators (printing only: the class itself builds the row).
_OPERATOR_NAMES: dict[type[nn.Module], str] = {
    InvertedResidual: "bottleneck",
    MBConv: "MBConv",
    FusedMBConv: "Fused-MBConv",
}


@dataclass(frozen=True)
class StageRow:
    """One row of an architecture table: ``layers`` blocks of class ``block``.

    ``block`` builds the row: :class:`~mbcourse.blocks.InvertedResidual` (MobileNetV2's
    "bottleneck"), :class:`~mbcourse.blocks.MBConv`, :class:`~mbcourse.blocks.FusedMBConv`, or
    :class:`~mbcourse.blocks.ConvNormAct` for a stem or head row. ``expand_ratio`` is the
    paper's ``t`` (the ``6`` of "MBConv6"), ``kernel`` the ``k`` of "k3x3", ``stride`` that of
    the row's first block (``None`` where the paper prints "-": the head, a 1x1 conv followed
    by pooling and the classifier), ``resolution`` the row's input size at the paper's input
    resolution (where the paper prints it), ``out_channels`` and ``layers`` the paper's
    ``c``/"#Channels" and ``n``/"#Layers", ``se_ratio`` the SE width as a fraction of the
    block's input channels. ``in_channels`` is ``None`` in a published table and set in the
    rows :func:`resolve_rows` computes for one network.
    """

    stage: int
    block: type[nn.Module]
    expand_ratio: float | None
    kernel: int
    stride: int | None
    resolution: int | None
    out_channels: int
    layers: int
    se_ratio: float = 0.0
    in_channels: int | None = None

    @property
    def operator(self) -> str:
        """The operator's name as the papers print it: ``"MBConv"``, ``"Conv3x3"``, ..."""
        if self.block is ConvNormAct:
            conv = f"Conv{self.kernel}x{self.kernel}"
            return conv if self.stride is not None else f"{conv} & Pooling & FC"
        return _OPERATOR_NAMES.get(self.block, self.block.__name__)

    @property
    def label(self) -> str:
        """The operator with its settings, e.g. ``"MBConv6, k5x5, SE0.25"``."""
        if self.expand_ratio is None:
            return self.operator
        text = f"{self.operator}{self.expand_ratio:g}, k{self.kernel}x{self.kernel}"
        return f"{text}, SE{self.se_ratio:g}" if self.se_ratio else text


def resolve_rows(
    rows: Sequence[StageRow],
    in_channels: int,
    *,
    width_mult: float = 1.0,
    depth_mult: float = 1.0,
    small_input: bool = False,
    round_nearest: int = 8,
) -> tuple[StageRow, ...]:
    """The block rows as one network builds them.

    Output channels become ``make_divisible(c * width_mult, round_nearest)``, layers
    ``ceil(n * depth_mult)``; each row's ``in_channels`` is the previous row's output
    (``in_channels`` for the first); with ``small_input`` the first stride-2 row gets stride 1.
    ``resolution`` is dropped (``None``): it belongs to the paper's configuration only.
    """
    resolved: list[StageRow] = []
    stride_cut = small_input  # the first stride-2 row loses its stride with small_input
    for row in rows:
        if row.expand_ratio is None or row.stride is None:
            raise ValueError(f"resolve_rows: block row {row} needs an expand_ratio and a stride")
        stride = row.stride
        if stride_cut and stride == 2:
            stride, stride_cut = 1, False
        out_c = make_divisible(row.out_channels * width_mult, round_nearest)
        resolved.append(
            replace(row, in_channels=in_channels, out_channels=out_c, stride=stride,
                    layers=math.ceil(row.layers * depth_mult), resolution=None)
        )
        in_channels = out_c
    return tuple(resolved)
