"""Shared fixtures: every device-aware test runs on the CPU and, when present, on CUDA."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")  # tests draw off-screen

import pytest
import torch

DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param(
        "cuda",
        id="cuda",
        marks=[
            pytest.mark.cuda,
            pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
        ],
    ),
]


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    """The device under test: ``cpu`` always, ``cuda`` when available (skipped otherwise)."""
    return torch.device(request.param)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
