"""Full ranking against a dense brute-force evaluation; exclusion, chunking and skipped users."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.stats import mannwhitneyu

from advrec.errors import ConfigError
from advrec.measure.metrics import compute_metrics
from advrec.measure.ranking import evaluate_ranking, rows_per_chunk, topk_items

ALL_TOPK = ["precision", "recall", "f1", "ndcg", "hit", "mrr", "map"]


def table_scorer(table: np.ndarray, calls: list[int] | None = None):
    """Scores looked up in a fixed table, so every chunking sees bit-identical scores."""
    scores = torch.from_numpy(table)

    def scorer(users: torch.Tensor) -> torch.Tensor:
        if calls is not None:
            calls.append(len(users))
        return scores[users]  # advanced indexing copies, as the Scorer contract requires

    return scorer


def random_problem(seed: int, n_users: int = 60, n_items: int = 40):
    """Random scores, truth and exclusion with the awkward cases mixed in."""
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((n_users, n_items)).astype(np.float32)
    truth = rng.random((n_users, n_items)) < 0.1
    exclude = rng.random((n_users, n_items)) < 0.3
    truth[:5] = False  # users without truth must be skipped
    exclude[5:8] = rng.random((3, n_items)) < 0.95  # fewer candidates than K
    truth[8, :3] = exclude[8, :3] = True  # truth items that are also excluded
    truth[9] = exclude[9] = False
    truth[9, 0] = True  # a single positive, everything else negative
    return scores, truth, exclude


def brute_force(scores, truth, exclude, ks, names):
    """Per-user metrics from a dense per-user argsort; AUC from scipy's Mann-Whitney U over candidates."""
    users = np.flatnonzero(truth.any(axis=1))
    big_k = max(ks)
    hits = np.zeros((len(users), big_k), dtype=bool)
    aucs = np.full(len(users), np.nan)
    for i, u in enumerate(users):
        candidates = np.flatnonzero(~exclude[u])
        ranked = candidates[np.argsort(-scores[u, candidates], kind="stable")][:big_k]
        hits[i, : len(ranked)] = truth[u, ranked]
        cand_scores = scores[u, candidates].astype(np.float64)  # scipy keeps float32 statistics otherwise
        pos, neg = cand_scores[truth[u, candidates]], cand_scores[~truth[u, candidates]]
        if len(pos) and len(neg):
            aucs[i] = mannwhitneyu(pos, neg).statistic / (len(pos) * len(neg))
    out = compute_metrics(hits, truth[users].sum(axis=1), ks, [n for n in names if n != "auc"])
    out["auc"] = aucs
    return users, out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_dense_brute_force(seed):
    scores, truth, exclude = random_problem(seed)
    ks = [1, 5, 10]
    result = evaluate_ranking(
        table_scorer(scores),
        sp.csr_matrix(truth),
        sp.csr_matrix(exclude),
        ks,
        [*ALL_TOPK, "auc"],
        per_user=True,
    )
    users, expected = brute_force(scores, truth, exclude, ks, [*ALL_TOPK, "auc"])
    np.testing.assert_array_equal(result["users"], users)
    assert set(result["per_user"]) == set(expected)
    for key, values in expected.items():
        np.testing.assert_allclose(result["per_user"][key], values, rtol=1e-12, err_msg=key)
        assert isinstance(result[key], float)
        np.testing.assert_allclose(result[key], np.nanmean(values), rtol=1e-12, err_msg=key)


def test_auc_with_tied_scores_matches_scipy():
    scores, truth, exclude = random_problem(4)
    scores = np.round(scores).astype(np.float32)  # a handful of distinct values per row
    result = evaluate_ranking(
        table_scorer(scores), sp.csr_matrix(truth), sp.csr_matrix(exclude), [], ["auc"], per_user=True
    )
    _, expected = brute_force(scores, truth, exclude, [1], [])
    np.testing.assert_allclose(result["per_user"]["auc"], expected["auc"], rtol=1e-12)
    assert list(result["per_user"]) == ["auc"]


