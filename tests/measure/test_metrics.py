"""Metrics against hand-computed values, a slow pure-Python reference, and scipy's Mann-Whitney U."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import mannwhitneyu

from advrec.errors import ConfigError
from advrec.measure.metrics import (
    METRICS,
    TOPK_METRICS,
    AucStats,
    auc,
    average_precision,
    compute_metrics,
    f1,
    hit,
    mrr,
    ndcg,
    precision,
    recall,
)

# Two users, K = 4.
# user 0: relevant at ranks 0 and 2 (1-based 1 and 3), 3 relevant items in total
# user 1: relevant at rank 3 only (1-based 4), 1 relevant item in total
HITS = np.array([[1, 0, 1, 0], [0, 0, 0, 1]], dtype=bool)
N_REL = np.array([3, 1])


def test_precision_by_hand():
    # @4: user 0 has 2 hits / 4, user 1 has 1 / 4.  @2: 1/2 and 0/2.
    np.testing.assert_allclose(precision(HITS, N_REL, 4), [2 / 4, 1 / 4])
    np.testing.assert_allclose(precision(HITS, N_REL, 2), [1 / 2, 0.0])


def test_recall_by_hand():
    # @4: 2 of 3, 1 of 1.  @1: 1 of 3, 0 of 1.
    np.testing.assert_allclose(recall(HITS, N_REL, 4), [2 / 3, 1.0])
    np.testing.assert_allclose(recall(HITS, N_REL, 1), [1 / 3, 0.0])


def test_f1_by_hand():
    # @4 user 0: p = 1/2, r = 2/3 -> 2 * (1/3) / (7/6) = 4/7
    #    user 1: p = 1/4, r = 1 -> 2 * (1/4) / (5/4) = 2/5
    np.testing.assert_allclose(f1(HITS, N_REL, 4), [4 / 7, 2 / 5])
    # @2 user 1 has no hit: p = r = 0 -> 0 (not NaN)
    np.testing.assert_allclose(f1(HITS, N_REL, 2), [2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3), 0.0])


def test_ndcg_by_hand():
    # user 0 @4: DCG = 1/log2(2) + 1/log2(4)
    #            IDCG puts min(3, 4) = 3 hits first: 1/log2(2) + 1/log2(3) + 1/log2(4)
    # user 1 @4: DCG = 1/log2(5); IDCG = 1/log2(2) = 1
    expected = [
        (1 / math.log2(2) + 1 / math.log2(4)) / (1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)),
        1 / math.log2(5),
    ]
    np.testing.assert_allclose(ndcg(HITS, N_REL, 4), expected)
    # user 0 @2: DCG = 1; IDCG from min(3, 2) = 2 items: 1 + 1/log2(3)
    np.testing.assert_allclose(ndcg(HITS, N_REL, 2), [1 / (1 + 1 / math.log2(3)), 0.0])


def test_ndcg_perfect_list_is_one_even_with_more_relevant_than_k():
    hits = np.ones((1, 3), dtype=bool)
    np.testing.assert_allclose(ndcg(hits, np.array([10]), 3), [1.0])


def test_hit_by_hand():
    np.testing.assert_allclose(hit(HITS, N_REL, 4), [1.0, 1.0])
    np.testing.assert_allclose(hit(HITS, N_REL, 3), [1.0, 0.0])


def test_mrr_by_hand():
    # first hit at 1-based rank 1 for user 0, rank 4 for user 1; @3 user 1 has none -> 0
    np.testing.assert_allclose(mrr(HITS, N_REL, 4), [1.0, 1 / 4])
    np.testing.assert_allclose(mrr(HITS, N_REL, 3), [1.0, 0.0])


def test_map_by_hand():
    # user 0 @4: precision at the hit ranks 1 and 3 is 1/1 and 2/3; divided by min(3, 4) = 3 -> (1 + 2/3) / 3
    # user 1 @4: precision at rank 4 is 1/4; divided by min(1, 4) = 1 -> 1/4
    np.testing.assert_allclose(average_precision(HITS, N_REL, 4), [(1 + 2 / 3) / 3, 1 / 4])
    # user 0 @2: only rank 1 counts -> 1/1, divided by min(3, 2) = 2 -> 1/2
    np.testing.assert_allclose(average_precision(HITS, N_REL, 2), [1 / 2, 0.0])


def test_auc_by_hand():
    # scores of one user's candidates: positives {0.9, 0.5}, negatives {0.7, 0.5, 0.1}
    # pairs: 0.9 beats all 3 -> 3; 0.5 loses to 0.7, ties 0.5 (1/2), beats 0.1 -> 1.5; AUC = 4.5 / 6
    # descending mid-ranks among all 5 candidates: 0.9 -> 0 above; 0.5 -> 2 above (0.9, 0.7) + 1/2 tie
    stats = AucStats(np.array([0 + 2.5]), np.array([2]), np.array([5]))
    np.testing.assert_allclose(auc(*stats), [4.5 / 6])


def test_auc_undefined_without_negatives_or_positives():
    # 2 positives out of 2 candidates: no negative; 0 positives: no positive
    out = auc(np.array([1.0, 0.0]), np.array([2, 0]), np.array([2, 5]))
    assert np.isnan(out).all()


# ---------------------------------------------------------------- slow, obviously-correct references


def ref_precision(row, n_rel, k):
    return sum(row[:k]) / k


def ref_recall(row, n_rel, k):
    return sum(row[:k]) / n_rel


def ref_f1(row, n_rel, k):
    p, r = ref_precision(row, n_rel, k), ref_recall(row, n_rel, k)
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def ref_ndcg(row, n_rel, k):
    dcg = sum(1 / math.log2(r + 2) for r in range(k) if row[r])
    idcg = sum(1 / math.log2(r + 2) for r in range(min(n_rel, k)))
    return dcg / idcg


def ref_hit(row, n_rel, k):
    return float(any(row[:k]))


def ref_mrr(row, n_rel, k):
    for r in range(k):
        if row[r]:
            return 1 / (r + 1)
    return 0.0


def ref_map(row, n_rel, k):
    total, found = 0.0, 0
    for r in range(k):
        if row[r]:
            found += 1
            total += found / (r + 1)
    return total / min(n_rel, k)


REFERENCES = {
    "precision": ref_precision,
    "recall": ref_recall,
    "f1": ref_f1,
    "ndcg": ref_ndcg,
    "hit": ref_hit,
    "mrr": ref_mrr,
    "map": ref_map,
}


def random_case(rng: np.random.Generator, n_users: int, big_k: int) -> tuple[np.ndarray, np.ndarray]:
    hits = rng.random((n_users, big_k)) < rng.random((n_users, 1))
    # n_relevant is at least the number of hits and at least 1
    n_rel = hits.sum(axis=1) + rng.integers(0, 2 * big_k, n_users)
    return hits, np.maximum(n_rel, 1)


def test_references_cover_every_topk_metric():
    assert set(REFERENCES) == set(TOPK_METRICS)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_topk_metrics_match_reference_on_random_data(name):
    rng = np.random.default_rng(7)
    hits, n_rel = random_case(rng, 200, 12)
    for k in (1, 5, 12):
        expected = [REFERENCES[name](list(row), int(n), k) for row, n in zip(hits, n_rel, strict=True)]
        np.testing.assert_allclose(TOPK_METRICS[name](hits, n_rel, k), expected, rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.lists(st.booleans(), min_size=6, max_size=6), min_size=1, max_size=8),
    extra=st.lists(st.integers(0, 9), min_size=8, max_size=8),
    k=st.integers(1, 6),
)
def test_topk_metrics_match_reference_hypothesis(rows, extra, k):
    hits = np.array(rows, dtype=bool)
    n_rel = np.maximum(hits.sum(axis=1) + np.array(extra[: len(rows)]), 1)
    for name, ref in REFERENCES.items():
        values = TOPK_METRICS[name](hits, n_rel, k)
        assert values.dtype == np.float64 and values.shape == (len(rows),)
        np.testing.assert_allclose(
            values, [ref(list(r), int(n), k) for r, n in zip(hits, n_rel, strict=True)], rtol=1e-12
        )


def mid_rank_stats(scores: np.ndarray, positive: np.ndarray) -> tuple[float, int, int]:
    """Brute-force AucStats for one user: each positive's #higher + (#tied - 1) / 2 over all candidates."""
    rank_sum = 0.0
    for s in scores[positive]:
        rank_sum += (scores > s).sum() + ((scores == s).sum() - 1) / 2
    return rank_sum, int(positive.sum()), len(scores)


