"""Chapter 0 (Start here): the two numbers its prose prints, where the page ran.
Taught in chapter 0 (book/00_start_here.ipynb).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..runtime import describe_device
from ..validation import check_int

__all__ = ["Ch0Facts", "facts"]


@dataclass(frozen=True)
class Ch0Facts:
    """Glued as ``ch0_<field>``: the device that executed the page and the batch that
    ``sized(cpu=..., gpu=...)`` picked there."""

    device: str
    batch: int


def facts(device: torch.device | str, batch: int) -> Ch0Facts:
    """The page's device (:func:`mbcourse.runtime.describe_device`) and its ``sized`` batch."""
    return Ch0Facts(describe_device(device), check_int("studies.ch00.facts", "batch", batch))
