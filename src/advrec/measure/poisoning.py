"""Target-item exposure: how visible the attacked items are to real users (the poisoning probe).

A target's rank for a user is 1 + the number of candidate items scored strictly higher, where the
candidates are every item not in the user's training profile (the items the recommender may still
show). Only *eligible* users count: real users with no training interaction with that target (a user
who already has the item cannot be shown it). Per target, metrics are means over its eligible users;
the reported value is the mean over targets, so every target weighs the same whatever its audience.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from advrec.measure.ranking import Scorer, _row_entries, check_finite_scores, rows_per_chunk

EXPOSURE_KS = (10, 20, 50)
NDCG_K = 50


def target_ranks_and_scores(
    scores: torch.Tensor, exclude: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Ranks (1 = top) and scores of ``targets`` in each row of ``scores`` [B, n_items], ignoring
    items where ``exclude`` [B, n_items] is True (a target excluded in a row gets a meaningless rank;
    callers drop those rows as ineligible). Returns two [B, n_targets] tensors."""
    masked = scores.masked_fill(exclude, float("-inf"))
    target_scores = scores[:, targets]
    higher = (masked[:, None, :] > target_scores[:, :, None]).sum(-1)
    return higher + 1, target_scores


def exposure_metrics(
    ranks: np.ndarray, eligible: np.ndarray, ks: tuple[int, ...] = EXPOSURE_KS, ndcg_k: int = NDCG_K
) -> dict[str, float]:
    """``target_hit@k`` and ``target_ndcg@ndcg_k`` from ranks [n_users, n_targets] and an eligibility
    mask of the same shape, averaged over each target's eligible users, then over targets (a target
    with no eligible user is left out). Also ``target_mean_rank``."""
    ranks = np.asarray(ranks, dtype=np.float64)
    eligible = np.asarray(eligible, dtype=bool)
    if ranks.shape != eligible.shape:
        raise ValueError(f"ranks {ranks.shape} and eligible {eligible.shape} differ in shape")
    counts = eligible.sum(0)
    keep = counts > 0
    if not keep.any():
        raise ValueError("no target has an eligible user")

    def per_target(values: np.ndarray) -> float:
        sums = np.where(eligible, values, 0.0).sum(0)
        return float((sums[keep] / counts[keep]).mean())

    out = {f"target_hit@{k}": per_target((ranks <= k).astype(np.float64)) for k in ks}
    gain = np.where(ranks <= ndcg_k, 1.0 / np.log2(ranks + 1.0), 0.0)
    out[f"target_ndcg@{ndcg_k}"] = per_target(gain)
    out["target_mean_rank"] = per_target(ranks)
    return out


def mean_shift(before: np.ndarray, after: np.ndarray, eligible: np.ndarray) -> float:
    """Mean over targets of the mean change (after - before) over the target's eligible users."""
    eligible = np.asarray(eligible, dtype=bool)
    counts = eligible.sum(0)
    keep = counts > 0
    sums = np.where(eligible, np.asarray(after, np.float64) - np.asarray(before, np.float64), 0.0).sum(0)
    return float((sums[keep] / counts[keep]).mean())


def score_targets(
    scorer: Scorer,
    users: np.ndarray,
    exclude: sp.csr_matrix,
    targets: np.ndarray,
    n_items: int,
    memory_budget_mb: float = 256.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Ranks and scores [len(users), n_targets] of the targets for ``users`` (rows of ``exclude``,
    the training matrix), scored in memory-bounded chunks. The [B, T, n_items] comparison is the
    chunk's largest tensor, so the chunk is sized for it."""
    users = np.asarray(users, dtype=np.int64)
    t = torch.as_tensor(np.asarray(targets, dtype=np.int64))
    chunk = max(1, rows_per_chunk(n_items * max(1, len(t)), memory_budget_mb))
    ranks, scores = [], []
    with torch.inference_mode():
        for start in range(0, len(users), chunk):
            rows = users[start : start + chunk]
            s = scorer(torch.from_numpy(rows)).float().cpu()
            check_finite_scores(s)
            mask = torch.zeros(s.shape, dtype=torch.bool)
            pos, cols = _row_entries(exclude, rows)
            mask[torch.from_numpy(pos), torch.from_numpy(cols)] = True
            r, ts = target_ranks_and_scores(s, mask, t)
            ranks.append(r.numpy())
            scores.append(ts.numpy())
    return np.concatenate(ranks), np.concatenate(scores)