def pairwise_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    pos, neg = scores[positive], scores[~positive]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def test_auc_matches_pairwise_count_and_scipy_with_ties():
    rng = np.random.default_rng(3)
    stats, pairwise, scipy_auc = [], [], []
    for _ in range(50):
        n = int(rng.integers(2, 40))
        scores = rng.integers(0, 6, n).astype(float)  # few distinct values -> many ties
        positive = rng.random(n) < 0.3
        positive[0], positive[1] = True, False  # at least one of each
        stats.append(mid_rank_stats(scores, positive))
        pairwise.append(pairwise_auc(scores, positive))
        u = mannwhitneyu(scores[positive], scores[~positive]).statistic
        scipy_auc.append(u / (positive.sum() * (~positive).sum()))
    rank_sum, n_pos, n_cand = (np.array(col) for col in zip(*stats, strict=True))
    values = auc(rank_sum, n_pos, n_cand)
    np.testing.assert_allclose(values, pairwise, rtol=1e-12)
    np.testing.assert_allclose(values, scipy_auc, rtol=1e-12)


def test_compute_metrics_keys_and_values():
    stats = AucStats(np.array([0.0, 1.0]), np.array([1, 1]), np.array([4, 4]))
    out = compute_metrics(HITS, N_REL, [4, 2], ["NDCG", "recall", "auc"], auc_stats=stats)
    assert list(out) == ["ndcg@2", "ndcg@4", "recall@2", "recall@4", "auc"]
    np.testing.assert_allclose(out["recall@4"], recall(HITS, N_REL, 4))
    # positive at the top of 4 -> AUC 1; one negative above -> 2/3
    np.testing.assert_allclose(out["auc"], [1.0, 2 / 3])


def test_unknown_metric_lists_valid_names():
    with pytest.raises(ConfigError) as err:
        compute_metrics(HITS, N_REL, [2], ["ndcg", "nope"])
    for name in METRICS:
        assert name in str(err.value)


def test_auc_needs_stats():
    with pytest.raises(ValueError, match="auc_stats"):
        compute_metrics(HITS, N_REL, [2], ["auc"])


@pytest.mark.parametrize("ks", [[0], [-1], [2.5], [True]])
def test_bad_cutoff_is_config_error(ks):
    with pytest.raises(ConfigError):
        compute_metrics(HITS, N_REL, ks, ["ndcg"])


def test_k_above_list_length_and_empty_truth_are_rejected():
    with pytest.raises(ValueError, match="k=5"):
        ndcg(HITS, N_REL, 5)
    with pytest.raises(ValueError, match="relevant"):
        recall(HITS, np.array([3, 0]), 2)
