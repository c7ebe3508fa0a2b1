"""Verdict sentences: the one place that words a measured result for the book's prose.

Every empirical sentence a chapter glues comes from here, so that each outcome (all, some or
none of the settings; beyond or within the noise) reads as prose, and no effect inside its noise
is ever quoted as a number.

Speed (chapters 3, 5, 8, 9): a :class:`SpeedResult` is one measured ratio ``candidate time /
reference time`` with the ``spread`` of its own timing rounds
(:func:`mbcourse.measure.round_spread`); its :attr:`~SpeedResult.outcome` is ``"faster"``,
``"slower"`` or ``"within noise"`` by :func:`mbcourse.measure.within_noise`. A
:class:`Setting` names where it was measured: device, engine, batch, threads (and precision or
memory layout when they matter). :func:`speed_sentence` words one result, :func:`speed_summary`
a set of them (one per width x resolution, per stage, per model)::

    setting = Setting("CPU (x86_64, 1 thread)", "PyTorch eager", batch=1, threads=1)
    speed_summary([SpeedResult("C = 16 at 7×7", 0.61, 0.08), ...], setting,
                  candidate="Fused-MBConv", reference="MBConv")

Accuracy (chapter 7, and any trained comparison): :func:`accuracy_sentence` words a
:class:`mbcourse.studies.stats.PairedTest` (paired seeds, Holm-adjusted p-values, 95 % CI):
"Δ = +1.2 points, 95 % CI [0.4, 2.0], Holm-adjusted p = 0.03 ...".

The decision rules are parameters, not prose: :func:`rules` returns them as plain data (JSON)
for other implementations (the device panel's JavaScript), and :func:`speed_outcome` /
:func:`accuracy_outcome` apply them. Taught in chapter 7 (book/07_experiments.ipynb) and used
from chapter 8 (book/08_performance.ipynb) on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..measure.timing import within_noise
from .stats import ALPHA, PairedTest

__all__ = [
    "FASTER",
    "NOISE",
    "OUTCOMES",
    "SLOWER",
    "Setting",
    "SpeedResult",
    "accuracy_outcome",
    "accuracy_sentence",
    "count",
    "family_sentence",
    "format_p",
    "join",
    "rules",
    "speed_outcome",
    "speed_sentence",
    "speed_summary",
]

FASTER, SLOWER, NOISE = "faster", "slower", "within noise"
#: The three outcomes of a timed comparison, in the order sentences list them.
OUTCOMES = (FASTER, SLOWER, NOISE)
#: The outcomes of a paired accuracy comparison.
ACCURACY_OUTCOMES = ("higher", "lower", "not shown")
#: A set of results is listed one by one up to this many, else as a range.
LIST_AT_MOST = 4


def rules() -> dict[str, object]:
    """The decision rules as plain data, for re-implementations (e.g. in JavaScript).

    ``speed``: a ratio (candidate time / reference time) is within noise when
    ``abs(log(ratio)) <= log1p(spread)``; otherwise below 1 is faster, above 1 slower.
    ``accuracy``: a paired difference is shown when the larger of its Holm-adjusted paired-t and
    sign-flip p-values is below ``alpha``.
    """
    return {
        "alpha": ALPHA,
        "speed": {
            "outcomes": list(OUTCOMES),
            "within_noise": "abs(log(ratio)) <= log1p(spread)",
            "faster": "ratio < 1 and not within_noise",
            "slower": "ratio > 1 and not within_noise",
            "list_at_most": LIST_AT_MOST,
        },
        "accuracy": {
            "outcomes": list(ACCURACY_OUTCOMES),
            "shown": "max(p_t_holm, p_flip_holm) < alpha",
            "correction": "holm",
            "tests": ["paired t", "exact sign-flip"],
            "ci": 1 - ALPHA,
        },
    }


# --------------------------------------------------------------------------------------------
# Small prose helpers
# --------------------------------------------------------------------------------------------
def join(items: Sequence[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    items = [str(i) for i in items]
    if not items:
        raise ValueError("join: nothing to join")
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``"1 setting"``, ``"3 settings"`` (``plural`` for irregular nouns)."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"


def format_p(p: float) -> str:
    """A p-value as the book prints it: ``"0.03"``, ``"0.004"``, ``"< 0.001"``, ``"1"``."""
    if not 0.0 <= p <= 1.0 or math.isnan(p):
        raise ValueError(f"format_p: p must lie in [0, 1], got {p!r}")
    if p < 0.001:
        return "< 0.001"
    if p < 0.01:
        return f"{p:.3f}"
    if p >= 0.995:
        return "1"
    return f"{p:.2f}"


def _p_equals(p: float) -> str:
    text = format_p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def _times(ratio: float) -> str:
    return f"{ratio:.2f}×"


def _signed(value: float, digits: int) -> str:
    """``+1.2`` / ``−0.4`` (a true minus sign) / ``0.0``."""
    text = f"{value:+.{digits}f}"
    if float(text) == 0.0:
        return f"{0.0:.{digits}f}"
    return text.replace("-", "−")


def _n(n: int) -> str:
    """A count inside a sentence: "one" for 1 (reads better than "1" alone), else digits."""
    return "one" if n == 1 else str(n)


def _all(total: int, noun: str) -> str:
    return f"both {noun}s" if total == 2 else f"all {total} {noun}s"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


# --------------------------------------------------------------------------------------------
# Speed
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Setting:
    """Where a timing was made, as every speed verdict names it.

    ``device`` (e.g. :func:`mbcourse.runtime.describe_device`), ``engine`` ("PyTorch eager",
    "ONNX Runtime 1.20, CPU"), ``batch``, ``threads`` (``None`` on a GPU: not a setting there),
    and optionally ``precision`` ("float32", "bfloat16 autocast") and ``layout``
    ("channels-last").
    """

    device: str
    engine: str
    batch: int
    threads: int | None = None
    precision: str | None = None
    layout: str | None = None

    def __post_init__(self) -> None:
        for name in ("device", "engine"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"Setting: {name} must be a non-empty string, got {value!r}")
        if not isinstance(self.batch, int) or self.batch < 1:
            raise ValueError(f"Setting: batch must be a positive integer, got {self.batch!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"Setting: threads must be a positive integer or None, got "
                             f"{self.threads!r}")

    @classmethod
    def for_device(
        cls, device: Any, engine: str = "PyTorch eager", *, batch: int,
        threads: int | None = None, precision: str | None = None, layout: str | None = None,
    ) -> Setting:
        """The setting of a measurement on ``device`` (a torch device or its name): the GPU's
        name, or the CPU's model, and on a CPU ``threads`` (default: torch's current number).
        ``engine`` "PyTorch eager" gets torch's version."""
        import torch

        from .stored import cpu_model

        device = torch.device(device)
        if device.type == "cuda":
            name, threads = torch.cuda.get_device_name(device), None
        else:
            name = f"{cpu_model()} CPU"
            threads = torch.get_num_threads() if threads is None else threads
        if engine == "PyTorch eager":
            engine = f"PyTorch {torch.__version__.split('+')[0]} eager"
        return cls(name, engine, batch, threads, precision, layout)

    def phrase(self) -> str:
        """``"CPU (x86_64), PyTorch eager, batch 1, 1 thread, float32"``."""
        parts = [self.device, self.engine, f"batch {self.batch}"]
        if self.threads is not None:
            parts.append(count(self.threads, "thread"))
        parts += [p for p in (self.precision, self.layout) if p]
        return ", ".join(parts)

    def as_dict(self) -> dict[str, object]:
        return {"device": self.device, "engine": self.engine, "batch": self.batch,
                "threads": self.threads, "precision": self.precision, "layout": self.layout}


