"""MobileNetV3-Large and -Small (Howard et al., 2019) assembled from :mod:`mbcourse.blocks`.

Each network is its paper's table read row by row (Table 1: Large, Table 2: Small): a 3x3
stride-2 stem to 16 channels with h-swish, one :class:`~mbcourse.blocks.MobileNetV3Block`
("bneck") per row, a 1x1 head conv with h-swish, global average pooling, then the two 1x1
"NBN" convs of the table (no BatchNorm: a Linear layer with h-swish, dropout and the
classifier, as in torchvision). A row gives the depthwise kernel, the expanded width ("exp
size"), the output width ("#out"), whether the block has an SE, its nonlinearity (``RE``: ReLU,
``HS``: h-swish) and its stride.

Everything matches torchvision's ``mobilenet_v3_large`` / ``mobilenet_v3_small``: channels
``make_divisible(c * width, 8)`` (stem, expanded and output widths alike), the head conv
``6 x`` the last row's output width, the classifier's hidden width
``make_divisible(1280 * width, 8)`` (Small: 1024), BatchNorm ``eps=1e-3, momentum=0.01``, the
weight initialisation and the parameter counts (5,483,032 and 2,542,856 at width 1.0).

Teaching configurations come from the same builders::

    mobilenet_v3_large()                                           # the paper's network
    mobilenet_v3_small(num_classes=10, width_mult=0.5, small_input=True)   # 32x32 inputs
    mobilenet_v3_large(stages=6)                 # stem, the first 6 rows (blocks), head

``small_input=True`` sets the stem's stride and that of the first stride-2 row to 1 (the
network downsamples by 8 instead of 32); ``stages=k`` keeps the first ``k`` rows, i.e. blocks.
torchvision's segmentation options (``reduced_tail``, ``dilated``) are not built here.

Taught in chapter 4 (book/04_mbconv.ipynb).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, ClassVar

from torch import nn

from ..blocks import ConvNormAct, MobileNetV3Block, make_divisible
from ..validation import check_int, check_positive, check_probability
from ._checks import check_pretrained_config, check_stages
from ._network import ImageClassifier, init_weights
from .table import HeadRow, StemRow, split_table
from .weights import load_pretrained

__all__ = [
    "MOBILENET_V3_LARGE_TABLE",
    "MOBILENET_V3_SMALL_TABLE",
    "BneckRow",
    "MobileNetV3",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "mobilenet_v3_table",
]

RE, HS = nn.ReLU, nn.Hardswish  # the tables' "NL" column
_NL_NAMES: dict[type[nn.Module], str] = {nn.ReLU: "RE", nn.Hardswish: "HS"}


@dataclass(frozen=True)
class BneckRow:
    """One "bneck" row of MobileNetV3's Table 1 or 2: one :class:`MobileNetV3Block`.

    Fields in the table's order: ``resolution`` (the row's input size at 224 x 224),
    ``kernel`` (the depthwise ``k x k``), ``expanded_channels`` ("exp size"), ``out_channels``
    ("#out"), ``se`` (the SE column's check mark), ``activation`` (the "NL" column: ``RE`` =
    ``nn.ReLU`` or ``HS`` = ``nn.Hardswish``) and ``stride`` ("s"). ``stage`` numbers the rows
    (the stem is 0). ``in_channels`` is ``None`` in a published table and set by
    :func:`resolve_bneck_rows` for one network.
    """

    block: ClassVar[type[nn.Module]] = MobileNetV3Block
    layers: ClassVar[int] = 1

    stage: int
    resolution: int | None
    kernel: int
    expanded_channels: int
    out_channels: int
    se: bool
    activation: type[nn.Module]
    stride: int
    in_channels: int | None = None

    @property
    def operator(self) -> str:
        """``"bneck, 3x3"``, as the paper's tables print it."""
        return f"bneck, {self.kernel}x{self.kernel}"

    @property
    def nonlinearity(self) -> str:
        """``"RE"`` (ReLU) or ``"HS"`` (h-swish), the "NL" column."""
        return _NL_NAMES.get(self.activation, self.activation.__name__)

    @property
    def label(self) -> str:
        """The row in one string, e.g. ``"bneck, 5x5, exp 72, SE, RE"``."""
        se = ", SE" if self.se else ""
        return f"{self.operator}, exp {self.expanded_channels}{se}, {self.nonlinearity}"

    def make_block(self, **kwargs: Any) -> MobileNetV3Block:
        """The row's block, built by keyword (``kwargs``: ``norm_layer``)."""
        if self.in_channels is None:
            raise ValueError(f"make_block: resolve the table first (resolve_bneck_rows): {self!r}")
        return MobileNetV3Block(
            in_channels=self.in_channels,
            expanded_channels=self.expanded_channels,
            out_channels=self.out_channels,
            kernel_size=self.kernel,
            stride=self.stride,
            use_se=self.se,
            activation=self.activation,
            **kwargs,
        )


