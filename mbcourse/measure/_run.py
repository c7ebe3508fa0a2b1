"""Shared steps of the measurements: the input shape, where and how the model runs."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from ..validation import is_int, is_shape


def input_shape(func: str, input_size: int | Sequence[int]) -> tuple[int, ...]:
    """``s -> (1, 3, s, s)``; a sequence of positive ints is taken as the full shape."""
    if is_int(input_size) and input_size > 0:  # type: ignore[operator]
        return (1, 3, input_size, input_size)  # type: ignore[return-value]
    if not is_shape(input_size):
        raise ValueError(
            f"{func}: input_size must be a positive int s (meaning (1, 3, s, s)) or a full "
            f"input shape such as (1, 3, 224, 224), got {input_size!r}"
        )
    return tuple(int(s) for s in input_size)  # type: ignore[union-attr]


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (``cpu`` for an empty model)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype:
    """The dtype of the model's first floating-point parameter (else the default dtype)."""
    for tensor in model.parameters():
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.get_default_dtype()


def on_device(model: nn.Module, device: torch.device | str | None) -> nn.Module:
    """``model`` itself if it is on ``device`` (or ``device`` is None), else a copy moved there.

    ``device="meta"`` runs shape-only: nothing is computed, which is enough to count FLOPs and
    activation bytes and takes no time even for large inputs.
    """
    if device is None or model_device(model) == torch.device(device):
        return model
    return copy.deepcopy(model).to(device)


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Put every submodule in eval mode, then restore each one's own flag."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.train(training)
