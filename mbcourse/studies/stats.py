"""Statistics for paired experiments: paired t, sign-flip test, Holm, confidence intervals.

A comparison of two variants trained with the same seeds is *paired*: seed ``s`` gives both
variants the same training images, initial-weight stream and batch order, so the per-seed
differences ``d_s = a_s - b_s`` cancel whatever the seed does to both alike. Everything here
works on those differences:

* :func:`paired_t`: Student's paired t-test (``scipy.stats``' t distribution) and the 95 %
  confidence interval of the mean difference;
* :func:`sign_flip_p`: the exact sign-flip (permutation) test of the mean difference, which
  assumes only that ``d_s`` is symmetric around 0 when the variants do not differ
  (``scipy.stats.permutation_test``, every one of the ``2**n`` sign patterns);
* :func:`holm`: Holm's step-down adjustment of a family of p-values, which keeps the chance of
  *any* false "difference shown" in the family at or below the level;
* :func:`paired_family`: all of it for a chapter's family of comparisons, as
  :class:`PairedTest` rows that the sentences of :mod:`mbcourse.studies.verdicts` read;
* :func:`binomial_se`, :func:`cluster_bootstrap_se`: how much a test accuracy would move on
  another test set of the same size.

Taught in chapter 7 (book/07_experiments.ipynb).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

__all__ = [
    "ALPHA",
    "PairedTest",
    "binomial_se",
    "cluster_bootstrap_se",
    "holm",
    "mean_ci",
    "paired_family",
    "paired_t",
    "sign_flip_p",
    "t_critical",
    "t_two_sided_p",
]

#: The level of every test in the book: a difference is *shown* when its (adjusted) p-value
#: is below it. The sentences of :mod:`mbcourse.studies.verdicts` read it from here.
ALPHA = 0.05


def _values(func: str, name: str, values: Sequence[float], minimum: int = 2) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size < minimum or not np.all(np.isfinite(array)):
        raise ValueError(
            f"{func}: {name} must be a flat sequence of at least {minimum} finite numbers, "
            f"got {values!r}"
        )
    return array


def _level(func: str, level: float) -> float:
    if not isinstance(level, int | float) or not 0.0 < level < 1.0:
        raise ValueError(f"{func}: level must be in (0, 1), got {level!r}")
    return float(level)


def t_two_sided_p(t: float, df: float) -> float:
    """Two-sided p-value of Student's t with ``df > 0`` degrees of freedom: ``P(|T| >= |t|)``."""
    from scipy import stats

    if not df > 0:
        raise ValueError(f"t_two_sided_p: df must be > 0, got {df}")
    return float(2.0 * stats.t.sf(abs(t), df))


def t_critical(df: float, level: float = ALPHA) -> float:
    """The ``t`` with two-sided p-value ``level``: 2.776 for ``df = 4`` at 5 %, 2.262 for 9."""
    from scipy import stats

    level = _level("t_critical", level)
    if not df > 0:
        raise ValueError(f"t_critical: df must be > 0, got {df}")
    return float(stats.t.ppf(1.0 - level / 2.0, df))


