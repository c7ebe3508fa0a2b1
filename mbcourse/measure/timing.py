"""Side-by-side latency of a few modules on the same input, robust to a busy machine.

:func:`compare_latency` times every module with :func:`mbcourse.measure.measure_latency`
(``torch.utils.benchmark``) in *interleaved rounds* (A, B, C, A, B, C, ...), so that a slow
patch of the machine (another process, a clock change) hits all of them alike. Each module gets
one median per round and its fastest timed block over all rounds. Compare modules measured in
the same call on the same device: by the ratio of their medians (:meth:`Latency.ratio_to`) on a
quiet machine, or of their fastest blocks (:attr:`Latency.fastest_ms`) on a shared one, where
other work only ever adds time. Absolute milliseconds describe only the machine that produced
them (label them with :func:`mbcourse.runtime.describe_device`).

Modules run in eval mode under ``torch.inference_mode`` (a forward pass, as in deployment).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..runtime import pick_device
from ._analysis import is_shape, measure_latency

__all__ = ["Latency", "compare_latency"]


@dataclass(frozen=True)
class Latency:
    """Timings of one module, in milliseconds per forward pass of the whole batch.

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


def _check(modules: object, input_shape: object, rounds: object, min_run_time: object) -> None:
    func = "compare_latency"
    if not isinstance(modules, Mapping) or not modules:
        raise ValueError(f"{func}: modules must be a non-empty mapping name -> nn.Module")
    for name, module in modules.items():
        if not isinstance(module, nn.Module):
            raise TypeError(
                f"{func}: modules[{name!r}] must be a torch.nn.Module, got {type(module).__name__}"
            )
    if not is_shape(input_shape):
        raise ValueError(
            f"{func}: input_shape must be a sequence of positive integers such as "
            f"(N, C, H, W), got {input_shape!r}"
        )
    if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 1:
        raise ValueError(f"{func}: rounds must be a positive integer, got {rounds!r}")
    if (
        not isinstance(min_run_time, (int, float))
        or isinstance(min_run_time, bool)
        or not min_run_time > 0
    ):
        raise ValueError(f"{func}: min_run_time must be a positive number of seconds, "
                         f"got {min_run_time!r}")


def compare_latency(
    modules: Mapping[str, nn.Module],
    input_shape: Sequence[int],
    *,
    device: torch.device | str | None = None,
    rounds: int = 5,
    min_run_time: float = 0.05,
    num_threads: int | None = None,
) -> dict[str, Latency]:
    """Time each module's forward pass on an ``input_shape`` tensor, in interleaved rounds.

    Every module is moved to ``device`` (default: :func:`~mbcourse.runtime.pick_device`) and put
    in eval mode. In each of ``rounds`` rounds every module in turn runs for at least
    ``min_run_time`` seconds (:func:`~mbcourse.measure.measure_latency`: warm-up calls in the
    first round, then ``blocked_autorange``, which synchronises CUDA around every block).
    ``input_shape`` is ``(N, C_in, H, W)`` for a block. Returns ``{name: Latency}`` in the order
    given.
    """
    _check(modules, input_shape, rounds, min_run_time)
    device = pick_device() if device is None else torch.device(device)
    shape = tuple(int(s) for s in input_shape)
    for module in modules.values():
        module.to(device).eval()
    times: dict[str, list[float]] = {name: [] for name in modules}
    fastest: dict[str, float] = dict.fromkeys(modules, float("inf"))
    for round_index in range(rounds):
        for name, module in modules.items():
            stats = measure_latency(
                module, shape, None, min_run_time=min_run_time,
                warmup=3 if round_index == 0 else 0, num_threads=num_threads,
            )
            times[name].append(stats.median_ms)
            fastest[name] = min(fastest[name], min(stats.times_ms))
    return {
        name: Latency(name, tuple(values), shape[0], fastest[name])
        for name, values in times.items()
    }
