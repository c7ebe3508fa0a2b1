"""Activation memory: what PyTorch really holds during one inference forward pass.

Taught in chapters 2 and 6 (book/02_inverted_residuals.ipynb, book/06_whole_networks.ipynb).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from ..introspect import Call, eval_mode, example_input, module_dtype, trace_calls
from ..validation import check_module
from ._run import input_shape, on_device
from .structure import Named, named_blocks, named_stages, type_summary

__all__ = ["ActivationMemory", "MemoryRow", "activation_memory"]


@dataclass(frozen=True)
class MemoryRow:
    """Activation memory of one block (or stage) during one forward pass, in bytes.

    ``input_bytes`` / ``output_bytes``: the tensors that enter and leave it (the "bottleneck"
    tensors of an inverted residual). ``largest_bytes``: the largest tensor created inside it
    (the expanded tensor of an inverted residual). ``peak_bytes``: the most activation memory
    the whole network held while this block ran (its own tensors plus everything still alive
    outside it, such as the network input).
    """

    name: str
    type: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    input_bytes: int
    output_bytes: int
    largest_bytes: int
    peak_bytes: int

    @property
    def boundary_bytes(self) -> int:
        """``input_bytes + output_bytes``: the block's memory if run as one streaming operation
        (MobileNetV2, Sec. 5.1: ``|s^2 k| + |s'^2 k'|``, ignoring a tiny working buffer)."""
        return self.input_bytes + self.output_bytes


@dataclass(frozen=True)
class ActivationMemory:
    """The result of :func:`activation_memory`; sizes in bytes of ``element_size``-byte floats."""

    peak_bytes: int
    element_size: int
    input_shape: tuple[int, ...]
    blocks: list[MemoryRow]
    stages: list[MemoryRow]

    @property
    def streaming_bytes(self) -> int:
        """The largest :attr:`MemoryRow.boundary_bytes` over blocks: the peak if every block
        were computed as a single streaming operation, as MobileNetV2's Sec. 5.1 proposes."""
        return max(row.boundary_bytes for row in self.blocks)

    def elements(self, nbytes: int) -> int:
        """Convert a size in bytes to a number of tensor elements."""
        return nbytes // self.element_size


class _ActivationTracker(TorchDispatchMode):
    """Follows the storage of every tensor that an ATen operator returns.

    A storage is counted when an operator first returns a tensor that uses it, and uncounted
    when it is freed (a ``weakref.finalize`` on the storage object). Views and in-place results
    share their input's storage, so they add nothing; parameters and buffers are excluded.
    """

    def __init__(self, excluded: set[int]) -> None:
        super().__init__()
        self.excluded = excluded
        self.live: dict[int, int] = {}
        self.current = 0
        self.peak = 0
        self.block: str | None = None
        self.block_peak: dict[str, int] = {}
        self.block_largest: dict[str, int] = {}

    def track(self, tensor: Tensor) -> None:
        storage = tensor.untyped_storage()
        key = id(storage)
        if key in self.excluded or key in self.live:
            return
        nbytes = storage.nbytes()
        self.live[key] = nbytes
        self.current += nbytes
        weakref.finalize(storage, self._free, key)
        self.peak = max(self.peak, self.current)
        if self.block is not None:
            self.block_peak[self.block] = max(self.block_peak.get(self.block, 0), self.current)
            self.block_largest[self.block] = max(self.block_largest.get(self.block, 0), nbytes)

    def _free(self, key: int) -> None:
        self.current -= self.live.pop(key, 0)

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        out = func(*args, **(kwargs or {}))
        for leaf in tree_leaves(out):
            if isinstance(leaf, Tensor):
                self.track(leaf)
        return out


