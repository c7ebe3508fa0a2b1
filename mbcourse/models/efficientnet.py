"""EfficientNet B0-B7 (Tan & Le, 2019) and EfficientNetV2 S/M/L (Tan & Le, 2021).

Each family is written once, as the paper's architecture table (a :class:`StemRow`, the block
rows as :class:`StageRow`, a :class:`HeadRow`); every variant is *computed*:

* B0 is Table 1 of the EfficientNet paper. B1-B7 scale it by compound scaling: every channel
  count becomes ``make_divisible(c * width, 8)``, every row's layer count ``ceil(n * depth)``;
  the head keeps the table's ratio to the last block row (1280 = 4 x 320: torchvision's
  ``4 * lastconv_input_channels``). ``(width, depth, dropout)`` per variant are
  torchvision's, in :data:`EFFICIENTNET_COMPOUND_SCALING`.
* V2-S is Table 4 of the EfficientNetV2 paper (Fused-MBConv in the three early stages, MBConv
  with SE after them), head 1280. The paper prints no table for V2-M and V2-L; theirs here come
  from the official code, as in torchvision's ``_efficientnet_conf``.

Norm layers are torchvision's: ``BatchNorm2d()`` for B0-B4, ``BatchNorm2d(eps=1e-3,
momentum=0.01)`` for B5-B7 (their weights were ported from TensorFlow), ``BatchNorm2d(eps=1e-3)``
for V2. Block ``i`` of ``N`` gets stochastic-depth rate ``stochastic_depth_prob * i / N``. With
these, every variant has torchvision's parameter count and, given its weights, its outputs.

Teaching configurations (CPU-sized) come from the same builders::

    efficientnet_b0(num_classes=10, width_mult=0.25, depth_mult=0.25, small_input=True)
    efficientnet_v2_s(num_classes=10, width_mult=0.25, depth_mult=0.25, small_input=True)
    efficientnet_b0(num_classes=10, stages=4)      # stem, the first 4 MBConv rows, head

``width_mult`` / ``depth_mult`` *replace* the variant's multipliers (B3's 1.2 / 1.4, say).
``small_input=True`` changes exactly two strides: the stem's (2 -> 1) and that of the first
table row with stride 2 (B0's ``MBConv6 k3x3, 24`` row; V2's ``Fused-MBConv4, 48`` row). The
network then downsamples by 8 instead of 32: a 32x32 image reaches the head as 4x4.
``stages=k`` keeps the first ``k`` block rows of the table and puts the head on the last one.

Every builder takes keyword arguments only, in one order shared with
:func:`~mbcourse.models.mobilenet_v2`: ``num_classes`` (1000), ``width_mult`` / ``depth_mult``
(None: the variant's own; a number replaces it), ``dropout`` (None: the variant's own),
``stochastic_depth_prob`` (0.2), ``small_input``, ``stages``, ``pretrained`` (torchvision's
ImageNet weights, downloaded with its hash check; needs torchvision), ``progress``.

Taught in chapters 4 (book/04_mbconv.ipynb), 5 (book/05_fused_mbconv.ipynb) and 6
(book/06_whole_networks.ipynb).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, TypedDict

from torch import nn

from ..blocks import ConvNormAct, FusedMBConv, MBConv, make_divisible
from ..validation import check_int, check_positive, check_probability
from ._checks import check_pretrained_config, check_stages
from ._network import ImageClassifier, init_weights
from .table import HeadRow, StageRow, StemRow, TableRow, resolve_rows, split_table
from .weights import load_pretrained

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "EFFICIENTNET_B0_TABLE",
    "EFFICIENTNET_COMPOUND_SCALING",
    "EFFICIENTNET_V2_L_TABLE",
    "EFFICIENTNET_V2_M_TABLE",
    "EFFICIENTNET_V2_S_TABLE",
    "EfficientNet",
    "EfficientNetOptions",
    "NetworkConfig",
    "efficientnet_b0",
    "efficientnet_b1",
    "efficientnet_b2",
    "efficientnet_b3",
    "efficientnet_b4",
    "efficientnet_b5",
    "efficientnet_b6",
    "efficientnet_b7",
    "efficientnet_config",
    "efficientnet_v2_l",
    "efficientnet_v2_m",
    "efficientnet_v2_s",
]

FUSED = FusedMBConv

# EfficientNet-B0, Table 1 (Tan & Le, 2019). The stride is the one the resolution column implies
# (torchvision's); SE (ratio 0.25 of the block's input channels) is in every MBConv (Sec. 4).
EFFICIENTNET_B0_TABLE: tuple[TableRow, ...] = (
    #       stage operator e  k  s  res  channels layers  SE
    StemRow( 1,                3, 2, 224,   32),                  # Conv3x3
    StageRow(2,   MBConv,  1,  3, 1, 112,   16,    1,      0.25),
    StageRow(3,   MBConv,  6,  3, 2, 112,   24,    2,      0.25),
    StageRow(4,   MBConv,  6,  5, 2,  56,   40,    2,      0.25),
    StageRow(5,   MBConv,  6,  3, 2,  28,   80,    3,      0.25),
    StageRow(6,   MBConv,  6,  5, 1,  14,  112,    3,      0.25),
    StageRow(7,   MBConv,  6,  5, 2,  14,  192,    4,      0.25),
    StageRow(8,   MBConv,  6,  3, 1,   7,  320,    1,      0.25),
    HeadRow( 9,                1,      7, 1280),                  # Conv1x1 & Pooling & FC
)  # fmt: skip

# EfficientNetV2-S, Table 4 (Tan & Le, 2021).
EFFICIENTNET_V2_S_TABLE: tuple[TableRow, ...] = (
    #       stage operator e     k  s     res   channels layers  SE
    StemRow( 0,                   3, 2,    None,   24),
    StageRow(1,   FUSED,   1,    3, 1,    None,   24,    2),
    StageRow(2,   FUSED,   4,    3, 2,    None,   48,    4),
    StageRow(3,   FUSED,   4,    3, 2,    None,   64,    4),
    StageRow(4,   MBConv,  4,    3, 2,    None,  128,    6,     0.25),
    StageRow(5,   MBConv,  6,    3, 1,    None,  160,    9,     0.25),
    StageRow(6,   MBConv,  6,    3, 2,    None,  256,   15,     0.25),
    HeadRow( 7,                   1,       None, 1280),
)  # fmt: skip

# EfficientNetV2-M: no table in the paper; the official code's (and torchvision's) configuration.
EFFICIENTNET_V2_M_TABLE: tuple[TableRow, ...] = (
    #       stage operator e     k  s     res   channels layers  SE
    StemRow( 0,                   3, 2,    None,   24),
    StageRow(1,   FUSED,   1,    3, 1,    None,   24,    3),
    StageRow(2,   FUSED,   4,    3, 2,    None,   48,    5),
    StageRow(3,   FUSED,   4,    3, 2,    None,   80,    5),
    StageRow(4,   MBConv,  4,    3, 2,    None,  160,    7,     0.25),
    StageRow(5,   MBConv,  6,    3, 1,    None,  176,   14,     0.25),
    StageRow(6,   MBConv,  6,    3, 2,    None,  304,   18,     0.25),
    StageRow(7,   MBConv,  6,    3, 1,    None,  512,    5,     0.25),
    HeadRow( 8,                   1,       None, 1280),
)  # fmt: skip

# EfficientNetV2-L: no table in the paper; the official code's (and torchvision's) configuration.
EFFICIENTNET_V2_L_TABLE: tuple[TableRow, ...] = (
    #       stage operator e     k  s     res   channels layers  SE
    StemRow( 0,                   3, 2,    None,   32),
    StageRow(1,   FUSED,   1,    3, 1,    None,   32,    4),
    StageRow(2,   FUSED,   4,    3, 2,    None,   64,    7),
    StageRow(3,   FUSED,   4,    3, 2,    None,   96,    7),
    StageRow(4,   MBConv,  4,    3, 2,    None,  192,   10,     0.25),
    StageRow(5,   MBConv,  6,    3, 1,    None,  224,   19,     0.25),
    StageRow(6,   MBConv,  6,    3, 2,    None,  384,   25,     0.25),
    StageRow(7,   MBConv,  6,    3, 1,    None,  640,    7,     0.25),
    HeadRow( 8,                   1,       None, 1280),
)  # fmt: skip

# Compound scaling of B0 (torchvision's coefficients): name -> (width, depth, dropout).
EFFICIENTNET_COMPOUND_SCALING: dict[str, tuple[float, float, float]] = {
    "efficientnet_b0": (1.0, 1.0, 0.2),
    "efficientnet_b1": (1.0, 1.1, 0.2),
    "efficientnet_b2": (1.1, 1.2, 0.3),
    "efficientnet_b3": (1.2, 1.4, 0.3),
    "efficientnet_b4": (1.4, 1.8, 0.4),
    "efficientnet_b5": (1.6, 2.2, 0.4),
    "efficientnet_b6": (1.8, 2.6, 0.5),
    "efficientnet_b7": (2.0, 3.1, 0.5),
}

NormFactory = Callable[..., nn.Module]
_BN_TF_PORT = partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01)  # B5-B7 in torchvision
_BN_V2 = partial(nn.BatchNorm2d, eps=1e-3)


@dataclass(frozen=True)
class _Variant:
    table: tuple[TableRow, ...]
    width_mult: float
    depth_mult: float
    dropout: float
    norm_layer: NormFactory
    # V1: the head keeps its ratio to the last block row (1280 = 4 x 320; torchvision's
    # ``4 * lastconv_input_channels``), also when ``stages`` cuts the table. V2: the head row's
    # channels, scaled by the width.
    head_follows_last_row: bool


_VARIANTS: dict[str, _Variant] = {
    name: _Variant(
        EFFICIENTNET_B0_TABLE, w, d, p,
        _BN_TF_PORT if name in ("efficientnet_b5", "efficientnet_b6", "efficientnet_b7")
        else nn.BatchNorm2d,
        head_follows_last_row=True,
    )
    for name, (w, d, p) in EFFICIENTNET_COMPOUND_SCALING.items()
}
_VARIANTS["efficientnet_v2_s"] = _Variant(EFFICIENTNET_V2_S_TABLE, 1.0, 1.0, 0.2, _BN_V2, False)
_VARIANTS["efficientnet_v2_m"] = _Variant(EFFICIENTNET_V2_M_TABLE, 1.0, 1.0, 0.3, _BN_V2, False)
_VARIANTS["efficientnet_v2_l"] = _Variant(EFFICIENTNET_V2_L_TABLE, 1.0, 1.0, 0.4, _BN_V2, False)


@dataclass(frozen=True)
class NetworkConfig:
    """Everything an :class:`EfficientNet` is built from (see :func:`efficientnet_config`).

    The stem: ``stem_kernel x stem_kernel`` conv, 3 -> ``stem_channels``, ``stem_stride``;
    ``stages``: the block rows as built (:func:`~mbcourse.models.table.resolve_rows`); the
    head: ``head_kernel x head_kernel`` conv to ``head_channels``, then pooling and classifier.
    """

    name: str
    stem_channels: int
    stem_stride: int
    stages: tuple[StageRow, ...]
    head_channels: int
    width_mult: float
    depth_mult: float
    stem_kernel: int = 3
    head_kernel: int = 1

    @property
    def num_blocks(self) -> int:
        return sum(stage.layers for stage in self.stages)


def _variant(func: str, name: str) -> _Variant:
    if name not in _VARIANTS:
        raise ValueError(f"{func}: unknown variant {name!r}; choose from {sorted(_VARIANTS)}")
    return _VARIANTS[name]


def efficientnet_config(
    name: str,
    *,
    width_mult: float | None = None,
    depth_mult: float | None = None,
    small_input: bool = False,
    stages: int | None = None,
) -> NetworkConfig:
    """Resolve variant ``name``'s table: channels ``make_divisible(c * width, 8)``, layers
    ``ceil(n * depth)``, strides (``small_input``), truncation (``stages``) and head width.

    ``width_mult`` / ``depth_mult`` default to the variant's own multipliers.
    Taught in chapter 6 (book/06_whole_networks.ipynb).
    """
    func = "efficientnet_config"
    variant = _variant(func, name)
    width = variant.width_mult if width_mult is None else width_mult
    depth = variant.depth_mult if depth_mult is None else depth_mult
    check_positive(func, "width_mult", width)
    check_positive(func, "depth_mult", depth)
    stem, block_rows, head = split_table(func, variant.table)
    kept = check_stages(func, stages, len(block_rows))
    stem_c = make_divisible(stem.out_channels * width, 8)
    rows = resolve_rows(block_rows[:kept], stem_c, width_mult=width, depth_mult=depth,
                        small_input=small_input)
    if variant.head_follows_last_row:
        head_c = head.out_channels // block_rows[-1].out_channels * rows[-1].out_channels
    else:
        head_c = make_divisible(head.out_channels * width, 8)
    return NetworkConfig(name, stem_c, 1 if small_input else stem.stride, rows, head_c, width,
                         depth, stem_kernel=stem.kernel, head_kernel=head.kernel)


class EfficientNet(ImageClassifier):
    """EfficientNet / EfficientNetV2: ``(N, 3, H, W) -> (N, num_classes)``. Taught in chapter 6
    (book/06_whole_networks.ipynb).

    ``features`` is torchvision's layout: ``[stem, stage_1, ..., stage_K, head]`` where each
    stage is an ``nn.Sequential`` of its blocks (:meth:`stage_modules` names them after the
    paper's stage numbers). ``config`` is the resolved table; ``classifier`` Dropout + Linear.
    Block ``i`` of ``N`` gets stochastic-depth rate ``stochastic_depth_prob * i / N``.
    """

    def __init__(
        self,
        config: NetworkConfig,
        *,
        num_classes: int = 1000,
        dropout: float = 0.2,
        stochastic_depth_prob: float = 0.2,
        norm_layer: NormFactory = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        func = "EfficientNet"
        if not isinstance(config, NetworkConfig) or not config.stages:
            raise ValueError(f"{func}: config must be a NetworkConfig with at least one stage")
        check_int(func, "num_classes", num_classes)
        check_probability(func, "dropout", dropout, closed=True)
        check_probability(func, "stochastic_depth_prob", stochastic_depth_prob, closed=False)

        layers: list[nn.Module] = [
            ConvNormAct(
                3, config.stem_channels, config.stem_kernel, config.stem_stride,
                activation=nn.SiLU, norm_layer=norm_layer,
            )
        ]
        total, index = config.num_blocks, 0
        for row in config.stages:
            blocks: list[nn.Module] = []
            for i in range(row.layers):
                blocks.append(row.make_block(
                    i, se_ratio=row.se_ratio, norm_layer=norm_layer,
                    stochastic_depth_prob=stochastic_depth_prob * index / total,
                ))
                index += 1
            layers.append(nn.Sequential(*blocks))
        layers.append(
            ConvNormAct(
                config.stages[-1].out_channels, config.head_channels, config.head_kernel,
                activation=nn.SiLU, norm_layer=norm_layer,
            )
        )
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout, inplace=True),
            nn.Linear(config.head_channels, num_classes),
        )
        self.config = config
        self.num_classes = num_classes
        self.stochastic_depth_prob = stochastic_depth_prob
        init_weights(self, linear="uniform")

    def _stages(self) -> Iterable[tuple[str, nn.Module]]:
        for row, module in zip(self.config.stages, self.features[1:-1], strict=True):
            yield f"stage{row.stage}", module


class EfficientNetOptions(TypedDict, total=False):
    """The keyword arguments every EfficientNet builder takes (all optional; see the module
    docstring)."""

    num_classes: int
    width_mult: float | None
    depth_mult: float | None
    dropout: float | None
    stochastic_depth_prob: float
    small_input: bool
    stages: int | None
    pretrained: bool
    progress: bool


def _efficientnet(
    name: str,
    *,
    num_classes: int = 1000,
    width_mult: float | None = None,
    depth_mult: float | None = None,
    dropout: float | None = None,
    stochastic_depth_prob: float = 0.2,
    small_input: bool = False,
    stages: int | None = None,
    pretrained: bool = False,
    progress: bool = True,
) -> EfficientNet:
    """Build variant ``name``; the keyword arguments are :class:`EfficientNetOptions`."""
    variant = _VARIANTS[name]
    if pretrained:
        check_pretrained_config(
            name,
            num_classes=None if num_classes == 1000 else num_classes,
            width_mult=None if width_mult in (None, variant.width_mult) else width_mult,
            depth_mult=None if depth_mult in (None, variant.depth_mult) else depth_mult,
            small_input=small_input or None,
            stages=stages,
        )
    config = efficientnet_config(name, width_mult=width_mult, depth_mult=depth_mult,
                                 small_input=small_input, stages=stages)
    model = EfficientNet(
        config,
        num_classes=num_classes,
        dropout=variant.dropout if dropout is None else dropout,
        stochastic_depth_prob=stochastic_depth_prob,
        norm_layer=variant.norm_layer,
    )
    if pretrained:
        load_pretrained(model, name, progress=progress)
    return model


# The builders (keyword arguments: :class:`EfficientNetOptions`). Taught in chapters 4 (B0's
# MBConv), 5 (V2-S's Fused-MBConv) and 6 (the whole networks, compound scaling).
def efficientnet_b0(**kwargs: Unpack[EfficientNetOptions]) -> EfficientNet:
    """EfficientNet-B0: Table 1 as printed (width 1.0, depth 1.0, dropout 0.2)."""
    return _efficientnet("efficientnet_b0", **kwargs)


def efficientnet_b1(**kwargs: Unpack[EfficientNetOptions]) -> EfficientNet:
    """EfficientNet-B1: B0 scaled by width 1.0, depth 1.1; dropout 0.2."""
    return _efficientnet("efficientnet_b1", **kwargs)


def efficientnet_b2(**kwargs: Unpack[EfficientNetOptions]) -> EfficientNet:
    """EfficientNet-B2: B0 scaled by width 1.1, depth 1.2; dropout 0.3."""
    return _efficientnet("efficientnet_b2", **kwargs)


def efficientnet_b3(**kwargs: Unpack[EfficientNetOptions]) -> EfficientNet:
    """EfficientNet-B3: B0 scaled by width 1.2, depth 1.4; dropout 0.3."""
    return _efficientnet("efficientnet_b3", **kwargs)


def efficientnet_b4(**kwargs: Unpack[EfficientNetOptions]) -> EfficientNet:
    """EfficientNet-B4: B0 scaled by width 1.4, depth 1.8; dropout 0.4."""
    return _efficientnet("efficientnet_b4", **kwargs)


def efficientnet_b5(**kwargs: Unpack[EfficientNetOptions]) -> EfficientNet:
    """EfficientNet-B5: B0 scaled by width 1.6, depth 2.2; dropout 0.4; BN eps 1e-3."""
    return _efficientnet("efficientnet_b5", **kwargs)


def efficientnet_b6(**kwargs: Unpack[EfficientNetOptions]) -> EfficientNet:
    """EfficientNet-B6: B0 scaled by width 1.8, depth 2.6; dropout 0.5; BN eps 1e-3."""
    return _efficientnet("efficientnet_b6", **kwargs)


def efficientnet_b7(**kwargs: Unpack[EfficientNetOptions]) -> EfficientNet:
    """EfficientNet-B7: B0 scaled by width 2.0, depth 3.1; dropout 0.5; BN eps 1e-3."""
    return _efficientnet("efficientnet_b7", **kwargs)


def efficientnet_v2_s(**kwargs: Unpack[EfficientNetOptions]) -> EfficientNet:
    """EfficientNetV2-S: Table 4 as printed; dropout 0.2; BN eps 1e-3."""
    return _efficientnet("efficientnet_v2_s", **kwargs)


def efficientnet_v2_m(**kwargs: Unpack[EfficientNetOptions]) -> EfficientNet:
    """EfficientNetV2-M: the official code's table; dropout 0.3; BN eps 1e-3."""
    return _efficientnet("efficientnet_v2_m", **kwargs)


def efficientnet_v2_l(**kwargs: Unpack[EfficientNetOptions]) -> EfficientNet:
    """EfficientNetV2-L: the official code's table; dropout 0.4; BN eps 1e-3."""
    return _efficientnet("efficientnet_v2_l", **kwargs)
