"""Paired significance tests between two systems: paired t-test and Wilcoxon signed-rank.

The pairs are either seeds (one test metric per seed for each system, paired by seed) or users (one
per-user test metric per user, paired by user id). Both tests are two-sided and computed by scipy; this
module only fixes what scipy leaves ambiguous, so that a report never prints a p-value it cannot justify:

- pairs with a NaN on either side (e.g. per-user AUC of a user without negatives) are dropped first;
- fewer than 2 pairs left: statistic and p-value are NaN, ``reason`` says why (no test is possible);
- every difference exactly zero (identical systems): statistic 0 and p-value 1 for both tests (no
  evidence of a difference; scipy's t-test returns NaN there, and its Wilcoxon warns);
- t-test with non-zero but constant differences (zero variance): NaN, ``reason`` says why;
- Wilcoxon drops zero differences ("wilcox" zero method, scipy's default) and, with ties or zeros or
  more than 50 pairs, uses the normal approximation; otherwise the exact distribution. With n pairs its
  smallest possible two-sided p-value is 2 / 2**n: with 3 seeds it is 0.25, never below 0.05.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

TestName = Literal["t", "wilcoxon"]


@dataclass(frozen=True)
class TestResult:
    """One paired test. ``n`` counts the pairs used; ``reason`` is set when the result is NaN or forced."""

    test: str
    statistic: float
    pvalue: float
    n: int
    mean_diff: float
    reason: str = ""

    def significant(self, alpha: float = 0.05) -> bool:
        return not math.isnan(self.pvalue) and self.pvalue < alpha


def _pairs(a: object, b: object) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"paired test: the two samples differ in length ({x.size} vs {y.size})")
    keep = ~(np.isnan(x) | np.isnan(y))
    return x[keep], y[keep]


def paired_test(a: object, b: object, test: TestName = "t") -> TestResult:
    """Two-sided paired test of ``a`` against ``b`` (same order: pair i is ``a[i]``, ``b[i]``).

    ``mean_diff`` is mean(a - b) over the pairs used. See the module docstring for the edge cases.
    """
    from scipy import stats

    if test not in ("t", "wilcoxon"):
        raise ValueError(f"paired test: unknown test {test!r}; expected 't' or 'wilcoxon'")
    x, y = _pairs(a, b)
    diff = x - y
    n = int(diff.size)
    mean_diff = float(diff.mean()) if n else float("nan")
    nan = float("nan")
    if n < 2:
        return TestResult(test, nan, nan, n, mean_diff, f"{n} pair(s): a paired test needs at least 2")
    if np.all(diff == 0):
        return TestResult(test, 0.0, 1.0, n, mean_diff, "all differences are zero")
    if test == "t":
        if np.all(diff == diff[0]):
            return TestResult(test, nan, nan, n, mean_diff, "the differences are constant (zero variance)")
        res = stats.ttest_rel(x, y)
        return TestResult(test, float(res.statistic), float(res.pvalue), n, mean_diff)
    nonzero = int(np.count_nonzero(diff))
    if nonzero < 1:  # pragma: no cover - covered by the all-zero branch above
        return TestResult(test, nan, nan, n, mean_diff, "no non-zero difference")
    res = stats.wilcoxon(x, y, zero_method="wilcox", alternative="two-sided")
    return TestResult(test, float(res.statistic), float(res.pvalue), n, mean_diff)


def paired_tests(a: object, b: object) -> dict[str, TestResult]:
    """Both tests on the same pairs: ``{"t": ..., "wilcoxon": ...}``."""
    return {name: paired_test(a, b, name) for name in ("t", "wilcoxon")}