def activation_memory(
    model: nn.Module,
    input_size: int | Sequence[int] = 224,
    *,
    device: torch.device | str | None = None,
) -> ActivationMemory:
    """The activation memory PyTorch really holds during one inference forward pass.

    **Method.** The model runs once in eval mode under ``torch.no_grad()`` (nothing is saved
    for backward) inside a ``TorchDispatchMode`` that sees every tensor each ATen operator
    returns. A tensor's *storage* is counted from the moment an operator first returns it until
    Python frees it (tracked with ``weakref.finalize``), so views and in-place activations
    (``ReLU6(inplace=True)``) cost nothing extra, and a block's input stays counted while the
    block still needs it for its residual. The network input is counted too (the caller holds
    it for the whole pass); parameters and buffers are not. ``peak_bytes`` is the largest sum of
    live storages after any operator. What is *not* seen: scratch memory inside a kernel (e.g.
    oneDNN's or cuDNN's workspaces) and the allocator's caching and fragmentation.

    **Against the MobileNetV2 paper.** Sec. 5.1 argues that an inverted residual computed as one
    streaming operation needs only its input and output ("bottleneck") tensors plus a tiny
    buffer (:attr:`ActivationMemory.streaming_bytes`); Table 3 lists the largest such tensor
    (400K at 16-bit floats). Eager PyTorch does not stream: it materialises the whole expanded
    ``t * C`` tensor, so :attr:`ActivationMemory.peak_bytes` is several times larger.

    ``device="meta"`` measures from shapes alone (on a copy), without computing anything; the
    counts agree with a real run to within a few hundred bytes (the meta BatchNorm returns two
    small per-channel statistics tensors that the CPU kernel leaves empty).
    Shape of the input: ``input_size`` (``s`` means ``(1, 3, s, s)``).
    Taught in chapter 6 (book/06_whole_networks.ipynb).
    """
    func = "activation_memory"
    check_module(func, "model", model)
    shape = input_shape(func, model, input_size)
    runner = on_device(model, device)
    dtype = module_dtype(runner)
    blocks = named_blocks(runner)
    tracker, calls, entry_bytes = _run_tracked(runner, blocks, shape)
    rows = _block_rows(blocks, tracker, calls, entry_bytes)
    stages = _stage_rows(named_stages(runner), rows)
    element_size = torch.empty((), dtype=dtype).element_size()
    return ActivationMemory(tracker.peak, element_size, shape, rows, stages)


def _run_tracked(
    runner: nn.Module, blocks: list[Named], shape: tuple[int, ...]
) -> tuple[_ActivationTracker, dict[str, Call], dict[str, int]]:
    """One eval-mode, no-grad forward pass under an :class:`_ActivationTracker`, with each
    block's call traced (:func:`~mbcourse.introspect.trace_calls`): the tracker learns which
    block runs, and the live bytes when each block was entered are kept."""
    held = [t.untyped_storage() for t in (*runner.parameters(), *runner.buffers())]
    tracker = _ActivationTracker({id(s) for s in held})
    entry_bytes: dict[str, int] = {}

    def enter(call: Call) -> None:
        tracker.block = call.name
        entry_bytes[call.name] = tracker.current

    def leave(call: Call) -> None:
        tracker.block = None

    with eval_mode(runner), torch.no_grad():
        x = example_input(runner, shape)
        with trace_calls(blocks, on_enter=enter, on_exit=leave) as calls, tracker:
            tracker.track(x)
            out = runner(x)
        del out
    return tracker, {call.name: call for call in calls if call.returned}, entry_bytes


def _block_rows(
    blocks: list[Named],
    tracker: _ActivationTracker,
    calls: dict[str, Call],
    entry_bytes: dict[str, int],
) -> list[MemoryRow]:
    """One :class:`MemoryRow` per block the forward pass called."""
    rows = []
    for name, block in blocks:
        if name not in calls:  # a module the forward pass never called
            continue
        c = calls[name]
        rows.append(
            MemoryRow(
                name, type(block).__name__, c.in_shape or (), c.out_shape or (), c.in_bytes,
                c.out_bytes, tracker.block_largest.get(name, 0),
                max(tracker.block_peak.get(name, 0), entry_bytes[name]),
            )
        )
    return rows


def _stage_rows(
    stages: list[tuple[str, list[Named]]], rows: list[MemoryRow]
) -> list[MemoryRow]:
    """One :class:`MemoryRow` per stage: its first block's input, its last block's output,
    and the largest tensor and peak of its blocks."""
    by_name = {row.name: row for row in rows}
    result = []
    for stage_name, members in stages:
        found = [by_name[n] for n, _ in members if n in by_name]
        if not found:
            continue
        result.append(
            MemoryRow(
                stage_name, type_summary([b for n, b in members if n in by_name]),
                found[0].input_shape, found[-1].output_shape,
                found[0].input_bytes, found[-1].output_bytes,
                max(r.largest_bytes for r in found), max(r.peak_bytes for r in found),
            )
        )
    return result
