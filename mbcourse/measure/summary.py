"""A layer table of a network: ``torchinfo.summary``. Taught in chapter 6
(book/06_whole_networks.ipynb)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..introspect import module_device
from ..validation import check_int, check_module
from ._run import input_shape

__all__ = ["summary"]


def summary(
    model: nn.Module,
    input_size: int | Sequence[int] = 224,
    *,
    depth: int = 3,
    device: torch.device | str | None = None,
    col_names: Sequence[str] = ("output_size", "num_params", "mult_adds"),
    verbose: int = 0,
    **kwargs: Any,
) -> Any:
    """``torchinfo.summary`` of ``model`` in eval mode: returns its ``ModelStatistics``.

    ``print(result)`` shows the layer table down to ``depth`` levels; ``result.total_params``
    and ``result.summary_list`` (one ``LayerInfo`` per row) give the numbers. Note that
    torchinfo's ``total_mult_adds`` also counts biases and one operation per BatchNorm
    parameter, so it is slightly above :attr:`FlopCount.macs` from :func:`count_flops`.
    Input shape: ``input_size`` (``s`` means ``(1, 3, s, s)``).
    """
    func = "summary"
    check_module(func, "model", model)
    shape = input_shape(func, model, input_size)
    check_int(func, "depth", depth, minimum=0)
    import torchinfo

    run_device = module_device(model) if device is None else torch.device(device)
    stats = torchinfo.summary(
        model, input_size=shape, depth=depth, device=run_device, col_names=tuple(col_names),
        mode="eval", verbose=verbose, **kwargs,
    )
    # torchinfo 1.8 prints its unit enum as "Units.MEGABYTES" on Python >= 3.11; its value ("M",
    # "G") compares equal to the enum and prints as the unit itself.
    unit = torchinfo.Units.GIGABYTES if stats.total_mult_adds >= 1e9 else torchinfo.Units.MEGABYTES
    stats.formatting.macs_units = unit.value
    return stats