# MobileNetV3-Large, Table 1 (Howard et al., 2019), as torchvision builds it.
MOBILENET_V3_LARGE_TABLE: tuple[StemRow | BneckRow | HeadRow, ...] = (
    #        stage    k  s  input      c                              operator
    StemRow(  0,      3, 2, 224,      16),                           # conv2d, HS
    #        stage input k   exp   out    SE     NL  s
    BneckRow( 1,   112,  3,   16,   16,  False,  RE, 1),
    BneckRow( 2,   112,  3,   64,   24,  False,  RE, 2),
    BneckRow( 3,    56,  3,   72,   24,  False,  RE, 1),
    BneckRow( 4,    56,  5,   72,   40,  True,   RE, 2),
    BneckRow( 5,    28,  5,  120,   40,  True,   RE, 1),
    BneckRow( 6,    28,  5,  120,   40,  True,   RE, 1),
    BneckRow( 7,    28,  3,  240,   80,  False,  HS, 2),
    BneckRow( 8,    14,  3,  200,   80,  False,  HS, 1),
    BneckRow( 9,    14,  3,  184,   80,  False,  HS, 1),
    BneckRow(10,    14,  3,  184,   80,  False,  HS, 1),
    BneckRow(11,    14,  3,  480,  112,  True,   HS, 1),
    BneckRow(12,    14,  3,  672,  112,  True,   HS, 1),
    BneckRow(13,    14,  5,  672,  160,  True,   HS, 2),
    BneckRow(14,     7,  5,  960,  160,  True,   HS, 1),
    BneckRow(15,     7,  5,  960,  160,  True,   HS, 1),
    HeadRow( 16,     1,         7,   960),                          # conv2d 1x1, HS; pool
)  # fmt: skip

# MobileNetV3-Small, Table 2 (Howard et al., 2019), as torchvision builds it.
MOBILENET_V3_SMALL_TABLE: tuple[StemRow | BneckRow | HeadRow, ...] = (
    #        stage    k  s  input      c                              operator
    StemRow(  0,      3, 2, 224,      16),                           # conv2d, HS
    #        stage input k   exp   out    SE     NL  s
    BneckRow( 1,   112,  3,   16,   16,  True,   RE, 2),
    BneckRow( 2,    56,  3,   72,   24,  False,  RE, 2),
    BneckRow( 3,    28,  3,   88,   24,  False,  RE, 1),
    BneckRow( 4,    28,  5,   96,   40,  True,   HS, 2),
    BneckRow( 5,    14,  5,  240,   40,  True,   HS, 1),
    BneckRow( 6,    14,  5,  240,   40,  True,   HS, 1),
    BneckRow( 7,    14,  5,  120,   48,  True,   HS, 1),
    BneckRow( 8,    14,  5,  144,   48,  True,   HS, 1),
    BneckRow( 9,    14,  5,  288,   96,  True,   HS, 2),
    BneckRow(10,     7,  5,  576,   96,  True,   HS, 1),
    BneckRow(11,     7,  5,  576,   96,  True,   HS, 1),
    HeadRow( 12,     1,         7,   576),                          # conv2d 1x1, HS; pool
)  # fmt: skip

# The width of the first "conv2d 1x1, NBN" row after the pooling: the classifier's hidden Linear.
_LAST_CHANNEL = {"mobilenet_v3_large": 1280, "mobilenet_v3_small": 1024}
_TABLES = {
    "mobilenet_v3_large": MOBILENET_V3_LARGE_TABLE,
    "mobilenet_v3_small": MOBILENET_V3_SMALL_TABLE,
}
_BN_V3 = partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01)  # torchvision's, from TensorFlow


