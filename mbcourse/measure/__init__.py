"""Measure a network: structure, parameters, FLOPs, activation memory, latency, layer summary.

=====================  ===========================================================================
:mod:`.structure`      :func:`named_blocks`, :func:`named_stages`: the rows of every table
:mod:`.counts`         :func:`count_parameters`, :func:`parameters_per_block`/``_stage``,
                       :func:`count_flops` (``torch.utils.flop_counter``)
:mod:`.memory`         :func:`activation_memory` (a ``TorchDispatchMode`` following storages)
:mod:`.timing`         :func:`compare_latency`: THE timing path (``torch.utils.benchmark``,
                       interleaved rounds)
:mod:`.summary`        :func:`summary` (``torchinfo.summary``)
=====================  ===========================================================================
"""

from ._analysis import (
    BLOCK_TYPES,
    ActivationMemory,
    FlopCount,
    FlopRow,
    MemoryRow,
    ParamRow,
    activation_memory,
    count_flops,
    count_parameters,
    is_shape,
    measure_latency,
    named_blocks,
    named_stages,
    parameters_per_block,
    parameters_per_stage,
    summary,
)
from .timing import Latency, compare_latency

__all__ = [
    "BLOCK_TYPES",
    "ActivationMemory",
    "FlopCount",
    "FlopRow",
    "Latency",
    "MemoryRow",
    "ParamRow",
    "activation_memory",
    "compare_latency",
    "count_flops",
    "count_parameters",
    "is_shape",
    "measure_latency",
    "named_blocks",
    "named_stages",
    "parameters_per_block",
    "parameters_per_stage",
    "summary",
]
