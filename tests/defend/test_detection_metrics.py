"""Detection metrics by hand on a 5-profile set, and AUC against a brute-force pairwise count."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from advrec.measure.detection import detection_metrics, pr_curve, precision_recall_f1, roc_auc, roc_curve

LABELS = np.array([1, 1, 0, 0, 0])
FLAGS = np.array([1, 0, 1, 0, 0], dtype=bool)
SCORES = np.array([0.9, 0.3, 0.6, 0.3, 0.1])


def test_precision_recall_f1_by_hand():
    # flagged {0, 2}: one fake of two flagged; fakes {0, 1}: one of two found
    assert precision_recall_f1(FLAGS, LABELS) == (0.5, 0.5, 0.5)
    # flag {0, 1, 2}: P = 2/3, R = 1, F1 = 2 * (2/3) / (5/3) = 0.8
    p, r, f = precision_recall_f1(np.array([1, 1, 1, 0, 0], dtype=bool), LABELS)
    assert (p, r) == pytest.approx((2 / 3, 1.0)) and f == pytest.approx(0.8)


def test_empty_cases():
    assert precision_recall_f1(np.zeros(5, dtype=bool), LABELS) == (0.0, 0.0, 0.0)
    assert roc_auc(SCORES, np.zeros(5, dtype=int)) is None
    assert roc_auc(SCORES, np.ones(5, dtype=int)) is None


def test_auc_by_hand():
    # fake 0.9 beats all three genuine (3); fake 0.3 loses to 0.6, ties 0.3 (1/2), beats 0.1 (1): 4.5 / 6
    assert roc_auc(SCORES, LABELS) == pytest.approx(0.75)
    m = detection_metrics(FLAGS, SCORES, LABELS)
    assert m == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "auc": 0.75, "n_flagged": 2})


def _auc_brute_force(scores, labels) -> float:
    pos = [s for s, y in zip(scores, labels) if y == 1]
    neg = [s for s, y in zip(scores, labels) if y == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", range(5))
def test_auc_matches_pairwise_count(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 40)
    labels[:2] = [0, 1]
    scores = rng.integers(0, 6, 40).astype(float)  # many ties
    assert roc_auc(scores, labels) == pytest.approx(_auc_brute_force(scores, labels))


def test_curves_by_hand():
    fpr, tpr = roc_curve(SCORES, LABELS)
    # thresholds 0.9, 0.6, 0.3 (two profiles), 0.1
    np.testing.assert_allclose(fpr, [0, 0, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1])
    recall, precision = pr_curve(SCORES, LABELS)
    np.testing.assert_allclose(recall, [0.5, 0.5, 1, 1])
    np.testing.assert_allclose(precision, [1, 0.5, 0.5, 0.4])


def test_bad_inputs():
    with pytest.raises(ValueError, match="entries"):
        precision_recall_f1(FLAGS[:3], LABELS)
    with pytest.raises(ValueError, match="0 .genuine. or 1"):
        roc_auc(SCORES, np.array([1, 2, 0, 0, 0]))
    with pytest.raises(ValueError, match="NaN"):
        roc_auc(np.array([0.1, np.nan, 0, 0, 0]), LABELS)
