"""mbcourse: the building blocks of efficient CNNs, as a small tested PyTorch package.

The blocks (MobileNetV2's inverted residual, squeeze-and-excitation, EfficientNet's MBConv,
EfficientNetV2's Fused-MBConv) and the networks built from them match torchvision's, and work
with the tools people build on (``torch.fx``, feature extraction, ``torch.export``,
``torch.compile``, FX quantization)::

    from mbcourse import MBConv
    from mbcourse.models import efficientnet_b0
    from mbcourse.measure import count_flops, count_parameters

Units, lower layers first (imports flow one way; ARCHITECTURE.md):

* ``runtime``, ``validation``, ``display``: device and seeds; argument checks; ``glue`` and
  ``show_source`` for the chapters.
* ``blocks``: one class per figure. ``introspect``: looking into a running module (the one
  forward-hook tracer, ``eval_mode``, device/dtype, input-shape checks).
* ``costs``: closed-form parameter and multiply-add formulas.
* ``models``: MobileNetV2, EfficientNet B0-B7, EfficientNetV2 S/M/L as the papers' tables;
  torchvision weight import.
* ``measure``: structure, parameters, FLOPs, activation memory, the one timing path;
  ``inference``: BatchNorm folding, channels_last, compile; ``training``: data and the loop.
* ``deploy``: ONNX export, ONNX Runtime, int8; ``viz``: figures drawn from the modules.
* ``studies``: chapter-specific studies; ``exercises``: the chapters' exercises and checkers.
"""

from . import blocks, costs
from .blocks import (
    ConvNormAct,
    DepthwiseSeparableConv,
    FusedMBConv,
    InvertedResidual,
    MBConv,
    SqueezeExcitation,
    StochasticDepth,
    make_divisible,
)
from .inference import optimize_for_inference

__version__ = "0.1.0"

__all__ = [
    "ConvNormAct",
    "DepthwiseSeparableConv",
    "FusedMBConv",
    "InvertedResidual",
    "MBConv",
    "SqueezeExcitation",
    "StochasticDepth",
    "blocks",
    "costs",
    "make_divisible",
    "optimize_for_inference",
]