def test_chunking_does_not_change_results():
    scores, truth, exclude = random_problem(5, n_users=80, n_items=30)
    args = (sp.csr_matrix(truth), sp.csr_matrix(exclude), [3, 10], [*ALL_TOPK, "auc"])
    small_calls: list[int] = []
    tiny = evaluate_ranking(table_scorer(scores, small_calls), *args, memory_budget_mb=1e-6, per_user=True)
    big = evaluate_ranking(table_scorer(scores), *args, memory_budget_mb=1e3, per_user=True)
    assert max(small_calls) == 1  # one user per chunk
    for key in big["per_user"]:
        np.testing.assert_array_equal(tiny["per_user"][key], big["per_user"][key])
    users = np.arange(80)
    np.testing.assert_array_equal(
        topk_items(table_scorer(scores), users, sp.csr_matrix(exclude), 7, memory_budget_mb=1e-6),
        topk_items(table_scorer(scores), users, sp.csr_matrix(exclude), 7, memory_budget_mb=1e3),
    )


def test_chunks_respect_the_memory_budget():
    n_items = 1000
    calls: list[int] = []
    scores = np.random.default_rng(0).standard_normal((500, n_items)).astype(np.float32)
    truth = sp.csr_matrix(np.eye(500, n_items, dtype=bool))
    evaluate_ranking(table_scorer(scores, calls), truth, None, [5], ["ndcg"], memory_budget_mb=1.0)
    expected = rows_per_chunk(n_items, 1.0)
    assert expected == 2**20 // (n_items * 12)
    assert max(calls) == expected and sum(calls) == 500


def test_excluded_item_never_recommended_even_with_the_highest_score():
    n_users, n_items = 6, 10
    scores = np.tile(np.arange(n_items, dtype=np.float32)[::-1], (n_users, 1))  # item 0 best everywhere
    scores[:, 0] = 1e9
    exclude = np.zeros((n_users, n_items), dtype=bool)
    exclude[::2, 0] = True
    top = topk_items(table_scorer(scores), np.arange(n_users), sp.csr_matrix(exclude), 3)
    assert not (top[::2] == 0).any()
    np.testing.assert_array_equal(top[::2], np.tile([1, 2, 3], (3, 1)))
    np.testing.assert_array_equal(top[1::2], np.tile([0, 1, 2], (3, 1)))


def test_topk_pads_with_minus_one_when_too_few_candidates():
    scores = np.arange(8, dtype=np.float32)[None, :].repeat(2, axis=0)  # item 7 best
    exclude = np.zeros((2, 8), dtype=bool)
    exclude[0, 2:] = True  # only items 0 and 1 remain for user 0
    top = topk_items(table_scorer(scores), np.array([0, 1]), sp.csr_matrix(exclude), 4)
    np.testing.assert_array_equal(top, [[1, 0, -1, -1], [7, 6, 5, 4]])
    # k larger than the catalogue, no exclusion at all
    top = topk_items(table_scorer(scores), np.array([1]), None, 10)
    np.testing.assert_array_equal(top, [[7, 6, 5, 4, 3, 2, 1, 0, -1, -1]])


def test_users_without_truth_are_skipped():
    scores = np.random.default_rng(1).standard_normal((5, 6)).astype(np.float32)
    truth = np.zeros((5, 6), dtype=bool)
    truth[1, 2] = truth[3, 0] = truth[3, 4] = True
    calls: list[int] = []
    result = evaluate_ranking(
        table_scorer(scores, calls), sp.csr_matrix(truth), None, [2], ["recall"], per_user=True
    )
    np.testing.assert_array_equal(result["users"], [1, 3])
    assert result["per_user"]["recall@2"].shape == (2,) and sum(calls) == 2


