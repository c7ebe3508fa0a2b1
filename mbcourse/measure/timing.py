"""The one timing path: side-by-side latency in interleaved rounds, robust to a busy machine.

Every chapter, test and benchmark times through this module. :func:`time_interleaved` times a
few zero-argument *steps* (a forward pass, a training step) with
:class:`torch.utils.benchmark.Timer` (``blocked_autorange``) in *interleaved rounds* (A, B, C,
then C, B, A, ...), so that a slow patch of the machine (another process, a clock change) hits
all of them alike. :func:`compare_latency` builds those steps from modules: each runs in eval
mode under ``torch.inference_mode`` (a forward pass, as in deployment); time one model with
``compare_latency({"name": model}, shape)``.

Each step gets one median per round and its fastest timed block over all rounds. Compare steps
measured in the same call on the same device: by the ratio of their medians
(:meth:`Latency.ratio_to`) on a quiet machine, or of their fastest blocks
(:attr:`Latency.fastest_ms`) on a shared one, where other work only ever adds time. Absolute
milliseconds describe only the machine that produced them (label them with
:func:`mbcourse.runtime.describe_device`). Taught in chapter 1 (book/01_cost_of_convolution.ipynb).

Clocks: ``"wall"`` (the default) is elapsed time, with CUDA synchronised around every block of
runs (``torch.utils.benchmark``'s own timer); ``"cpu"`` is the CPU time of this process
(``time.process_time``: all its threads, not other processes), which other work on a shared
machine barely disturbs; use it with one thread, on CPU devices only.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..introspect import module_dtype
from ..runtime import pick_device
from ..validation import check_int, check_module, check_positive, check_shape

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
    "CLOCKS",
    "Latency",
    "Step",
    "compare_latency",
    "round_spread",
    "time_interleaved",
    "within_noise",
]

#: A zero-argument callable to time: one forward pass, one training step, ...
Step = Callable[[], object]

#: The clocks :func:`time_interleaved` can read; ``None``: ``torch.utils.benchmark``'s timer
#: (``time.perf_counter``, synchronising the accelerator first).
CLOCKS: dict[str, Callable[[], float] | None] = {
    "wall": None,
    "cpu": time.process_time,
}


@dataclass(frozen=True)
class Latency:
    """Timings of one step, in milliseconds per call (a forward pass of the whole batch).

    ``times_ms`` holds one median per round; ``fastest_ms`` is the fastest timed block (per call)
    over all rounds.
    """

    name: str
    times_ms: tuple[float, ...]
    batch_size: int
    fastest_ms: float

    @property
    def median_ms(self) -> float:
        """Median over rounds: the figure to report on a quiet machine."""
        return statistics.median(self.times_ms)

    @property
    def min_ms(self) -> float:
        """The best round's median."""
        return min(self.times_ms)

    @property
    def per_image_ms(self) -> float:
        """``median_ms / batch_size``."""
        return self.median_ms / self.batch_size

    def ratio_to(self, other: Latency) -> float:
        """``self.median_ms / other.median_ms`` (> 1: ``self`` is slower)."""
        return self.median_ms / other.median_ms


def _block_times_ms(
    step: Step, threads: int, min_run_time: float, clock: str
) -> tuple[float, float]:
    """``(median, fastest)`` block time of one ``blocked_autorange``, in ms per call."""
    timer_clock = CLOCKS[clock]
    extra = {} if timer_clock is None else {"timer": timer_clock}
    timer = benchmark.Timer(stmt="step()", globals={"step": step}, num_threads=threads, **extra)
    m = timer.blocked_autorange(min_run_time=min_run_time)
    return m.median * 1e3, min(m.times) * 1e3


def _check_timing(
    func: str, rounds: object, min_run_time: object, warmup: object, clock: object
) -> None:
    check_int(func, "rounds", rounds)
    check_positive(func, "min_run_time", min_run_time, unit="seconds")
    check_int(func, "warmup", warmup, minimum=0)
    if clock not in CLOCKS:
        raise ValueError(f"{func}: clock must be one of {sorted(CLOCKS)}, got {clock!r}")


def time_interleaved(
    steps: Mapping[str, Step],
    *,
    rounds: int = 5,
    min_run_time: float = 0.05,
    warmup: int = 3,
    num_threads: int | None = None,
    clock: str = "wall",
    batch_size: int = 1,
) -> dict[str, Latency]:
    """Time each zero-argument step in ``rounds`` interleaved rounds.

    Every step first runs ``warmup`` untimed calls (allocations, cuDNN's algorithm search,
    torch.compile's compilation). Then, in each round, every step in turn runs for at least
    ``min_run_time`` seconds (``blocked_autorange`` on ``num_threads`` threads, default: the
    current number), in the given order in even rounds and the reverse order in odd ones, so
    that no step always runs first. ``clock`` is a key of :data:`CLOCKS`. ``batch_size`` is
    stored in each :class:`Latency` (for :attr:`Latency.per_image_ms`). Returns
    ``{name: Latency}`` in the order given.
    """
    func = "time_interleaved"
    if not isinstance(steps, Mapping) or not steps:
        raise ValueError(f"{func}: steps must be a non-empty mapping name -> callable")
    for name, step in steps.items():
        if not callable(step):
            raise TypeError(f"{func}: steps[{name!r}] must be callable, got {type(step).__name__}")
    _check_timing(func, rounds, min_run_time, warmup, clock)
    threads = torch.get_num_threads() if num_threads is None else num_threads
    for step in steps.values():
        for _ in range(warmup):
            step()
    names = list(steps)
    times: dict[str, list[float]] = {name: [] for name in names}
    fastest = dict.fromkeys(names, float("inf"))
    for round_index in range(rounds):
        for name in names if round_index % 2 == 0 else reversed(names):
            median_ms, fastest_ms = _block_times_ms(steps[name], threads, min_run_time, clock)
            times[name].append(median_ms)
            fastest[name] = min(fastest[name], fastest_ms)
    return {name: Latency(name, tuple(times[name]), batch_size, fastest[name]) for name in names}


