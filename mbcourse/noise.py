"""Is a measured latency difference larger than the noise of its own timings?

A timing (:class:`mbcourse.latency.Latency`) holds one median per round (``times_ms``). Their
relative spread, ``max / min - 1``, is what the same module's time moved between rounds on the
same machine. A ratio of two timings closer to 1 than that spread is *within noise*: the figure
must not show it as a result. :func:`mark_within_noise` greys and hatches such bars.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["NOISE_LABEL", "mark_within_noise", "round_spread", "within_noise"]

NOISE_LABEL = "within noise (|ratio − 1| ≤ spread of rounds)"


def round_spread(*timings: Any) -> float:
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


def mark_within_noise(
    ax: Any, bars: Sequence[Any], flags: Sequence[bool], *, label: str = NOISE_LABEL
) -> int:
    """Grey and hatch the ``bars`` (matplotlib patches) whose flag is true; add ``label`` to
    the axes' legend when any is marked. Returns how many bars were marked."""
    func = "mark_within_noise"
    bars, flags = list(bars), list(flags)
    if len(bars) != len(flags):
        raise ValueError(f"{func}: got {len(bars)} bars but {len(flags)} flags; give one each")
    from matplotlib.patches import Patch

    style = {"facecolor": "#d9d9d9", "edgecolor": "#525252", "hatch": "///"}
    marked = 0
    for bar, flag in zip(bars, flags, strict=True):
        if flag:
            bar.set(**style)
            marked += 1
    if marked:
        handles, _ = ax.get_legend_handles_labels()
        size = ax.get_legend().prop.get_size() if ax.get_legend() is not None else None
        ax.legend(handles=[*handles, Patch(**style, label=label)], fontsize=size)
    return marked