def resolve_bneck_rows(
    rows: Sequence[BneckRow],
    in_channels: int,
    *,
    width_mult: float = 1.0,
    small_input: bool = False,
) -> tuple[BneckRow, ...]:
    """The bneck rows as one network builds them: expanded and output widths become
    ``make_divisible(c * width_mult, 8)``, each row's ``in_channels`` is the previous row's
    output (``in_channels`` for the first), and with ``small_input`` the first stride-2 row gets
    stride 1. ``resolution`` is dropped (``None``): it belongs to the paper's configuration."""
    resolved: list[BneckRow] = []
    stride_cut = small_input
    for row in rows:
        stride = row.stride
        if stride_cut and stride == 2:
            stride, stride_cut = 1, False
        out_c = make_divisible(row.out_channels * width_mult, 8)
        resolved.append(replace(
            row, in_channels=in_channels, out_channels=out_c, stride=stride, resolution=None,
            expanded_channels=make_divisible(row.expanded_channels * width_mult, 8),
        ))
        in_channels = out_c
    return tuple(resolved)


def _table(func: str, name: str) -> tuple[StemRow, tuple[BneckRow, ...], HeadRow]:
    if name not in _TABLES:
        raise ValueError(f"{func}: unknown model {name!r}; choose from {sorted(_TABLES)}")
    return split_table(func, _TABLES[name], block_row=BneckRow)