@dataclass(frozen=True)
class SpeedResult:
    """One timed comparison: ``ratio = candidate time / reference time`` (below 1: the
    candidate is faster) and the ``spread`` of the timing rounds
    (:func:`mbcourse.measure.round_spread`), at ``label`` (e.g. ``"C = 16 at 7×7"``)."""

    label: str
    ratio: float
    spread: float

    @classmethod
    def from_speedup(cls, label: str, speedup: float, spread: float) -> SpeedResult:
        """From ``speedup = reference time / candidate time`` (above 1: faster)."""
        if not speedup > 0:
            raise ValueError(f"SpeedResult.from_speedup: speedup must be > 0, got {speedup!r}")
        return cls(label, 1.0 / speedup, spread)

    @property
    def outcome(self) -> str:
        return speed_outcome(self.ratio, self.spread)


def speed_outcome(ratio: float, spread: float) -> str:
    """:data:`FASTER`, :data:`SLOWER` or :data:`NOISE` for ``ratio`` (candidate / reference
    time) given the ``spread`` of its rounds (:func:`mbcourse.measure.within_noise`)."""
    if within_noise(ratio, spread):
        return NOISE
    return FASTER if ratio < 1.0 else SLOWER


def _check_names(func: str, **names: str) -> None:
    for key, value in names.items():
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{func}: {key} must be a non-empty string, got {value!r}")