def test_truth_and_exclude_may_be_any_sparse_format_with_duplicates_and_stored_zeros():
    scores, truth, exclude = random_problem(6)
    rows, cols = np.nonzero(truth)
    dup_truth = sp.coo_matrix((np.ones(2 * len(rows)), (np.r_[rows, rows], np.r_[cols, cols])), truth.shape)
    ex_rows, ex_cols = np.nonzero(exclude)
    zero_rows, zero_cols = (a[:50] for a in np.nonzero(~exclude))  # stored zeros must not exclude
    values = np.r_[np.ones(len(ex_rows)), np.zeros(50)]
    zeros_exclude = sp.csr_matrix(
        (values, (np.r_[ex_rows, zero_rows], np.r_[ex_cols, zero_cols])), exclude.shape
    )
    assert zeros_exclude.nnz == exclude.sum() + 50
    before = zeros_exclude.copy()
    reference = evaluate_ranking(
        table_scorer(scores), sp.csr_matrix(truth), sp.csr_matrix(exclude), [5], [*ALL_TOPK, "auc"]
    )
    result = evaluate_ranking(table_scorer(scores), dup_truth, zeros_exclude.tocsc(), [5], [*ALL_TOPK, "auc"])
    assert result == reference
    result = evaluate_ranking(table_scorer(scores), dup_truth, zeros_exclude, [5], [*ALL_TOPK, "auc"])
    assert result == reference
    assert (zeros_exclude != before).nnz == 0 and zeros_exclude.nnz == before.nnz  # caller's matrix untouched


def test_module_scorer_float64_and_device_inference():
    class MF(torch.nn.Module):
        def __init__(self):
            super().__init__()
            gen = torch.Generator().manual_seed(0)
            self.users = torch.nn.Parameter(torch.randn(20, 4, generator=gen, dtype=torch.float64))
            self.items = torch.nn.Parameter(torch.randn(15, 4, generator=gen, dtype=torch.float64))

        def forward(self, users: torch.Tensor) -> torch.Tensor:
            return self.users[users] @ self.items.T

    model = MF()
    truth = sp.random(20, 15, density=0.2, random_state=0, format="csr")
    exclude = sp.random(20, 15, density=0.2, random_state=1, format="csr")
    via_module = evaluate_ranking(model, truth, exclude, [3], ["ndcg", "auc"])
    via_method = evaluate_ranking(model.forward, truth, exclude, [3], ["ndcg", "auc"], device="cpu")
    assert via_module == via_method
    table = (model.users @ model.items.T).detach().numpy()
    ex, tr = exclude.toarray() > 0, truth.toarray() > 0
    _, expected = brute_force(table, tr, ex, [3], ["ndcg", "auc"])
    np.testing.assert_allclose(via_module["auc"], np.nanmean(expected["auc"]), rtol=1e-12)
    np.testing.assert_allclose(via_module["ndcg@3"], expected["ndcg@3"].mean(), rtol=1e-12)


def test_bad_inputs():
    scores = np.zeros((3, 4), dtype=np.float32)
    truth = sp.csr_matrix(np.eye(3, 4))
    with pytest.raises(ConfigError, match="valid metrics"):
        evaluate_ranking(table_scorer(scores), truth, None, [2], ["ndgc"])
    with pytest.raises(ValueError, match="cut-off"):
        evaluate_ranking(table_scorer(scores), truth, None, [], ["ndcg"])
    with pytest.raises(ValueError, match="shape"):
        evaluate_ranking(table_scorer(scores), truth, sp.csr_matrix((3, 5)), [2], ["ndcg"])
    with pytest.raises(ValueError, match="scorer returned"):
        evaluate_ranking(table_scorer(scores), sp.csr_matrix(np.eye(3, 5)), None, [2], ["ndcg"])


def test_empty_truth_gives_nan_means():
    scores = np.zeros((3, 4), dtype=np.float32)
    result = evaluate_ranking(table_scorer(scores), sp.csr_matrix((3, 4)), None, [2], ["ndcg", "auc"])
    assert np.isnan(result["ndcg@2"]) and np.isnan(result["auc"])