def mobilenet_v3_table(
    name: str = "mobilenet_v3_large", width_mult: float = 1.0, resolution: int = 224
) -> list[dict[str, object]]:
    """The whole of Table 1 (``"mobilenet_v3_large"``) or Table 2 (``"mobilenet_v3_small"``)
    for a configuration: one dict per line of the paper's table.

    Keys: ``input`` (e.g. ``"224² × 3"``), ``operator``, ``exp size``, ``#out``, ``SE``
    (``"✓"`` or ``None``), ``NL`` and ``s`` (``None`` where the paper prints "-"). Channels are
    the rounded ones the network really uses; the last line's ``#out`` is the paper's ``"k"``.
    """
    func = "mobilenet_v3_table"
    check_positive(func, "width_mult", width_mult)
    check_positive(func, "resolution", resolution)
    stem, block_rows, head = _table(func, name)
    stem_c = make_divisible(stem.out_channels * width_mult, 8)
    rows = resolve_bneck_rows(block_rows, stem_c, width_mult=width_mult)
    head_c = head.out_channels // block_rows[-1].out_channels * rows[-1].out_channels
    last_c = make_divisible(_LAST_CHANNEL[name] * width_mult, 8)
    size, channels = resolution, 3
    lines: list[dict[str, object]] = []

    def line(op: str, exp: int | None, out: int | str | None, se: bool, nl: str | None,
             s: int | None) -> None:
        lines.append({"input": f"{size}² × {channels}", "operator": op, "exp size": exp,
                      "#out": out, "SE": "✓" if se else None, "NL": nl, "s": s})

    line(f"conv2d, {stem.kernel}x{stem.kernel}", None, stem_c, False, "HS", stem.stride)
    size, channels = -(-size // stem.stride), stem_c
    for row in rows:
        line(row.operator, row.expanded_channels, row.out_channels, row.se, row.nonlinearity,
             row.stride)
        size, channels = -(-size // row.stride), row.out_channels
    line(f"conv2d, {head.kernel}x{head.kernel}", None, head_c, False, "HS", 1)
    channels = head_c
    line(f"pool, {size}x{size}", None, None, False, None, 1)
    size = 1
    line("conv2d 1x1, NBN", None, last_c, False, "HS", 1)
    channels = last_c
    line("conv2d 1x1, NBN", None, "k", False, None, 1)
    return lines


class MobileNetV3(ImageClassifier):
    """MobileNetV3: ``(N, 3, H, W) -> (N, num_classes)``. Taught in chapter 4
    (book/04_mbconv.ipynb).

    ``features`` is ``nn.Sequential(stem, block_1, ..., block_K, head)`` (torchvision's
    layout: one block per table row); :meth:`stage_modules` names each block ``stage<k>`` after
    its row. ``table`` is a whole table ``(StemRow, BneckRow, ..., HeadRow)``; ``self.table``
    holds the rows this instance was built from (:func:`resolve_bneck_rows`). ``classifier``
    is Linear (the table's first "NBN" conv, ``last_channel`` wide) + h-swish + Dropout +
    Linear.
    """

    def __init__(
        self,
        *,
        table: Sequence[StemRow | BneckRow | HeadRow] = MOBILENET_V3_LARGE_TABLE,
        last_channel: int = 1280,
        num_classes: int = 1000,
        width_mult: float = 1.0,
        dropout: float = 0.2,
        small_input: bool = False,
        stages: int | None = None,
        norm_layer: Callable[..., nn.Module] = _BN_V3,
    ) -> None:
        super().__init__()
        func = "MobileNetV3"
        check_int(func, "num_classes", num_classes)
        check_int(func, "last_channel", last_channel)
        check_positive(func, "width_mult", width_mult)
        check_probability(func, "dropout", dropout, closed=True)
        stem, block_rows, head = split_table(func, table, block_row=BneckRow)
        kept = check_stages(func, stages, len(block_rows))
        stem_c = make_divisible(stem.out_channels * width_mult, 8)
        rows = resolve_bneck_rows(block_rows[:kept], stem_c, width_mult=width_mult,
                                  small_input=small_input)
        head_c = head.out_channels // block_rows[-1].out_channels * rows[-1].out_channels
        hidden = make_divisible(last_channel * width_mult, 8)
        features: list[nn.Module] = [
            ConvNormAct(3, stem_c, stem.kernel, stride=1 if small_input else stem.stride,
                        activation=nn.Hardswish, norm_layer=norm_layer)
        ]
        features.extend(row.make_block(norm_layer=norm_layer) for row in rows)
        features.append(ConvNormAct(rows[-1].out_channels, head_c, head.kernel,
                                    activation=nn.Hardswish, norm_layer=norm_layer))
        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(head_c, hidden),  # the table's "conv2d 1x1, NBN" on the pooled map
            nn.Hardswish(inplace=True),
            nn.Dropout(p=dropout, inplace=True),
            nn.Linear(hidden, num_classes),
        )
        self.table: tuple[BneckRow, ...] = rows
        self.num_classes = num_classes
        self.width_mult = width_mult
        self.small_input = small_input
        init_weights(self, linear="normal")

    def _stages(self) -> Iterable[tuple[str, nn.Module]]:
        for row, block in zip(self.table, self.features[1:-1], strict=True):
            yield f"stage{row.stage}", block


def _mobilenet_v3(
    name: str,
    *,
    num_classes: int = 1000,
    width_mult: float = 1.0,
    dropout: float = 0.2,
    small_input: bool = False,
    stages: int | None = None,
    pretrained: bool = False,
    progress: bool = True,
) -> MobileNetV3:
    if pretrained:
        check_pretrained_config(
            name,
            width_mult=None if width_mult == 1.0 else width_mult,
            num_classes=None if num_classes == 1000 else num_classes,
            small_input=small_input or None,
            stages=stages,
        )
    model = MobileNetV3(table=_TABLES[name], last_channel=_LAST_CHANNEL[name],
                        num_classes=num_classes, width_mult=width_mult, dropout=dropout,
                        small_input=small_input, stages=stages)
    if pretrained:
        load_pretrained(model, name, progress=progress)
    return model


def mobilenet_v3_large(
    *,
    num_classes: int = 1000,
    width_mult: float = 1.0,
    dropout: float = 0.2,
    small_input: bool = False,
    stages: int | None = None,
    pretrained: bool = False,
    progress: bool = True,
) -> MobileNetV3:
    """MobileNetV3-Large (Table 1); keyword arguments only, in the order every builder here
    takes them (see :func:`~mbcourse.models.mobilenet_v2`). ``pretrained=True`` downloads
    torchvision's ImageNet weights. Taught in chapter 4 (book/04_mbconv.ipynb)."""
    return _mobilenet_v3("mobilenet_v3_large", num_classes=num_classes, width_mult=width_mult,
                         dropout=dropout, small_input=small_input, stages=stages,
                         pretrained=pretrained, progress=progress)


def mobilenet_v3_small(
    *,
    num_classes: int = 1000,
    width_mult: float = 1.0,
    dropout: float = 0.2,
    small_input: bool = False,
    stages: int | None = None,
    pretrained: bool = False,
    progress: bool = True,
) -> MobileNetV3:
    """MobileNetV3-Small (Table 2); keyword arguments only, as :func:`mobilenet_v3_large`.
    Taught in chapter 4 (book/04_mbconv.ipynb)."""
    return _mobilenet_v3("mobilenet_v3_small", num_classes=num_classes, width_mult=width_mult,
                         dropout=dropout, small_input=small_input, stages=stages,
                         pretrained=pretrained, progress=progress)
