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
    mobilenet_v2(width_mult=0.25, num_classes=10, small_input=True)  # CIFAR-sized, 32x32 input
    mobilenet_v2(width_mult=0.5, stages=4)                      # stem, first 4 rows, head

``small_input=True`` changes exactly two strides: the stem's (2 -> 1) and the first table row
with stride 2 (the ``t=6, c=24`` row, 2 -> 1). The network then downsamples by 8 instead of 32,
so a 32x32 image reaches the head as 4x4 (a 224x224 one as 28x28). ``stages=k`` keeps the first
``k`` rows of the table and puts the head on the last one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from ..blocks import ConvNormAct, InvertedResidual, make_divisible
from ._checks import (
    check_num_classes,
    check_positive,
    check_pretrained_config,
    check_probability,
    check_stages,
)
from ._init import init_weights
from .weights import load_pretrained

__all__ = [
    "MOBILENET_V2_HEAD_CHANNELS",
    "MOBILENET_V2_STEM_CHANNELS",
    "MOBILENET_V2_TABLE",
    "Bottleneck",
    "MobileNetV2",
    "mobilenet_v2",
    "mobilenet_v2_table",
]


@dataclass(frozen=True)
class Bottleneck:
    """One ``bottleneck`` row of MobileNetV2's Table 2.

    ``t``: expansion factor, ``c``: output channels, ``n``: repeats, ``s``: stride of the first.
    """

    t: float
    c: int
    n: int
    s: int


