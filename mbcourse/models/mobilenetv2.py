"""MobileNetV2 (Sandler et al., 2018) assembled from :mod:`mbcourse.blocks`.

The network is the paper's Table 2, read row by row: a 3x3 stride-2 stem to 32 channels, seven
rows of inverted residual ("bottleneck") blocks, a 1x1 head to 1280 channels, global average
pooling, dropout and a linear classifier. Row ``(t, c, n, s)`` is ``n`` blocks with expansion
``t`` and ``c`` output channels; the first block has stride ``s``, the others stride 1.

Everything matches torchvision's ``mobilenet_v2``: channels ``make_divisible(c * width, 8)``,
head ``make_divisible(1280 * max(1, width), 8)``, the weight initialisation, and the parameter
count (3,504,872 at width 1.0).

Teaching configurations come from the same builder::

    mobilenet_v2()                                              # the paper's network, 224x224
    mobilenet_v2(num_classes=10, width_mult=0.25, small_input=True)  # CIFAR-sized, 32x32 input
    mobilenet_v2(width_mult=0.5, stages=4)                      # stem, first 4 rows, head

``small_input=True`` changes exactly two strides: the stem's (2 -> 1) and the first table row
with stride 2 (the ``t=6, c=24`` row, 2 -> 1). The network then downsamples by 8 instead of 32,
so a 32x32 image reaches the head as 4x4 (a 224x224 one as 28x28). ``stages=k`` keeps the first
``k`` rows of the table and puts the head on the last one.

Taught in chapters 2 (book/02_inverted_residuals.ipynb) and 6 (book/06_whole_networks.ipynb).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from torch import nn

from ..blocks import ConvNormAct, InvertedResidual, make_divisible
from ..validation import check_int, check_positive, check_probability
from ._checks import check_pretrained_config, check_stages
from ._network import ImageClassifier, init_weights
from .table import HeadRow, StageRow, StemRow, TableRow, resolve_rows, split_table
from .weights import load_pretrained

__all__ = [
    "MOBILENET_V2_TABLE",
    "MobileNetV2",
    "mobilenet_v2",
    "mobilenet_v2_table",
]

IR = InvertedResidual  # the paper's "bottleneck" operator

# MobileNetV2, Table 2 (Sandler et al., 2018): conv2d 3x3 to 32 channels with stride 2, the seven
# bottleneck rows (t, c, n, s) with the kernel (3x3 depthwise) the text gives, conv2d 1x1 to
# 1280; then avgpool 7x7 and conv2d 1x1 to k classes (a Linear layer here, as in torchvision).
# "input" is the row's input resolution at 224 x 224.
MOBILENET_V2_TABLE: tuple[TableRow, ...] = (
    #       stage operator t  k  s  input  c    n        input x channels
    StemRow( 0,               3, 2, 224,   32),       # 224² x 3, conv2d
    StageRow(1,   IR,      1, 3, 1, 112,   16,  1),   # 112² x 32
    StageRow(2,   IR,      6, 3, 2, 112,   24,  2),   # 112² x 16
    StageRow(3,   IR,      6, 3, 2,  56,   32,  3),   #  56² x 24
    StageRow(4,   IR,      6, 3, 2,  28,   64,  4),   #  28² x 32
    StageRow(5,   IR,      6, 3, 1,  14,   96,  3),   #  14² x 64
    StageRow(6,   IR,      6, 3, 2,  14,  160,  3),   #  14² x 96
    StageRow(7,   IR,      6, 3, 1,   7,  320,  1),   #   7² x 160
    HeadRow( 8,               1,      7, 1280),       #   7² x 320, conv2d 1x1, then pooling
)  # fmt: skip


def mobilenet_v2_table(
    width_mult: float = 1.0, resolution: int = 224, *, small_input: bool = False
) -> list[dict[str, object]]:
    """The whole of Table 2 for a configuration: one dict per line of the paper's table.

    Keys: ``input`` (e.g. ``"224² × 3"``), ``operator``, ``t``, ``c``, ``n``, ``s`` (``None``
    where the paper prints "-"). Channels are the rounded ones the network really uses; the
    last line's ``c`` is the paper's ``"k"`` (the number of classes).
    """
    check_positive("mobilenet_v2_table", "width_mult", width_mult)
    check_positive("mobilenet_v2_table", "resolution", resolution)
    stem, block_rows, head = split_table("mobilenet_v2_table", MOBILENET_V2_TABLE)
    stem_c = make_divisible(stem.out_channels * width_mult, 8)
    head_c = make_divisible(head.out_channels * max(1.0, width_mult), 8)
    rows = resolve_rows(block_rows, stem_c, width_mult=width_mult, small_input=small_input)
    stem_stride = 1 if small_input else stem.stride
    size, channels = resolution, 3
    lines: list[dict[str, object]] = []

    def line(op: str, t: float | None, c: int | str | None, n: int | None, s: int | None) -> None:
        lines.append({"input": f"{size}² × {channels}", "operator": op, "t": t, "c": c,
                      "n": n, "s": s})

    line("conv2d", None, stem_c, 1, stem_stride)
    size, channels = -(-size // stem_stride), stem_c
    for row in rows:
        line(row.operator, row.expand_ratio, row.out_channels, row.layers, row.stride)
        size, channels = -(-size // row.stride), row.out_channels
    line(f"conv2d {head.kernel}x{head.kernel}", None, head_c, 1, 1)
    channels = head_c
    line(f"avgpool {size}x{size}", None, None, 1, None)
    size = 1
    line("conv2d 1x1", None, "k", None, None)  # the paper's k classes
    return lines


class MobileNetV2(ImageClassifier):
    """MobileNetV2: ``(N, 3, H, W) -> (N, num_classes)``. Taught in chapter 6
    (book/06_whole_networks.ipynb).

    ``features`` is ``nn.Sequential(stem, block_1, ..., block_17, head)`` (torchvision's
    layout); ``stage_indices[i]`` lists the ``features`` indices of table row ``i``'s blocks,
    and :meth:`stage_modules` groups them by name. ``table`` is a whole table
    ``(StemRow, StageRow, ..., HeadRow)``; ``self.table`` holds the block rows this instance
    was built from (see :func:`~mbcourse.models.table.resolve_rows`: channels rounded, strides
    as used, ``in_channels`` set). ``classifier`` is Dropout + Linear.
    """

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        width_mult: float = 1.0,
        dropout: float = 0.2,
        table: Sequence[TableRow] = MOBILENET_V2_TABLE,
        round_nearest: int = 8,
        small_input: bool = False,
        stages: int | None = None,
        norm_layer: Callable[..., nn.Module] = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        func = "MobileNetV2"
        check_int(func, "num_classes", num_classes)
        check_positive(func, "width_mult", width_mult)
        check_probability(func, "dropout", dropout, closed=True)
        stem, block_rows, head = split_table(func, table)
        kept = check_stages(func, stages, len(block_rows))
        stem_c = make_divisible(stem.out_channels * width_mult, round_nearest)
        rows = resolve_rows(block_rows[:kept], stem_c, width_mult=width_mult,
                            small_input=small_input, round_nearest=round_nearest)
        self.last_channel = make_divisible(head.out_channels * max(1.0, width_mult),
                                           round_nearest)
        features: list[nn.Module] = [
            ConvNormAct(3, stem_c, stem.kernel, stride=1 if small_input else stem.stride,
                        norm_layer=norm_layer)
        ]
        stage_indices: list[tuple[int, ...]] = []
        for row in rows:
            first = len(features)
            features.extend(row.make_block(i, norm_layer=norm_layer) for i in range(row.layers))
            stage_indices.append(tuple(range(first, len(features))))
        features.append(ConvNormAct(rows[-1].out_channels, self.last_channel, head.kernel,
                                    norm_layer=norm_layer))

        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), nn.Linear(self.last_channel, num_classes)
        )
        self.table: tuple[StageRow, ...] = rows
        self.stage_indices: tuple[tuple[int, ...], ...] = tuple(stage_indices)
        self.num_classes = num_classes
        self.width_mult = width_mult
        self.small_input = small_input
        init_weights(self, linear="normal")

    def _stages(self) -> Iterable[tuple[str, nn.Module]]:
        for row, indices in zip(self.table, self.stage_indices, strict=True):
            yield f"stage{row.stage}", nn.Sequential(*(self.features[j] for j in indices))


def mobilenet_v2(
    *,
    num_classes: int = 1000,
    width_mult: float = 1.0,
    dropout: float = 0.2,
    small_input: bool = False,
    stages: int | None = None,
    pretrained: bool = False,
    progress: bool = True,
) -> MobileNetV2:
    """MobileNetV2; keyword arguments only, in the order every builder here takes them.

    ``width_mult``: 0.35 ... 1.4 in the paper. ``small_input`` and ``stages`` make CPU-sized
    teaching networks (see the module docstring). ``pretrained=True`` downloads torchvision's
    ImageNet weights (needs torchvision and the published architecture: 1000 classes, width
    1.0, no ``small_input``/``stages``); ``progress`` shows the download's progress bar.
    Taught in chapters 2 (book/02_inverted_residuals.ipynb) and 6 (book/06_whole_networks.ipynb).
    """
    if pretrained:
        check_pretrained_config(
            "mobilenet_v2",
            width_mult=None if width_mult == 1.0 else width_mult,
            num_classes=None if num_classes == 1000 else num_classes,
            small_input=small_input or None,
            stages=stages,
        )
    model = MobileNetV2(num_classes=num_classes, width_mult=width_mult, dropout=dropout,
                        small_input=small_input, stages=stages)
    if pretrained:
        load_pretrained(model, "mobilenet_v2", progress=progress)
    return model
