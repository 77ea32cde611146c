import numpy as np
import pytest
import scipy.sparse as sp
import torch

from advrec.measure.poisoning import exposure_metrics, mean_shift, score_targets, target_ranks_and_scores


def test_ranks_skip_excluded_items_by_hand():
    scores = torch.tensor([[0.9, 0.5, 0.7, 0.1], [0.2, 0.8, 0.3, 0.4]])
    exclude = torch.tensor([[True, False, False, False], [False, False, False, False]])
    ranks, ts = target_ranks_and_scores(scores, exclude, torch.tensor([1, 3]))
    # user 0: item 0 excluded; candidates 0.5, 0.7, 0.1 -> item 1 rank 2, item 3 rank 3
    # user 1: 0.8 is the best -> item 1 rank 1; item 3 (0.4) is beaten by 0.8 -> rank 2
    assert ranks.tolist() == [[2, 3], [1, 2]]
    assert np.allclose(ts.numpy(), [[0.5, 0.1], [0.8, 0.4]])


def test_exposure_metrics_by_hand():
    ranks = np.array([[1, 60], [12, 3], [50, 1]])
    eligible = np.array([[True, True], [True, True], [False, True]])
    m = exposure_metrics(ranks, eligible, ks=(10, 50), ndcg_k=50)
    # target 0: users 0, 1 -> hit@10 1/2, hit@50 2/2; target 1: users 0..2 -> hit@10 2/3, hit@50 2/3
    assert m["target_hit@10"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert m["target_hit@50"] == pytest.approx((1 + 2 / 3) / 2)
    ndcg0 = (1 / np.log2(2) + 1 / np.log2(13)) / 2
    ndcg1 = (0 + 1 / np.log2(4) + 1 / np.log2(2)) / 3
    assert m["target_ndcg@50"] == pytest.approx((ndcg0 + ndcg1) / 2)
    assert m["target_mean_rank"] == pytest.approx(((1 + 12) / 2 + (60 + 3 + 1) / 3) / 2)


def test_target_without_eligible_users_is_left_out():
    m = exposure_metrics(np.array([[1, 99]]), np.array([[False, True]]), ks=(10,))
    assert m["target_hit@10"] == 0.0
    with pytest.raises(ValueError, match="no target"):
        exposure_metrics(np.array([[1]]), np.array([[False]]))


def test_mean_shift_by_hand():
    before = np.array([[0.0, 1.0], [2.0, 1.0]])
    after = np.array([[1.0, 1.5], [2.0, 4.0]])
    eligible = np.array([[True, True], [True, False]])
    assert mean_shift(before, after, eligible) == pytest.approx(((1 + 0) / 2 + 0.5) / 2)


def test_score_targets_in_chunks_matches_dense():
    rng = np.random.default_rng(0)
    table = torch.from_numpy(rng.normal(size=(7, 9)).astype(np.float32))
    exclude = sp.random(7, 9, density=0.3, random_state=1, format="csr")
    exclude.data[:] = 1.0
    ranks, scores = score_targets(
        lambda u: table[u].clone(), np.arange(7), exclude, np.array([2, 5]), 9, 1e-4
    )
    dense = torch.from_numpy(exclude.toarray() > 0)
    want, _ = target_ranks_and_scores(table, dense, torch.tensor([2, 5]))
    assert np.array_equal(ranks, want.numpy())
    assert np.allclose(scores, table[:, [2, 5]].numpy())
