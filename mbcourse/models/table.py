"""The row types of every architecture table (MobileNetV2's Table 2, EfficientNet's Table 1,
EfficientNetV2's Table 4) and the rule that turns a table into the rows a network is built from.

A table is a tuple ``(StemRow, StageRow, ..., StageRow, HeadRow)``: one type per kind of row,
each field meaning what the paper's column shows, and every row used to build the network
(:func:`split_table` checks the order).

Taught in chapter 6 (book/06_whole_networks.ipynb).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from torch import nn

from ..blocks import ConvNormAct, FusedMBConv, InvertedResidual, MBConv, make_divisible

__all__ = ["HeadRow", "StageRow", "StemRow", "TableRow", "resolve_rows", "split_table"]

# The papers' names for the operators (printing only: the class itself builds the row).
_OPERATOR_NAMES: dict[type[nn.Module], str] = {
    InvertedResidual: "bottleneck",
    MBConv: "MBConv",
    FusedMBConv: "Fused-MBConv",
}


@dataclass(frozen=True)
class _ConvRow:
    """What a stem row and a head row share: one ConvNormAct, one layer, printed as is."""

    block: ClassVar[type[nn.Module]] = ConvNormAct
    layers: ClassVar[int] = 1

    @property
    def label(self) -> str:
        return self.operator  # type: ignore[attr-defined]


@dataclass(frozen=True)
class StemRow(_ConvRow):
    """The first row of a table: one ``kernel x kernel`` :class:`~mbcourse.blocks.ConvNormAct`
    from the image's 3 channels to ``out_channels``, with ``stride``; ``resolution`` is the
    row's input size at the paper's input resolution (where the paper prints it)."""

    stage: int
    kernel: int
    stride: int
    resolution: int | None
    out_channels: int

    @property
    def operator(self) -> str:
        """``"Conv3x3"``, as EfficientNet's tables print it."""
        return f"Conv{self.kernel}x{self.kernel}"


@dataclass(frozen=True)
class HeadRow(_ConvRow):
    """The last row of a table: one ``kernel x kernel`` :class:`~mbcourse.blocks.ConvNormAct`
    (stride 1) to ``out_channels``, then global pooling and the classifier. ``stride`` is
    ``None`` because the papers print "-" there: the row ends in pooling, not in a map."""

    stage: int
    kernel: int
    resolution: int | None
    out_channels: int

    stride: ClassVar[None] = None

    @property
    def operator(self) -> str:
        """``"Conv1x1 & Pooling & FC"``, as EfficientNet's tables print it."""
        return f"Conv{self.kernel}x{self.kernel} & Pooling & FC"


@dataclass(frozen=True)
class StageRow:
    """One block row of an architecture table: ``layers`` blocks of class ``block``.

    ``block`` builds the row: :class:`~mbcourse.blocks.InvertedResidual` (MobileNetV2's
    "bottleneck"), :class:`~mbcourse.blocks.MBConv` or :class:`~mbcourse.blocks.FusedMBConv`.
    ``expand_ratio`` is the paper's ``t`` (the ``6`` of "MBConv6"), ``kernel`` the ``k`` of
    "k3x3", ``stride`` that of the row's first block (the others have stride 1),
    ``resolution`` the row's input size at the paper's input resolution (where the paper
    prints it), ``out_channels`` and ``layers`` the paper's ``c``/"#Channels" and
    ``n``/"#Layers", ``se_ratio`` the SE width as a fraction of the block's input channels.
    ``in_channels`` is ``None`` in a published table and set in the rows :func:`resolve_rows`
    computes for one network.
    """

    stage: int
    block: type[nn.Module]
    expand_ratio: float
    kernel: int
    stride: int
    resolution: int | None
    out_channels: int
    layers: int
    se_ratio: float = 0.0
    in_channels: int | None = None

    @property
    def operator(self) -> str:
        """The operator's name as the papers print it: ``"MBConv"``, ``"bottleneck"``, ..."""
        return _OPERATOR_NAMES.get(self.block, self.block.__name__)

    @property
    def label(self) -> str:
        """The operator with its settings, e.g. ``"MBConv6, k5x5, SE0.25"``."""
        text = f"{self.operator}{self.expand_ratio:g}, k{self.kernel}x{self.kernel}"
        return f"{text}, SE{self.se_ratio:g}" if self.se_ratio else text

    def make_block(self, i: int, **kwargs: Any) -> nn.Module:
        """Block ``i`` of this resolved row (:func:`resolve_rows`), built by keyword.

        The first block takes the row's ``in_channels`` and ``stride``, the others
        ``out_channels`` and stride 1; ``kwargs`` (``norm_layer``, ``se_ratio``, ...) go to the
        block class as they are.
        """
        if self.in_channels is None:
            raise ValueError(f"make_block: resolve the table first (resolve_rows): {self!r}")
        return self.block(
            in_channels=self.in_channels if i == 0 else self.out_channels,
            out_channels=self.out_channels,
            stride=self.stride if i == 0 else 1,
            expand_ratio=self.expand_ratio,
            kernel_size=self.kernel,
            **kwargs,
        )


#: Any row of a table.
TableRow = StemRow | StageRow | HeadRow


def split_table(
    func: str, table: Sequence[TableRow]
) -> tuple[StemRow, tuple[StageRow, ...], HeadRow]:
    """``(stem, block rows, head)`` of ``table``, or a ``ValueError`` naming ``func`` unless it
    is ``(StemRow, StageRow, ..., HeadRow)`` with at least one block row."""
    rows = tuple(table) if isinstance(table, Sequence) else ()
    if (
        len(rows) < 3
        or not isinstance(rows[0], StemRow)
        or not isinstance(rows[-1], HeadRow)
        or not all(isinstance(row, StageRow) for row in rows[1:-1])
    ):
        raise ValueError(
            f"{func}: table must be a sequence (StemRow, StageRow, ..., HeadRow) with at least "
            f"one StageRow, got {table!r}"
        )
    return rows[0], rows[1:-1], rows[-1]  # type: ignore[return-value]


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
        if not isinstance(row, StageRow):
            raise ValueError(f"resolve_rows: expected block rows (StageRow), got {row!r}")
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