# MobileNetV2, Table 2 (Sandler et al., 2018). Input of each row at 224 x 224 on the right.
# Before the rows: conv2d 3x3, 32 channels, stride 2. After them: conv2d 1x1 to 1280,
# avgpool 7x7, conv2d 1x1 to k classes (a Linear layer here, as in torchvision).
MOBILENET_V2_TABLE: tuple[Bottleneck, ...] = (
    #          t    c  n  s       input
    Bottleneck(1,  16, 1, 1),   # 112² x 32
    Bottleneck(6,  24, 2, 2),   # 112² x 16
    Bottleneck(6,  32, 3, 2),   #  56² x 24
    Bottleneck(6,  64, 4, 2),   #  28² x 32
    Bottleneck(6,  96, 3, 1),   #  14² x 64
    Bottleneck(6, 160, 3, 2),   #  14² x 96
    Bottleneck(6, 320, 1, 1),   #   7² x 160
)  # fmt: skip
MOBILENET_V2_STEM_CHANNELS = 32
MOBILENET_V2_HEAD_CHANNELS = 1280


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
    stem_c = make_divisible(MOBILENET_V2_STEM_CHANNELS * width_mult, 8)
    head_c = make_divisible(MOBILENET_V2_HEAD_CHANNELS * max(1.0, width_mult), 8)
    rows = _strided_rows(MOBILENET_V2_TABLE, small_input)
    stem_stride = 1 if small_input else 2
    size, channels = resolution, 3
    lines: list[dict[str, object]] = []

    def line(op: str, t: float | None, c: int | str | None, n: int | None, s: int | None) -> None:
        lines.append({"input": f"{size}² × {channels}", "operator": op, "t": t, "c": c,
                      "n": n, "s": s})

    line("conv2d", None, stem_c, 1, stem_stride)
    size, channels = -(-size // stem_stride), stem_c
    for row in rows:
        c = make_divisible(row.c * width_mult, 8)
        line("bottleneck", row.t, c, row.n, row.s)
        size, channels = -(-size // row.s), c
    line("conv2d 1x1", None, head_c, 1, 1)
    channels = head_c
    line(f"avgpool {size}x{size}", None, None, 1, None)
    size = 1
    line("conv2d 1x1", None, "k", None, None)  # the paper's k classes
    return lines


def _strided_rows(rows: Sequence[Bottleneck], small_input: bool) -> tuple[Bottleneck, ...]:
    """``small_input``: the first stride-2 row gets stride 1 (the stem is handled separately)."""
    rows = tuple(rows)
    if not small_input:
        return rows
    for i, row in enumerate(rows):
        if row.s == 2:
            return (*rows[:i], replace(row, s=1), *rows[i + 1:])
    return rows


class MobileNetV2(nn.Module):
    """MobileNetV2: ``(N, 3, H, W) -> (N, num_classes)``.

    ``features`` is ``nn.Sequential(stem, block_1, ..., block_17, head)`` (torchvision's
    layout); ``stage_indices[i]`` lists the ``features`` indices of table row ``i``'s blocks,
    and :meth:`stage_modules` groups them by name. ``table`` holds the rows this instance was
    built from (channels rounded, strides as used). ``classifier`` is Dropout + Linear.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        width_mult: float = 1.0,
        dropout: float = 0.2,
        *,
        table: Sequence[Bottleneck] = MOBILENET_V2_TABLE,
        round_nearest: int = 8,
        small_input: bool = False,
        stages: int | None = None,
        norm_layer: Callable[..., nn.Module] = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        func = "MobileNetV2"
        check_num_classes(func, num_classes)
        check_positive(func, "width_mult", width_mult)
        check_probability(func, "dropout", dropout, closed=True)
        if not table or not all(isinstance(row, Bottleneck) for row in table):
            raise ValueError(f"{func}: table must be a non-empty sequence of Bottleneck rows")
        kept = check_stages(func, stages, len(table))
        rows = _strided_rows(tuple(table)[:kept], small_input)

        in_c = make_divisible(MOBILENET_V2_STEM_CHANNELS * width_mult, round_nearest)
        self.last_channel = make_divisible(
            MOBILENET_V2_HEAD_CHANNELS * max(1.0, width_mult), round_nearest
        )
        features: list[nn.Module] = [
            ConvNormAct(3, in_c, 3, stride=1 if small_input else 2, norm_layer=norm_layer)
        ]
        resolved: list[Bottleneck] = []
        stage_indices: list[tuple[int, ...]] = []
        for row in rows:
            out_c = make_divisible(row.c * width_mult, round_nearest)
            first = len(features)
            for i in range(row.n):
                features.append(
                    InvertedResidual(
                        in_c, out_c, row.s if i == 0 else 1, row.t, norm_layer=norm_layer
                    )
                )
                in_c = out_c
            stage_indices.append(tuple(range(first, len(features))))
            resolved.append(replace(row, c=out_c))
        features.append(ConvNormAct(in_c, self.last_channel, 1, norm_layer=norm_layer))

        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), nn.Linear(self.last_channel, num_classes)
        )
        self.table: tuple[Bottleneck, ...] = tuple(resolved)
        self.stage_indices: tuple[tuple[int, ...], ...] = tuple(stage_indices)
        self.num_classes = num_classes
        self.width_mult = width_mult
        self.small_input = small_input
        init_weights(self, linear="normal")

    def stage_modules(self) -> OrderedDict[str, nn.Module]:
        """``stem``, ``stage1`` ... ``stage7`` (one per table row), ``head``: shared modules."""
        groups: OrderedDict[str, nn.Module] = OrderedDict(stem=self.features[0])
        for i, indices in enumerate(self.stage_indices, start=1):
            groups[f"stage{i}"] = nn.Sequential(*(self.features[j] for j in indices))
        groups["head"] = self.features[-1]
        return groups

    def forward(self, x: Tensor) -> Tensor:
        """``(N, 3, H, W) -> features (N, C_head, H/32, W/32) -> pool -> (N, num_classes)``."""
        x = self.features(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.classifier(x)



def mobilenet_v2(
    width_mult: float = 1.0,
    num_classes: int = 1000,
    dropout: float = 0.2,
    pretrained: bool = False,
    *,
    small_input: bool = False,
    stages: int | None = None,
    progress: bool = True,
) -> MobileNetV2:
    """MobileNetV2 with width multiplier ``width_mult`` (0.35 ... 1.4 in the paper).

    ``pretrained=True`` downloads torchvision's ImageNet weights (needs torchvision and the
    published architecture: width 1.0, 1000 classes, no ``small_input``/``stages``).
    ``small_input`` and ``stages`` make CPU-sized teaching networks (see the module docstring).
    """
    if pretrained:
        check_pretrained_config(
            "mobilenet_v2",
            width_mult=None if width_mult == 1.0 else width_mult,
            num_classes=None if num_classes == 1000 else num_classes,
            small_input=small_input or None,
            stages=stages,
        )
    model = MobileNetV2(
        num_classes, width_mult, dropout, small_input=small_input, stages=stages
    )
    if pretrained:
        load_pretrained(model, "mobilenet_v2", progress=progress)
    return model
