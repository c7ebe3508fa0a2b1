"""Parameters and FLOPs, counted by PyTorch itself, per network, block and stage.

:func:`count_parameters` sums ``p.numel()`` over ``module.parameters()``; :func:`count_flops`
runs one forward pass under :class:`torch.utils.flop_counter.FlopCounterMode`. The closed-form
formulas live in :mod:`mbcourse.costs`; the tests hold the two to each other. Taught in
chapters 1 and 6 (book/01_cost_of_convolution.ipynb, book/06_whole_networks.ipynb).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..introspect import eval_mode, example_input
from ..validation import check_module
from ._run import input_shape, on_device
from .structure import named_blocks, named_stages, type_summary

__all__ = [
    "FlopCount",
    "FlopRow",
    "ParamRow",
    "count_flops",
    "count_parameters",
    "parameters_per_block",
    "parameters_per_stage",
]


@dataclass(frozen=True)
class ParamRow:
    """One row of a parameter table: a block's (or stage's) name, type and parameter count."""

    name: str
    type: str
    params: int


def count_parameters(module: nn.Module, *, trainable_only: bool = False) -> int:
    """Learnable parameters of ``module`` (BatchNorm's running statistics are buffers, not
    counted): ``sum(p.numel() for p in module.parameters())``.
    Taught in chapter 1 (book/01_cost_of_convolution.ipynb).
    """
    check_module("count_parameters", "module", module)
    return sum(
        p.numel() for p in module.parameters() if p.requires_grad or not trainable_only
    )


def parameters_per_block(model: nn.Module) -> list[ParamRow]:
    """One :class:`ParamRow` per block of :func:`named_blocks`; the rows sum to the total."""
    check_module("parameters_per_block", "model", model)
    return [
        ParamRow(name, type(block).__name__, count_parameters(block))
        for name, block in named_blocks(model)
    ]


def parameters_per_stage(model: nn.Module) -> list[ParamRow]:
    """One :class:`ParamRow` per stage of :func:`named_stages`; the rows sum to the total."""
    check_module("parameters_per_stage", "model", model)
    return [
        ParamRow(name, type_summary([b for _, b in members]),
                 sum(count_parameters(b) for _, b in members))
        for name, members in named_stages(model)
    ]


@dataclass(frozen=True)
class FlopRow:
    """FLOPs of one block or stage (``macs = flops // 2``)."""

    name: str
    type: str
    flops: int

    @property
    def macs(self) -> int:
        """Multiply-adds: ``flops // 2``."""
        return self.flops // 2


@dataclass(frozen=True)
class FlopCount:
    """The result of :func:`count_flops`.

    ``flops`` counts a multiply-add as 2 FLOPs (``FlopCounterMode``'s convention); ``macs``
    (multiply-adds, the papers' "MAdds" and torchvision's "GFLOPS") is half of it.
    ``by_operator`` maps ATen operators (``"convolution"``, ``"addmm"``) to FLOPs.
    """

    flops: int
    input_shape: tuple[int, ...]
    by_operator: dict[str, int]
    blocks: list[FlopRow]
    stages: list[FlopRow]

    @property
    def macs(self) -> int:
        """Multiply-adds: ``flops // 2``."""
        return self.flops // 2

    @property
    def gflops(self) -> float:
        """``flops / 1e9``."""
        return self.flops / 1e9

    @property
    def gmacs(self) -> float:
        """``macs / 1e9``: comparable with torchvision's "GFLOPS" and the papers' "B FLOPs"."""
        return self.macs / 1e9


def count_flops(
    model: nn.Module,
    input_size: int | Sequence[int] = 224,
    *,
    device: torch.device | str | None = None,
) -> FlopCount:
    """Count the FLOPs of one forward pass with :class:`torch.utils.flop_counter.FlopCounterMode`.

    **Convention.** ``FlopCounterMode`` counts matrix multiplications and convolutions only, and
    counts each multiply-add as 2 FLOPs: a k x k conv from ``C_in`` to ``C_out`` in ``g`` groups
    costs ``2 * H_out * W_out * C_out * (C_in / g) * k^2``. BatchNorm, activations, pooling, the
    SE gate's multiplication and residual additions count 0 (they are ``O(C H W)``).

    **Which published number matches which.** The papers and torchvision count *multiply-adds*
    and call them "MAdds" (MobileNetV2: 300M) or "FLOPs"/"GFLOPS" (EfficientNet-B0: 0.39B;
    torchvision's model tables: 0.301 for ``mobilenet_v2``, 0.386 for ``efficientnet_b0`` at
    224 x 224, 8.366 for ``efficientnet_v2_s`` at its weights' 384 x 384 evaluation size).
    All of these equal :attr:`FlopCount.macs` (= ``flops / 2``), not ``flops``.

    The model runs once under ``torch.no_grad()`` in eval mode (its modes are restored after).
    ``device="meta"`` counts from shapes alone (on a copy), without computing anything.
    Shape of the input: ``input_size`` (an int ``s`` means ``(1, 3, s, s)``).
    Taught in chapter 6 (book/06_whole_networks.ipynb).
    """
    func = "count_flops"
    check_module(func, "model", model)
    shape = input_shape(func, model, input_size)
    runner = on_device(model, device)
    x = example_input(runner, shape)
    counter = FlopCounterMode(display=False)
    with eval_mode(runner), torch.no_grad(), counter:
        runner(x)
    counts = counter.get_flop_counts()
    root = type(runner).__name__

    def flops_of(name: str, block: nn.Module) -> int:
        key = root if block is runner else f"{root}.{name}"
        return int(sum(counts.get(key, {}).values()))

    total = counter.get_total_flops()
    by_operator = {str(op).split(".")[-1]: int(n) for op, n in counts.get("Global", {}).items()}
    block_rows = [
        FlopRow(name, type(block).__name__, flops_of(name, block))
        for name, block in named_blocks(runner)
    ]
    by_name = {row.name: row.flops for row in block_rows}
    stage_rows = [
        FlopRow(name, type_summary([b for _, b in members]),
                sum(by_name[n] for n, _ in members))
        for name, members in named_stages(runner)
    ]
    return FlopCount(int(total), shape, by_operator, block_rows, stage_rows)
