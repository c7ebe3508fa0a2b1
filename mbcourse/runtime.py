"""Where the code runs: device choice, seeds and CPU/GPU-sized settings for the chapters.

A leaf module (imports nothing from the package), so every layer may use it.
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
from typing import TypeVar

import torch

__all__ = [
    "autocast",
    "describe_device",
    "in_colab",
    "on_ci",
    "pick_device",
    "seed_everything",
    "sized",
]

T = TypeVar("T")


def pick_device(prefer: str | None = None) -> torch.device:
    """``cuda`` when a GPU is available (or ``prefer`` if given), else ``cpu``."""
    if prefer is not None:
        return torch.device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy (if installed) and PyTorch on every device."""
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency
        return
    np.random.seed(seed)


def sized(cpu: T, gpu: T, device: torch.device | str | None = None) -> T:
    """Pick the CPU-sized or the GPU-sized setting of an experiment for ``device``."""
    device = pick_device() if device is None else torch.device(device)
    return gpu if device.type == "cuda" else cpu


def autocast(
    device: torch.device | str, dtype: torch.dtype | None
) -> contextlib.AbstractContextManager[object]:
    """``torch.autocast(device.type, dtype)``, or a context that does nothing for ``dtype=None``
    (full precision): the one switch for mixed precision in training, inference and benchmarks.
    """
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


def describe_device(device: torch.device | str | None = None) -> str:
    """A label for plots and tables, e.g. ``"NVIDIA H100 80GB HBM3, torch 2.14.1"``."""
    device = pick_device() if device is None else torch.device(device)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        threads = torch.get_num_threads()
        name = f"CPU ({platform.machine()}, {threads} thread{'' if threads == 1 else 's'})"
    return f"{name}, torch {torch.__version__.split('+')[0]}"


def in_colab() -> bool:
    """True inside Google Colab."""
    import sys

    return "google.colab" in sys.modules


def on_ci() -> bool:
    """True when the ``CI`` environment variable is set (as on CI runners)."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}
