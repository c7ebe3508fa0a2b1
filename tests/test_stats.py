"""mbcourse.studies.stats: paired t, the exact sign-flip test, Holm, intervals, test-set errors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from mbcourse.studies.stats import (
    PairedTest,
    binomial_se,
    cluster_bootstrap_se,
    holm,
    mean_ci,
    paired_family,
    paired_t,
    sign_flip_p,
    t_critical,
    t_two_sided_p,
)

D = [0.5, 1.2, -0.3, 0.8, 0.9, 0.1, 1.5, -0.2, 0.7, 0.4]


def test_t_distribution_matches_closed_forms() -> None:
    # df = 2: P(|T| >= t) = 1 - t / sqrt(2 + t^2); df = 1 (Cauchy): 1 - 2 atan(t) / pi
    assert t_two_sided_p(3.0, 2.0) == pytest.approx(1 - 3 / math.sqrt(11), rel=1e-12)
    assert t_two_sided_p(2.0, 1.0) == pytest.approx(1 - 2 * math.atan(2.0) / math.pi, rel=1e-12)
    assert t_critical(2.0) == pytest.approx(4.302652729749464, rel=1e-9)
    assert t_critical(9) == pytest.approx(2.2621571627, rel=1e-9)
    assert t_two_sided_p(math.inf, 5) == 0.0
    with pytest.raises(ValueError, match="t_two_sided_p: df must be > 0"):
        t_two_sided_p(1.0, 0.0)
    with pytest.raises(ValueError, match="t_critical: level must be in"):
        t_critical(4, 1.5)


def test_paired_t_is_scipys_ttest_rel() -> None:
    a = np.array([0.91, 0.93, 0.90, 0.94, 0.92, 0.95])
    b = np.array([0.90, 0.91, 0.90, 0.92, 0.93, 0.92])
    t, df, p = paired_t(a - b)
    reference = scipy_stats.ttest_rel(a, b)
    assert t == pytest.approx(reference.statistic) and p == pytest.approx(reference.pvalue)
    assert df == 5
    assert paired_t([0.0, 0.0, 0.0]) == (0.0, 2, 1.0)
    t_inf, _, p_zero = paired_t([0.1, 0.1, 0.1])
    assert t_inf == math.inf and p_zero == 0.0


def test_sign_flip_enumerates_every_pattern() -> None:
    d = np.array(D)
    observed = abs(d.mean())
    hits = sum(abs((np.array(s) * d).mean()) >= observed - 1e-12
               for s in itertools.product((1, -1), repeat=d.size))
    assert sign_flip_p(D) == pytest.approx(hits / 2**d.size)
    assert sign_flip_p([1.0] * 10) == pytest.approx(2 / 2**10)  # the smallest possible
    assert sign_flip_p([0.0, 0.0]) == 1.0
    with pytest.raises(ValueError, match="at most 20"):
        sign_flip_p([1.0] * 21)


def test_mean_ci_is_the_t_interval() -> None:
    mean, low, high = mean_ci(D)
    half = t_critical(9) * np.std(D, ddof=1) / math.sqrt(10)
    assert mean == pytest.approx(np.mean(D))
    assert (low, high) == pytest.approx((mean - half, mean + half))
    with pytest.raises(ValueError, match="mean_ci: values must be a flat sequence"):
        mean_ci([1.0])


def test_holm_steps_down_and_stays_monotone() -> None:
    # sorted 0.01, 0.02, 0.03, 0.5 -> x4, x3, x2, x1 = 0.04, 0.06, 0.06 (monotone), 0.5
    assert holm([0.03, 0.5, 0.01, 0.02]) == pytest.approx([0.06, 0.5, 0.04, 0.06])
    assert holm([0.4, 0.6]) == pytest.approx([0.8, 0.8])
    assert holm([0.9]) == [0.9]
    assert max(holm([0.5, 0.6, 0.7])) <= 1.0
    with pytest.raises(ValueError, match="holm: p-values must lie in"):
        holm([0.1, 1.2])


def test_paired_family_adjusts_both_tests_over_the_family() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(0.9, 0.01, 10)
    values = {"a": base + 0.02 + rng.normal(0, 0.002, 10), "b": base,
              "c": base + rng.normal(0, 0.002, 10)}
    family = paired_family({"a vs b": ("a", "b"), "c vs b": ("c", "b")}, values)
    ab, cb = family["a vs b"], family["c vs b"]
    assert ab.family_size == cb.family_size == 2
    assert ab.shown and not cb.shown
    assert ab.mean == pytest.approx(np.mean(values["a"] - values["b"]))
    assert ab.p_t_holm == pytest.approx(min(1, 2 * ab.p_t)) or ab.p_t_holm >= ab.p_t
    assert cb.p_flip_holm >= cb.p_flip and cb.p_t_holm >= cb.p_t
    assert ab.ci_excludes_zero and ab.as_dict()["shown"] is True
    with pytest.raises(KeyError, match="needs values of"):
        paired_family({"x": ("a", "zzz")}, values)


def test_paired_test_needs_one_value_of_each_per_seed() -> None:
    with pytest.raises(ValueError, match="a paired test needs one of each per seed"):
        PairedTest.of("x", "a", "b", [1.0, 2.0, 3.0], [1.0, 2.0])


def test_shown_needs_both_tests_below_the_level() -> None:
    # four seeds, four nearly equal gains: paired t is tiny, but no sign-flip p-value of four
    # differences can fall below 2 / 2**4 = 0.125
    test = PairedTest.of("x", "a", "b", [0.95, 0.951, 0.949, 0.95], [0.9] * 4)
    assert test.p_t < 0.001 and test.p_flip == pytest.approx(0.125) and not test.shown


def test_test_set_errors() -> None:
    assert binomial_se(0.9, 10000) == pytest.approx(0.003)
    with pytest.raises(ValueError, match="binomial_se: accuracy"):
        binomial_se(1.5, 10)
    rng = np.random.default_rng(1)
    # 200 clusters of 25 images that are all right or all wrong: the effective sample is 200
    per_cluster = rng.random(200) < 0.8
    hits = np.repeat(per_cluster, 25)
    groups = np.repeat(np.arange(200), 25)
    clustered = cluster_bootstrap_se(hits, groups, n_boot=4000)
    assert clustered == pytest.approx(binomial_se(float(hits.mean()), 200), rel=0.15)
    assert clustered > 3 * binomial_se(float(hits.mean()), hits.size)
    independent = rng.random(5000) < 0.8
    assert cluster_bootstrap_se(independent, np.arange(5000), n_boot=4000) == pytest.approx(
        binomial_se(float(independent.mean()), 5000), rel=0.15)
    with pytest.raises(ValueError, match="one length"):
        cluster_bootstrap_se([1, 0], [1])