def speed_sentence(
    result: SpeedResult, setting: Setting, *, candidate: str, reference: str
) -> str:
    """One timed comparison as a sentence that names its setting; within noise it gives no
    ratio (only how much the rounds themselves moved)."""
    _check_names("speed_sentence", candidate=candidate, reference=reference)
    head = (f"For {result.label}, on {setting.phrase()}" if result.label
            else f"On {setting.phrase()}")
    outcome = result.outcome
    if outcome == NOISE:
        return (f"{head}, {candidate} and {reference} were within the noise of their timing "
                f"rounds (which differed by up to {result.spread:.0%}): no difference in speed "
                "is shown.")
    if outcome == FASTER:
        return (f"{head}, {candidate} ran {_times(1 / result.ratio)} as fast as {reference} "
                f"(it took {_times(result.ratio)} the time), beyond the "
                f"{result.spread:.0%} spread of the timing rounds.")
    return (f"{head}, {candidate} took {_times(result.ratio)} as long as {reference}, beyond "
            f"the {result.spread:.0%} spread of the timing rounds.")


def _describe(results: Sequence[SpeedResult]) -> str:
    """``"C = 16 at 7×7: 0.61×; C = 32 at 7×7: 0.80×"`` for a few, else the range."""
    if len(results) <= LIST_AT_MOST:
        return "; ".join(f"{r.label}: {_times(r.ratio)}" for r in results)
    low, high = min(r.ratio for r in results), max(r.ratio for r in results)
    return f"{_times(low)} to {_times(high)}"


def speed_summary(
    results: Sequence[SpeedResult],
    setting: Setting,
    *,
    candidate: str,
    reference: str,
    noun: str = "setting",
) -> str:
    """A set of timed comparisons (one per ``noun``: setting, stage, model) as one or two
    sentences, for every mix of outcomes: all faster, all slower, all within noise, or some of
    each. Ratios are times relative to ``reference``'s; results within noise are counted,
    never quoted.
    """
    _check_names("speed_summary", candidate=candidate, reference=reference, noun=noun)
    results = list(results)
    if not results:
        raise ValueError("speed_summary: give at least one SpeedResult")
    if len(results) == 1:
        return speed_sentence(results[0], setting, candidate=candidate, reference=reference)
    total = len(results)
    groups = {o: [r for r in results if r.outcome == o] for o in OUTCOMES}
    faster, slower, noisy = groups[FASTER], groups[SLOWER], groups[NOISE]
    head = f"On {setting.phrase()}"
    time_of = f"the time of {reference}"
    if len(faster) == total:
        return (f"{head}, {candidate} was faster than {reference} in {_all(total, noun)}, "
                f"beyond the noise of the timing rounds ({_describe(faster)} {time_of}).")
    if len(slower) == total:
        return (f"{head}, {candidate} was slower than {reference} in {_all(total, noun)}, "
                f"beyond the noise of the timing rounds ({_describe(slower)} {time_of}).")
    if len(noisy) == total:
        return (f"{head}, {candidate} and {reference} were within the noise of their timing "
                f"rounds in {_all(total, noun)}: no difference in speed is shown.")
    if faster:
        first = (f"{head}, {candidate} was faster than {reference}, beyond the noise of the "
                 f"timing rounds, in {len(faster)} of the {total} {noun}s "
                 f"({_describe(faster)} {time_of})")
        rest = []
        if slower:
            other = "the other " if not noisy else ""
            rest.append(f"slower in {other}{_n(len(slower))} ({_describe(slower)} {time_of})")
        if noisy:
            rest.append(f"within the noise in the other {_n(len(noisy))}")
        return f"{first}, {join(rest)}."
    # none faster: some slower, the rest within noise
    return (f"{head}, {candidate} was faster than {reference} in none of the {total} {noun}s: "
            f"it was slower in {_n(len(slower))} ({_describe(slower)} {time_of}) and within the "
            f"noise of the timing rounds in the other {_n(len(noisy))}.")


