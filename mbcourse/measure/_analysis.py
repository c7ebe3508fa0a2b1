"""Measure a network: parameters, FLOPs, activation memory, latency and a layer summary.

Each measurement uses PyTorch's or the ecosystem's own instrument, not a hand-written formula
(the formulas live in :mod:`mbcourse.costs`, and the tests check the two against each other):

=========================  ===================================================================
:func:`count_parameters`   ``sum(p.numel() for p in module.parameters())``
:func:`count_flops`        :class:`torch.utils.flop_counter.FlopCounterMode`
:func:`activation_memory`  a :class:`~torch.utils._python_dispatch.TorchDispatchMode` that sees
                           every tensor each ATen operator returns and follows its storage's
                           lifetime with a weak reference
:func:`measure_latency`    :class:`torch.utils.benchmark.Timer` (``blocked_autorange``)
:func:`summary`            ``torchinfo.summary``
=========================  ===================================================================

Tables come per *block* and per *stage*. A block is an outermost instance of one of the classes
of :mod:`mbcourse.blocks` (``ConvNormAct``, ``InvertedResidual``, ``MBConv``, ...); modules that
sit outside every block (pooling, dropout, the classifier's ``Linear``) are rows of their own.
Stages are the model's own grouping when it has a ``stage_modules()`` method (the networks of
:mod:`mbcourse.models`: ``stem``, ``stage1``, ..., ``head``), with the pooling and classifier
rows gathered as ``classifier``; otherwise each top-level child of the model is a stage.

``input_size`` is a full input shape ``(N, C, H, W)`` or an int ``s`` for ``(1, 3, s, s)``.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode

from ..blocks import (
    ConvNormAct,
    DepthwiseSeparableConv,
    FusedMBConv,
    InvertedResidual,
    MBConv,
    SqueezeExcitation,
)

# torch.utils.benchmark imports torch.utils.cpp_extension, which warns about CUDA_HOME on
# machines with a CUDA toolkit but no GPU; the warning says nothing about timing.
_cpp_log = logging.getLogger("torch.utils.cpp_extension")
_saved_level = _cpp_log.level
_cpp_log.setLevel(logging.ERROR)
try:
    from torch.utils import benchmark
finally:
    _cpp_log.setLevel(_saved_level)

__all__ = [
    "BLOCK_TYPES",
    "ActivationMemory",
    "FlopCount",
    "FlopRow",
    "LatencyStats",
    "MemoryRow",
    "ParamRow",
    "activation_memory",
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

#: The classes whose outermost instances are the rows of the per-block tables.
BLOCK_TYPES: tuple[type[nn.Module], ...] = (
    ConvNormAct,
    DepthwiseSeparableConv,
    InvertedResidual,
    MBConv,
    FusedMBConv,
    SqueezeExcitation,
)

Named = tuple[str, nn.Module]


# --------------------------------------------------------------------------------------------
# Argument checks and small helpers
# --------------------------------------------------------------------------------------------
def _check_module(func: str, model: object, name: str = "model") -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"{func}: {name} must be a torch.nn.Module, got {type(model).__name__}")


def is_shape(value: object) -> bool:
    """True for a tensor shape: a tuple, list or ``torch.Size`` of >= 2 positive ints."""
    return (
        isinstance(value, (tuple, list, torch.Size))
        and len(value) >= 2
        and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in value)
    )


def _input_shape(func: str, input_size: object) -> tuple[int, ...]:
    """``s -> (1, 3, s, s)``; a sequence of positive ints is taken as the full shape."""
    if isinstance(input_size, int) and not isinstance(input_size, bool) and input_size > 0:
        return (1, 3, input_size, input_size)
    if not is_shape(input_size):
        raise ValueError(
            f"{func}: input_size must be a positive int s (meaning (1, 3, s, s)) or a full "
            f"input shape such as (1, 3, 224, 224), got {input_size!r}"
        )
    return tuple(int(s) for s in input_size)  # type: ignore[union-attr]


def _model_device(model: nn.Module) -> torch.device:
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _model_dtype(model: nn.Module) -> torch.dtype:
    for tensor in model.parameters():
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.get_default_dtype()


def _on_device(model: nn.Module, device: torch.device | str | None) -> nn.Module:
    """``model`` itself if it is on ``device`` (or ``device`` is None), else a copy moved there.

    ``device="meta"`` runs shape-only: nothing is computed, which is enough to count FLOPs and
    activation bytes and takes no time even for large inputs.
    """
    if device is None or _model_device(model) == torch.device(device):
        return model
    return copy.deepcopy(model).to(device)


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Put every submodule in eval mode, then restore each one's own flag."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.train(training)


def _type_summary(modules: Sequence[nn.Module]) -> str:
    """``"InvertedResidual x 3"``, or ``"ConvNormAct + MBConv x 2"`` for a mixed group."""
    counts = Counter(type(m).__name__ for m in modules)
    return " + ".join(f"{name} x {n}" if n > 1 else name for name, n in counts.items())


# --------------------------------------------------------------------------------------------
# Blocks and stages
# --------------------------------------------------------------------------------------------
def named_blocks(model: nn.Module) -> list[Named]:
    """The rows of the per-block tables, in forward order of registration.

    An outermost instance of :data:`BLOCK_TYPES` is one row; so is every leaf module outside
    all blocks, except ``nn.Identity``. A model that *is* a block is its own single row.
    """
    _check_module("named_blocks", model)
    rows: list[Named] = []

    def visit(prefix: str, module: nn.Module) -> None:
        if isinstance(module, BLOCK_TYPES):
            rows.append((prefix or type(module).__name__, module))
            return
        children = list(module.named_children())
        if not children:
            if not isinstance(module, nn.Identity):
                rows.append((prefix or type(module).__name__, module))
            return
        for name, child in children:
            visit(f"{prefix}.{name}" if prefix else name, child)

    visit("", model)
    return rows


def named_stages(model: nn.Module) -> list[tuple[str, list[Named]]]:
    """Blocks grouped into stages: ``[(stage_name, [(block_name, block), ...]), ...]``.

    Uses ``model.stage_modules()`` when the model has it (blocks outside every stage, i.e. the
    pooling and the classifier, form a last stage called ``classifier``); otherwise each
    top-level child of the model is a stage.
    """
    _check_module("named_stages", model)
    blocks = named_blocks(model)
    groups: list[tuple[str, list[Named]]] = []
    stage_modules = getattr(model, "stage_modules", None)
    if callable(stage_modules):
        assigned: set[int] = set()
        for stage_name, stage in stage_modules().items():
            inside = {id(m) for m in stage.modules()}
            members = [b for b in blocks if id(b[1]) in inside and id(b[1]) not in assigned]
            assigned.update(id(b[1]) for b in members)
            groups.append((stage_name, members))
        rest = [b for b in blocks if id(b[1]) not in assigned]
        if rest:
            groups.append(("classifier", rest))
        return groups
    for name, block in blocks:
        top = name.split(".")[0]
        if groups and groups[-1][0] == top:
            groups[-1][1].append((name, block))
        else:
            groups.append((top, [(name, block)]))
    return groups


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParamRow:
    """One row of a parameter table: a block's (or stage's) name, type and parameter count."""

    name: str
    type: str
    params: int


def count_parameters(module: nn.Module, *, trainable_only: bool = False) -> int:
    """Learnable parameters of ``module`` (BatchNorm's running statistics are buffers, not
    counted): ``sum(p.numel() for p in module.parameters())``."""
    _check_module("count_parameters", module, "module")
    return sum(
        p.numel() for p in module.parameters() if p.requires_grad or not trainable_only
    )


def parameters_per_block(model: nn.Module) -> list[ParamRow]:
    """One :class:`ParamRow` per block of :func:`named_blocks`; the rows sum to the total."""
    _check_module("parameters_per_block", model)
    return [
        ParamRow(name, type(block).__name__, count_parameters(block))
        for name, block in named_blocks(model)
    ]


def parameters_per_stage(model: nn.Module) -> list[ParamRow]:
    """One :class:`ParamRow` per stage of :func:`named_stages`; the rows sum to the total."""
    _check_module("parameters_per_stage", model)
    return [
        ParamRow(name, _type_summary([b for _, b in members]),
                 sum(count_parameters(b) for _, b in members))
        for name, members in named_stages(model)
    ]


# --------------------------------------------------------------------------------------------
# FLOPs
# --------------------------------------------------------------------------------------------
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
    """
    func = "count_flops"
    _check_module(func, model)
    shape = _input_shape(func, input_size)
    runner = _on_device(model, device)
    x = torch.randn(shape, device=_model_device(runner), dtype=_model_dtype(runner))
    counter = FlopCounterMode(display=False)
    with _eval_mode(runner), torch.no_grad(), counter:
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
        FlopRow(name, _type_summary([b for _, b in members]),
                sum(by_name[n] for n, _ in members))
        for name, members in named_stages(runner)
    ]
    return FlopCount(int(total), shape, by_operator, block_rows, stage_rows)


