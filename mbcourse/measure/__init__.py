"""Measure a network: structure, parameters, FLOPs, activation memory, latency, layer summary.

Each measurement uses PyTorch's or the ecosystem's own instrument, not a hand-written formula
(the formulas live in :mod:`mbcourse.costs`, and the tests check the two against each other):

==================  ================================================================================
:mod:`.structure`   :func:`named_blocks`, :func:`named_stages`: the rows of every table
:mod:`.counts`      :func:`count_parameters`, :func:`parameters_per_block`,
                    :func:`parameters_per_stage`, :func:`count_flops` (``FlopCounterMode``)
:mod:`.memory`      :func:`activation_memory` (a ``TorchDispatchMode`` following storages)
:mod:`.timing`      :func:`compare_latency`, :func:`time_interleaved`: the one timing path
                    (``torch.utils.benchmark``, interleaved rounds); :func:`round_spread`,
                    :func:`within_noise`: is a measured difference within its own noise?
:mod:`.summary`     :func:`summary` (``torchinfo.summary``)
==================  ================================================================================

``input_size`` is a full input shape ``(N, C, H, W)`` or an int ``s`` for ``(1, 3, s, s)``.
"""

from .counts import (
    FlopCount,
    FlopRow,
    ParamRow,
    count_flops,
    count_parameters,
    parameters_per_block,
    parameters_per_stage,
)
from .memory import ActivationMemory, MemoryRow, activation_memory
from .structure import BLOCK_TYPES, named_blocks, named_stages
from .summary import summary
from .timing import (
    CLOCKS,
    Latency,
    Step,
    compare_latency,
    round_spread,
    time_interleaved,
    within_noise,
)

__all__ = [
    "BLOCK_TYPES",
    "CLOCKS",
    "ActivationMemory",
    "FlopCount",
    "FlopRow",
    "Latency",
    "MemoryRow",
    "ParamRow",
    "Step",
    "activation_memory",
    "compare_latency",
    "count_flops",
    "count_parameters",
    "named_blocks",
    "named_stages",
    "parameters_per_block",
    "parameters_per_stage",
    "round_spread",
    "summary",
    "time_interleaved",
    "within_noise",
]
