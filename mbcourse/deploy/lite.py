"""EfficientNet-Lite's changes, applied to a built network: ReLU6 for SiLU, no SE.

EfficientNet-Lite (Google's TensorFlow release for mobile CPUs and accelerators, 2020) made
EfficientNet quantization-friendly by removing squeeze-and-excitation (poorly supported on
mobile accelerators, and its sigmoid gate stays in float) and replacing Swish (SiLU) by ReLU6,
whose bounded range [0, 6] keeps int8 activation scales fine-grained. It also fixed the stem (32
channels) and head (1280) when scaling up, so that B1-B4 stay small; B0 already has exactly
these widths, so for B0 (and the small networks of :mod:`mbcourse.studies.experiments`)
:func:`to_lite` makes the whole change. It leaves the stem and head of scaled networks as built.
"""

from __future__ import annotations

import copy

from torch import nn

from ..blocks import SqueezeExcitation
from ..validation import check_module

__all__ = ["count_lite_changes", "to_lite"]


def count_lite_changes(model: nn.Module) -> dict[str, int]:
    """How many SiLU activations and SE modules ``model`` holds (what :func:`to_lite` changes)."""
    check_module("count_lite_changes", "model", model)
    se = [m for m in model.modules() if isinstance(m, SqueezeExcitation)]
    inside_se = {id(a) for s in se for a in s.modules()}
    silu = sum(isinstance(m, nn.SiLU) and id(m) not in inside_se for m in model.modules())
    return {"silu": silu, "se": len(se)}


def to_lite(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every SE module replaced by ``nn.Identity`` and every ``nn.SiLU``
    by ``nn.ReLU6``: EfficientNet-Lite's blocks. Shapes and parameter layout of all other
    layers are unchanged (``(N, 3, H, W) -> (N, classes)`` for a network). Works on any module
    built from :mod:`mbcourse.blocks`; raises if there is nothing to change."""
    func = "to_lite"
    check_module(func, "model", model)
    if not any(count_lite_changes(model).values()):
        raise ValueError(f"{func}: {type(model).__name__} has no SiLU and no SqueezeExcitation "
                         "to replace; it is already 'lite'")
    lite = copy.deepcopy(model)
    for parent in list(lite.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, SqueezeExcitation):
                setattr(parent, name, nn.Identity())
            elif isinstance(child, nn.SiLU):
                setattr(parent, name, nn.ReLU6(inplace=child.inplace))
    return lite