def _forward_step(module: nn.Module, x: torch.Tensor) -> Step:
    @torch.inference_mode()
    def forward() -> None:
        module(x)

    return forward


def compare_latency(
    modules: Mapping[str, nn.Module],
    input_shape: Sequence[int],
    *,
    device: torch.device | str | None = None,
    rounds: int = 5,
    min_run_time: float = 0.05,
    warmup: int = 3,
    num_threads: int | None = None,
    clock: str = "wall",
    channels_last: bool = False,
) -> dict[str, Latency]:
    """Time each module's forward pass on one ``input_shape`` tensor, in interleaved rounds.

    Every module is moved to ``device`` (default: :func:`~mbcourse.runtime.pick_device`) and put
    in eval mode; the input is a random tensor of the module's parameter dtype, the same for
    all modules of one dtype (``channels_last`` sends it in that memory format).
    ``input_shape`` is ``(N, C_in, H, W)`` for a block. The steps are timed by
    :func:`time_interleaved` (same ``rounds``, ``min_run_time``, ``warmup``, ``num_threads``
    and ``clock``). Returns ``{name: Latency}`` in the order given.
    Taught in chapter 1 (book/01_cost_of_convolution.ipynb).
    """
    func = "compare_latency"
    if not isinstance(modules, Mapping) or not modules:
        raise ValueError(f"{func}: modules must be a non-empty mapping name -> nn.Module")
    for name, module in modules.items():
        check_module(func, f"modules[{name!r}]", module)
    shape = check_shape(func, "input_shape", input_shape)
    _check_timing(func, rounds, min_run_time, warmup, clock)
    device = pick_device() if device is None else torch.device(device)
    inputs: dict[torch.dtype, torch.Tensor] = {}  # one input per parameter dtype

    def input_for(module: nn.Module) -> torch.Tensor:
        dtype = module_dtype(module)
        if dtype not in inputs:
            x = torch.randn(shape, device=device, dtype=dtype)
            memory_format = torch.channels_last if channels_last else torch.contiguous_format
            inputs[dtype] = x.contiguous(memory_format=memory_format) if x.dim() == 4 else x
        return inputs[dtype]

    steps = {
        name: _forward_step(module.to(device).eval(), input_for(module))
        for name, module in modules.items()
    }
    return time_interleaved(
        steps, rounds=rounds, min_run_time=min_run_time, warmup=warmup,
        num_threads=num_threads, clock=clock, batch_size=shape[0],
    )


# Is a measured difference larger than the noise of its own timings? A Latency holds one
# median per round; their relative spread (max / min - 1) is how far the same step's time moved
# between rounds. A ratio closer to 1 than that spread is within noise: not a result.
def round_spread(*timings: Latency) -> float:
    """Largest relative spread ``max(times_ms) / min(times_ms) - 1`` over ``timings``.

    Each timing needs ``times_ms``, a non-empty sequence of positive round medians (ms).
    """
    func = "round_spread"
    if not timings:
        raise ValueError(f"{func}: give at least one timing (an object with times_ms)")
    spreads = []
    for t in timings:
        times = getattr(t, "times_ms", None)
        if not times or any(not isinstance(v, int | float) or v <= 0 for v in times):
            raise ValueError(
                f"{func}: each timing needs times_ms, a non-empty sequence of positive "
                f"milliseconds; got {times!r} from {type(t).__name__}"
            )
        spreads.append(max(times) / min(times) - 1)
    return max(spreads)


def within_noise(ratio: float, spread: float) -> bool:
    """True when ``ratio`` (time of one variant / time of the other) is within ``spread`` of 1.

    Symmetric on a log scale: ``|log ratio| <= log(1 + spread)``, so 0.9 and 1/0.9 are alike.
    """
    func = "within_noise"
    if not isinstance(ratio, int | float) or not ratio > 0 or math.isinf(ratio):
        raise ValueError(f"{func}: ratio must be a positive finite number, got {ratio!r}")
    if not isinstance(spread, int | float) or not spread >= 0 or math.isinf(spread):
        raise ValueError(f"{func}: spread must be a finite number >= 0, got {spread!r}")
    return abs(math.log(ratio)) <= math.log1p(spread)
