"""Shared steps of the measurements: the input shape, and where the model runs. How a model is
looked into (device, dtype, eval mode, forward hooks) is :mod:`mbcourse.introspect`'s job."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from ..introspect import check_input_shape, module_device
from ..validation import is_int, is_shape


def input_shape(func: str, model: nn.Module, input_size: int | Sequence[int]) -> tuple[int, ...]:
    """``s -> (1, 3, s, s)``; a sequence of positive ints is taken as the full shape. Either
    must fit ``model`` (:func:`~mbcourse.introspect.check_input_shape`)."""
    if is_int(input_size) and input_size > 0:  # type: ignore[operator]
        input_size = (1, 3, input_size, input_size)  # type: ignore[assignment]
    elif not is_shape(input_size):
        raise ValueError(
            f"{func}: input_size must be a positive int s (meaning (1, 3, s, s)) or a full "
            f"input shape such as (1, 3, 224, 224), got {input_size!r}"
        )
    return check_input_shape(func, model, input_size, name="input_size")


def on_device(model: nn.Module, device: torch.device | str | None) -> nn.Module:
    """``model`` itself if it is on ``device`` (or ``device`` is None), else a copy moved there.

    ``device="meta"`` runs shape-only: nothing is computed, which is enough to count FLOPs and
    activation bytes and takes no time even for large inputs.
    """
    if device is None or module_device(model) == torch.device(device):
        return model
    return copy.deepcopy(model).to(device)