# --------------------------------------------------------------------------------------------
# Accuracy (paired, corrected)
# --------------------------------------------------------------------------------------------
def accuracy_outcome(test: PairedTest) -> str:
    """``"higher"`` / ``"lower"`` (a's accuracy against b's, shown after Holm) or
    ``"not shown"``."""
    if not test.shown:
        return "not shown"
    return "higher" if test.mean > 0 else "lower"


def _evidence(test: PairedTest, scale: float, unit: str, digits: int) -> str:
    low, high = scale * test.ci_low, scale * test.ci_high
    ci = f"95 % CI [{_signed(low, digits)}, {_signed(high, digits)}]"
    if test.family_size > 1:
        adjust = f"Holm-adjusted over {test.family_size} comparisons"
    else:
        adjust = "a single comparison, no adjustment"
    unit = f" {unit}" if unit else ""
    return (f"Δ = {_signed(scale * test.mean, digits)}{unit}, {ci}; {_p_equals(test.p_t_holm)} "
            f"(paired t) and {_p_equals(test.p_flip_holm)} (sign-flip), {adjust}; "
            f"{count(test.n, 'paired seed')}")


def accuracy_sentence(
    test: PairedTest,
    *,
    a: str | None = None,
    b: str | None = None,
    metric: str = "test accuracy",
    scale: float = 100.0,
    unit: str = "points",
    digits: int = 1,
) -> str:
    """A paired comparison as a sentence, for each outcome: ``a`` shown higher, shown lower,
    or not shown (the CI covers 0, or it excludes 0 but the corrected tests do not agree).

    ``scale``/``unit``: the differences are fractions by default, printed as percentage
    points. The evidence always follows the same pattern: "Δ = +1.2 points, 95 % CI [+0.4,
    +2.0]; p = 0.03 (paired t) and p = 0.04 (sign-flip), Holm-adjusted over 9 comparisons;
    10 paired seeds".
    """
    a = a or test.a
    b = b or test.b
    _check_names("accuracy_sentence", a=a, b=b, metric=metric)
    evidence = _evidence(test, scale, unit, digits)
    outcome = accuracy_outcome(test)
    if outcome == "higher":
        return _capital(f"{a} reached a higher {metric} than {b} ({evidence}): a difference "
                        "beyond the seed-to-seed noise.")
    if outcome == "lower":
        return _capital(f"{a} reached a lower {metric} than {b} ({evidence}): a difference "
                        "beyond the seed-to-seed noise.")
    if test.ci_excludes_zero:
        why = ("its 95 % interval excludes 0 on its own, but not after the correction for "
               "the family" if test.family_size > 1 else
               "its 95 % interval excludes 0, but the sign-flip test does not agree")
        return _capital(f"{a} and {b} are not shown to differ in {metric} ({evidence}): "
                        f"{why}.")
    return _capital(f"{a} and {b} are not shown to differ in {metric} ({evidence}): the "
                    "95 % interval includes 0, so this experiment cannot tell them apart.")


def family_sentence(tests: Sequence[PairedTest], *, noun: str = "comparison") -> str:
    """How many of a family's comparisons showed a difference, as a sentence."""
    tests = list(tests)
    if not tests:
        raise ValueError("family_sentence: give at least one PairedTest")
    shown = [t for t in tests if t.shown]
    total = len(tests)
    if total == 1:
        verb = "showed" if shown else "did not show"
        return (f"The {noun} ({tests[0].name}) {verb} a difference beyond the seed-to-seed "
                "noise.")
    if not shown:
        return (f"None of the {total} {noun}s showed a difference beyond the seed-to-seed "
                "noise after Holm's correction.")
    if len(shown) == total:
        return (f"{_capital(_all(total, noun))} showed a difference beyond the seed-to-seed noise "
                "after Holm's correction.")
    which = join([t.name for t in shown])
    return (f"{len(shown)} of the {total} {noun}s showed a difference beyond the seed-to-seed "
            f"noise after Holm's correction ({which}); "
            f"{'the other one' if total - len(shown) == 1 else f'the other {total - len(shown)}'}"
            " did not.")
