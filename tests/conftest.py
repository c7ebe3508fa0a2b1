"""Shared fixtures: every device-aware test runs on the CPU and, when present, on CUDA; BatchNorm
statistics as training would leave them."""

from __future__ import annotations

import os
from collections.abc import Callable

os.environ.setdefault("MPLBACKEND", "Agg")  # tests draw off-screen

import pytest
import torch
from torch import nn

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


def _randomise_batchnorms(model: nn.Module, seed: int = 1) -> nn.Module:
    """Give every BatchNorm non-trivial running statistics and affine parameters (as training
    would), so that eval-mode BN is not an identity and a BN tensor in the wrong place changes
    the output; returns ``model`` in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.1)
    return model.eval()


@pytest.fixture(scope="session")
def randomise_batchnorms() -> Callable[..., nn.Module]:
    """``randomise_batchnorms(model, seed=1)``: trained-looking BatchNorms, model in eval mode."""
    return _randomise_batchnorms
