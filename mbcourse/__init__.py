"""mbcourse: the building blocks of efficient CNNs, as a small tested PyTorch package.

Imports flow one way: ``blocks -> models -> analysis / viz / data / train -> exercises``.
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