def mean_ci(values: Sequence[float], level: float = ALPHA) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of ``values`` and its ``1 - level`` t interval."""
    x = _values("mean_ci", "values", values)
    level = _level("mean_ci", level)
    mean = float(x.mean())
    half = t_critical(x.size - 1, level) * float(x.std(ddof=1)) / math.sqrt(x.size)
    return mean, mean - half, mean + half


def paired_t(differences: Sequence[float]) -> tuple[float, int, float]:
    """``(t, df, p)`` of the paired t-test of ``mean(differences) = 0`` (two-sided).

    ``t = mean(d) / (sd(d) / sqrt(n))``, ``df = n - 1``. All differences equal and non-zero
    give ``t = ±inf`` and ``p = 0``; all zero give ``t = 0`` and ``p = 1``.
    """
    d = _values("paired_t", "differences", differences)
    n, mean, sd = d.size, float(d.mean()), float(d.std(ddof=1))
    if np.ptp(d) == 0.0:  # all equal (their sd may still come out as rounding noise)
        return (0.0, n - 1, 1.0) if mean == 0.0 else (math.copysign(math.inf, mean), n - 1, 0.0)
    t = mean / (sd / math.sqrt(n))
    return t, n - 1, t_two_sided_p(t, n - 1)


def sign_flip_p(differences: Sequence[float]) -> float:
    """Exact two-sided sign-flip p-value of ``mean(differences) = 0``.

    Under "no difference" each ``d_s`` is as likely to have come out ``-d_s``; the p-value is
    the share of the ``2**n`` sign patterns whose ``|mean|`` is at least the observed one
    (``scipy.stats.permutation_test``, ``permutation_type="samples"``, every pattern). With
    ``n`` seeds it is never below ``2 / 2**n`` (0.002 for 10 seeds). At most 20 differences.
    """
    from scipy import stats

    d = _values("sign_flip_p", "differences", differences, minimum=1)
    if d.size > 20:
        raise ValueError(f"sign_flip_p: at most 20 differences (2**20 patterns), got {d.size}")
    if not np.any(d):
        return 1.0
    result = stats.permutation_test(
        (d,), np.mean, permutation_type="samples", n_resamples=np.inf,
        alternative="two-sided",
    )
    return float(min(1.0, result.pvalue))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given.

    Sort the ``m`` p-values, multiply the ``k``-th smallest (k = 0, 1, ...) by ``m - k``, make
    the sequence non-decreasing and cap it at 1. A hypothesis is rejected at ``level`` when its
    adjusted p-value is below ``level``; the chance of rejecting any true one is at most
    ``level`` (Holm 1979), without assuming the tests independent.
    """
    p = _values("holm", "pvalues", pvalues, minimum=1)
    if np.any((p < 0) | (p > 1)):
        raise ValueError(f"holm: p-values must lie in [0, 1], got {pvalues!r}")
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for k, index in enumerate(order):
        running = max(running, min(1.0, (m - k) * p[index]))
        adjusted[index] = running
    return [float(v) for v in adjusted]


@dataclass(frozen=True)
class PairedTest:
    """One paired comparison of variant ``a`` against ``b`` over shared seeds.

    ``differences``: ``a_s - b_s`` per seed (in the measurement's unit, e.g. accuracy as a
    fraction); ``mean``, ``ci_low``/``ci_high`` (the 95 % t interval, not adjusted for the
    family), ``t``/``df``/``p_t`` (paired t), ``p_flip`` (exact sign-flip), and after
    :func:`paired_family` the Holm-adjusted ``p_t_holm``/``p_flip_holm`` over ``family_size``
    comparisons. :attr:`shown`: both adjusted p-values below ``level``.
    Taught in chapter 7 (book/07_experiments.ipynb).
    """

    name: str
    a: str
    b: str
    differences: tuple[float, ...]
    mean: float
    ci_low: float
    ci_high: float
    t: float
    df: int
    p_t: float
    p_flip: float
    p_t_holm: float
    p_flip_holm: float
    family_size: int = 1
    level: float = ALPHA

    @classmethod
    def of(cls, name: str, a: str, b: str, values_a: Sequence[float],
           values_b: Sequence[float], level: float = ALPHA) -> PairedTest:
        """The test of ``values_a[s] - values_b[s]`` (seed ``s`` the same in both), unadjusted
        (a family of one)."""
        xa = _values("PairedTest.of", "values_a", values_a)
        xb = _values("PairedTest.of", "values_b", values_b)
        if xa.size != xb.size:
            raise ValueError(f"PairedTest.of: {name!r} pairs {xa.size} values of {a!r} with "
                             f"{xb.size} of {b!r}; a paired test needs one of each per seed")
        d = xa - xb
        mean, low, high = mean_ci(d, level)
        t, df, p_t = paired_t(d)
        p_flip = sign_flip_p(d)
        return cls(name, a, b, tuple(float(v) for v in d), mean, low, high, t, df, p_t,
                   p_flip, p_t, p_flip, 1, level)

    @property
    def n(self) -> int:
        """Number of paired seeds."""
        return len(self.differences)

    @property
    def p_holm(self) -> float:
        """The larger of the two adjusted p-values: the one the verdict rests on."""
        return max(self.p_t_holm, self.p_flip_holm)

    @property
    def shown(self) -> bool:
        """A difference is shown when both Holm-adjusted p-values are below ``level``."""
        return self.p_holm < self.level

    @property
    def ci_excludes_zero(self) -> bool:
        return self.ci_low > 0.0 or self.ci_high < 0.0

    def as_dict(self) -> dict[str, object]:
        """The row as plain numbers (JSON, the device panel)."""
        return {"name": self.name, "a": self.a, "b": self.b, "n": self.n, "mean": self.mean,
                "ci": [self.ci_low, self.ci_high], "t": self.t, "df": self.df,
                "p_t": self.p_t, "p_flip": self.p_flip, "p_t_holm": self.p_t_holm,
                "p_flip_holm": self.p_flip_holm, "family_size": self.family_size,
                "shown": self.shown}


