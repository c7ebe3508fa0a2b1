"""Within noise: spread of rounds and the test (measure.timing), the figure marking (viz)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from mbcourse.measure import Latency, round_spread, within_noise
from mbcourse.viz import NOISE_LABEL, mark_within_noise


def _lat(*times: float) -> Latency:
    return Latency(name="x", times_ms=tuple(times), batch_size=1, fastest_ms=min(times))


def test_round_spread_is_the_largest_max_over_min() -> None:
    assert round_spread(_lat(1.0, 1.1, 1.05)) == pytest.approx(0.1)
    assert round_spread(_lat(1.0, 1.1), _lat(2.0, 3.0)) == pytest.approx(0.5)
    assert round_spread(_lat(4.0)) == 0.0


@pytest.mark.parametrize("bad", [(), (0.0, 1.0), (-1.0,)])
def test_round_spread_rejects_bad_timings(bad: tuple[float, ...]) -> None:
    class T:
        times_ms = bad

    with pytest.raises(ValueError, match="round_spread: each timing needs times_ms"):
        round_spread(T())
    with pytest.raises(ValueError, match="at least one timing"):
        round_spread()


def test_within_noise_is_symmetric_on_a_log_scale() -> None:
    assert within_noise(1.05, 0.1) and within_noise(1 / 1.05, 0.1)
    assert within_noise(1.09, 0.1) and within_noise(1 / 1.09, 0.1)
    assert not within_noise(1.2, 0.1) and not within_noise(1 / 1.2, 0.1)
    assert within_noise(1.0, 0.0) and not within_noise(1.01, 0.0)
    with pytest.raises(ValueError, match="within_noise: ratio"):
        within_noise(0.0, 0.1)
    with pytest.raises(ValueError, match="within_noise: spread"):
        within_noise(1.0, -0.1)


def test_mark_within_noise_hatches_only_flagged_bars_and_labels_them() -> None:
    fig, ax = plt.subplots()
    bars = ax.bar(["a", "b", "c"], [1.0, 2.0, 3.0], label="time")
    ax.legend()
    assert mark_within_noise(ax, bars, [False, True, False]) == 1
    assert [b.get_hatch() for b in bars] == [None, "///", None]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["time", NOISE_LABEL]
    with pytest.raises(ValueError, match="3 bars but 2 flags"):
        mark_within_noise(ax, bars, [True, False])
    fig2, ax2 = plt.subplots()
    bars2 = ax2.bar(["a"], [1.0])
    assert mark_within_noise(ax2, bars2, [False]) == 0
    assert ax2.get_legend() is None
    plt.close(fig)
    plt.close(fig2)