# --------------------------------------------------------------------------------------------
# Activation memory
# --------------------------------------------------------------------------------------------
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


def _tensor_bytes(value: object) -> tuple[tuple[int, ...], int]:
    tensors = [t for t in tree_leaves(value) if isinstance(t, Tensor)]
    if not tensors:
        return (), 0
    return tuple(tensors[0].shape), sum(t.numel() * t.element_size() for t in tensors)


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
    """
    func = "activation_memory"
    _check_module(func, model)
    shape = _input_shape(func, input_size)
    runner = _on_device(model, device)
    dtype = _model_dtype(runner)
    held = [t.untyped_storage() for t in (*runner.parameters(), *runner.buffers())]
    tracker = _ActivationTracker({id(s) for s in held})
    blocks = named_blocks(runner)
    io: dict[str, tuple[tuple[int, ...], int, tuple[int, ...], int]] = {}
    entry_bytes: dict[str, int] = {}

    def pre_hook(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: tuple[Any, ...]) -> None:
            tracker.block = name
            entry_bytes[name] = tracker.current
            in_shape, in_bytes = _tensor_bytes(args)
            io[name] = (in_shape, in_bytes, (), 0)

        return hook

    def post_hook(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: tuple[Any, ...], output: object) -> None:
            out_shape, out_bytes = _tensor_bytes(output)
            in_shape, in_bytes, _, _ = io[name]
            io[name] = (in_shape, in_bytes, out_shape, out_bytes)
            tracker.block = None

        return hook

    handles = []
    for name, block in blocks:
        handles.append(block.register_forward_pre_hook(pre_hook(name)))
        handles.append(block.register_forward_hook(post_hook(name)))
    try:
        with _eval_mode(runner), torch.no_grad():
            x = torch.randn(shape, device=_model_device(runner), dtype=dtype)
            with tracker:
                tracker.track(x)
                out = runner(x)
            del out
    finally:
        for handle in handles:
            handle.remove()

    rows = []
    for name, block in blocks:
        if name not in io:  # a module the forward pass never called
            continue
        in_shape, in_bytes, out_shape, out_bytes = io[name]
        rows.append(
            MemoryRow(
                name, type(block).__name__, in_shape, out_shape, in_bytes, out_bytes,
                tracker.block_largest.get(name, 0),
                max(tracker.block_peak.get(name, 0), entry_bytes[name]),
            )
        )
    by_name = {row.name: row for row in rows}
    stages = []
    for stage_name, members in named_stages(runner):
        found = [by_name[n] for n, _ in members if n in by_name]
        if not found:
            continue
        stages.append(
            MemoryRow(
                stage_name, _type_summary([b for n, b in members if n in by_name]),
                found[0].input_shape, found[-1].output_shape,
                found[0].input_bytes, found[-1].output_bytes,
                max(r.largest_bytes for r in found), max(r.peak_bytes for r in found),
            )
        )
    element_size = torch.empty((), dtype=dtype).element_size()
    return ActivationMemory(tracker.peak, element_size, shape, rows, stages)


# --------------------------------------------------------------------------------------------
# Latency
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LatencyStats:
    """Latency of one forward pass of a whole batch, in milliseconds.

    ``median_ms`` and ``iqr_ms`` come from ``torch.utils.benchmark``'s
    :class:`~torch.utils.benchmark.Measurement` (over its blocks of runs); ``times_ms`` are the
    per-run times of those blocks.
    """

    median_ms: float
    iqr_ms: float
    mean_ms: float
    times_ms: tuple[float, ...] = field(repr=False)
    runs: int
    device: str
    num_threads: int
    input_shape: tuple[int, ...]

    @property
    def per_image_ms(self) -> float:
        """``median_ms / batch size``."""
        return self.median_ms / self.input_shape[0]


def measure_latency(
    model: nn.Module,
    input_size: int | Sequence[int] = 224,
    device: torch.device | str | None = None,
    *,
    min_run_time: float = 1.0,
    warmup: int = 3,
    num_threads: int | None = None,
    channels_last: bool = False,
) -> LatencyStats:
    """Time ``model``'s inference forward pass with :class:`torch.utils.benchmark.Timer`.

    The model runs as it is (its mode is left alone; call ``.eval()`` for inference numbers)
    under ``torch.inference_mode()`` on ``device`` (default: where its parameters are; the
    model is not moved, a copy is). ``warmup`` untimed calls first (allocations, cuDNN's
    algorithm search, torch.compile's compilation), then ``blocked_autorange(min_run_time)``,
    which synchronises CUDA around every block of runs. ``channels_last`` sends the input in
    that layout. Input shape: ``input_size`` (``s`` means ``(1, 3, s, s)``).

    Compare two models by the ratio of medians measured in the same process, close in time;
    the absolute numbers describe only the machine (and its load) that produced them.
    """
    func = "measure_latency"
    _check_module(func, model)
    shape = _input_shape(func, input_size)
    if not isinstance(min_run_time, (int, float)) or isinstance(min_run_time, bool) or not (
        min_run_time > 0
    ):
        raise ValueError(f"{func}: min_run_time must be a positive number of seconds, "
                         f"got {min_run_time!r}")
    if not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < 0:
        raise ValueError(f"{func}: warmup must be a non-negative integer, got {warmup!r}")
    runner = _on_device(model, device)
    run_device = _model_device(runner)
    x = torch.randn(shape, device=run_device, dtype=_model_dtype(runner))
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    threads = torch.get_num_threads() if num_threads is None else num_threads

    @torch.inference_mode()
    def forward() -> None:
        runner(x)

    for _ in range(warmup):
        forward()
    if run_device.type == "cuda":
        torch.cuda.synchronize(run_device)
    timer = benchmark.Timer(
        stmt="forward()", globals={"forward": forward}, num_threads=threads,
        label="measure_latency", description=type(model).__name__,
    )
    m = timer.blocked_autorange(min_run_time=min_run_time)
    times = tuple(t * 1e3 for t in m.times)
    return LatencyStats(
        median_ms=m.median * 1e3,
        iqr_ms=m.iqr * 1e3,
        mean_ms=m.mean * 1e3,
        times_ms=times,
        runs=m.number_per_run * len(m.times),
        device=str(run_device),
        num_threads=threads,
        input_shape=shape,
    )


# --------------------------------------------------------------------------------------------
# torchinfo summary
# --------------------------------------------------------------------------------------------
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
    _check_module(func, model)
    shape = _input_shape(func, input_size)
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 0:
        raise ValueError(f"{func}: depth must be a non-negative integer, got {depth!r}")
    import torchinfo

    run_device = _model_device(model) if device is None else torch.device(device)
    return torchinfo.summary(
        model, input_size=shape, depth=depth, device=run_device, col_names=tuple(col_names),
        mode="eval", verbose=verbose, **kwargs,
    )