def paired_family(
    comparisons: Mapping[str, tuple[str, str]],
    values: Mapping[str, Sequence[float]],
    level: float = ALPHA,
) -> dict[str, PairedTest]:
    """Every comparison ``name -> (a, b)`` of one family, tested on ``values[variant]`` (one
    number per seed, the seeds in the same order for every variant) and Holm-adjusted over the
    family, each test's two p-values separately. Returns ``{name: PairedTest}`` in order.
    Taught in chapter 7 (book/07_experiments.ipynb).
    """
    if not comparisons:
        raise ValueError("paired_family: give at least one comparison")
    for name, (a, b) in comparisons.items():
        missing = [v for v in (a, b) if v not in values]
        if missing:
            raise KeyError(f"paired_family: comparison {name!r} needs values of {missing}; "
                           f"have {sorted(values)}")
    tests = {name: PairedTest.of(name, a, b, values[a], values[b], level)
             for name, (a, b) in comparisons.items()}
    p_t = holm([t.p_t for t in tests.values()])
    p_flip = holm([t.p_flip for t in tests.values()])
    return {
        name: replace(test, p_t_holm=pt, p_flip_holm=pf, family_size=len(tests))
        for (name, test), pt, pf in zip(tests.items(), p_t, p_flip, strict=True)
    }


def binomial_se(accuracy: float, n: int) -> float:
    """Standard error ``sqrt(p (1 - p) / n)`` of an accuracy measured on ``n`` independent
    test images."""
    if not 0.0 <= accuracy <= 1.0:
        raise ValueError(f"binomial_se: accuracy must be in [0, 1], got {accuracy!r}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"binomial_se: n must be a positive integer, got {n!r}")
    return math.sqrt(accuracy * (1.0 - accuracy) / n)


def cluster_bootstrap_se(
    correct: Sequence[bool] | np.ndarray,
    clusters: Sequence[int] | np.ndarray,
    *,
    n_boot: int = 2000,
    seed: int = 0,
) -> float:
    """Bootstrap standard error of an accuracy whose test images come in *clusters* (several
    images drawn from one source digit): resample whole clusters with replacement.

    ``correct``: ``(N,)`` per-image hit (bool or 0/1); ``clusters``: ``(N,)`` the cluster of each
    image. Images of one cluster are not independent, so :func:`binomial_se` would understate
    the error; this does not.
    """
    hits = np.asarray(correct, dtype=np.float64)
    groups = np.asarray(clusters)
    if hits.ndim != 1 or groups.shape != hits.shape or hits.size == 0:
        raise ValueError("cluster_bootstrap_se: correct and clusters must be flat sequences "
                         f"of one length, got shapes {hits.shape} and {groups.shape}")
    if not isinstance(n_boot, int) or n_boot < 2:
        raise ValueError(f"cluster_bootstrap_se: n_boot must be an integer >= 2, got {n_boot!r}")
    _, index = np.unique(groups, return_inverse=True)
    sums = np.bincount(index, weights=hits)
    sizes = np.bincount(index).astype(np.float64)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, sums.size, size=(n_boot, sums.size))
    accuracies = sums[draws].sum(axis=1) / sizes[draws].sum(axis=1)
    return float(accuracies.std(ddof=1))
