"""Paired t-test and Wilcoxon signed-rank: hand-computed values, scipy on known inputs, edge cases."""

import math

import numpy as np
import pytest
from scipy import stats

from advrec.measure.significance import paired_test, paired_tests


def test_t_matches_hand_computation():
    # differences 1, 1, 2, 2: mean 1.5, sd sqrt(1/3), se sd/2 -> t = 1.5 / (sqrt(1/3) / 2) = 5.196...
    res = paired_test([1, 2, 3, 4], [0, 1, 1, 2], "t")
    assert res.statistic == pytest.approx(1.5 / (math.sqrt(1 / 3) / 2))
    assert res.mean_diff == pytest.approx(1.5)
    assert res.n == 4
    # two-sided p of a t with 3 degrees of freedom
    assert res.pvalue == pytest.approx(2 * stats.t.sf(res.statistic, 3))


def test_wilcoxon_matches_hand_computation():
    # differences 1, -2, 3, 4, 5: ranks 1..5, W- = 2 (the statistic, min(W+, W-)); exact two-sided
    # p = 2 * #{subsets of {1..5} with rank sum <= 2} / 2^5 = 2 * 3 / 32 ({}, {1}, {2})
    res = paired_test([1, 0, 3, 4, 5], [0, 2, 0, 0, 0], "wilcoxon")
    assert res.statistic == 2
    assert res.pvalue == pytest.approx(6 / 32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_both_match_scipy_on_random_pairs(seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(0.3, 0.05, 30)
    b = a - rng.normal(0.01, 0.02, 30)
    res = paired_tests(a, b)
    t = stats.ttest_rel(a, b)
    w = stats.wilcoxon(a, b)
    assert res["t"].statistic == pytest.approx(t.statistic)
    assert res["t"].pvalue == pytest.approx(t.pvalue)
    assert res["wilcoxon"].statistic == pytest.approx(w.statistic)
    assert res["wilcoxon"].pvalue == pytest.approx(w.pvalue)


def test_ties_and_zero_differences_follow_scipy():
    # tied |differences| and two zero differences (dropped by the "wilcox" zero method)
    a = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 0.4, 0.3]
    b = [0.4, 0.5, 0.7, 0.7, 0.8, 1.0, 0.2, 0.1]
    res = paired_test(a, b, "wilcoxon")
    ref = stats.wilcoxon(a, b, zero_method="wilcox")
    assert res.statistic == pytest.approx(ref.statistic)
    assert res.pvalue == pytest.approx(ref.pvalue)
    assert res.n == 8  # n counts every pair; the zero method drops zeros inside the test
    t = paired_test(a, b, "t")
    assert t.pvalue == pytest.approx(stats.ttest_rel(a, b).pvalue)


def test_all_zero_differences_give_p_one():
    for name in ("t", "wilcoxon"):
        res = paired_test([0.2, 0.3, 0.4], [0.2, 0.3, 0.4], name)
        assert (res.statistic, res.pvalue) == (0.0, 1.0)
        assert "zero" in res.reason
        assert not res.significant()


@pytest.mark.parametrize("a, b", [([], []), ([0.3], [0.1]), ([0.3, float("nan")], [0.1, 0.2])])
def test_fewer_than_two_pairs_is_nan_with_a_reason(a, b):
    for name in ("t", "wilcoxon"):
        res = paired_test(a, b, name)
        assert math.isnan(res.statistic) and math.isnan(res.pvalue)
        assert "at least 2" in res.reason
        assert not res.significant()


def test_constant_nonzero_differences_have_no_t():
    res = paired_test([1.0, 2.0, 3.0], [0.5, 1.5, 2.5], "t")
    assert math.isnan(res.pvalue) and "zero variance" in res.reason
    # Wilcoxon is defined there: all three differences positive, exact p = 2/2^3
    assert paired_test([1.0, 2.0, 3.0], [0.5, 1.5, 2.5], "wilcoxon").pvalue == pytest.approx(0.25)


def test_nan_pairs_are_dropped():
    a = [0.1, 0.5, float("nan"), 0.7, 0.2]
    b = [0.0, 0.2, 0.3, float("nan"), 0.1]
    res = paired_test(a, b, "t")
    assert res.n == 3
    assert res.pvalue == pytest.approx(stats.ttest_rel([0.1, 0.5, 0.2], [0.0, 0.2, 0.1]).pvalue)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="differ in length"):
        paired_test([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="unknown test"):
        paired_test([1, 2], [1, 2], "anova")


def test_significance_threshold():
    rng = np.random.default_rng(3)
    a = rng.normal(0.5, 0.01, 40)
    assert paired_test(a + 0.05, a + rng.normal(0, 0.001, 40)).significant()
    assert not paired_test(a + rng.normal(0, 0.01, 40), a + rng.normal(0, 0.01, 40)).significant(alpha=1e-6)
