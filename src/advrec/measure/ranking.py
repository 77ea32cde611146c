"""Full-ranking evaluation: score every item for every user, in memory-bounded chunks of users.

Sampled-negative evaluation overstates quality and can reorder models, so advrec ranks each user
against the whole catalogue. Only the score chunk ``[B, n_items]`` and its scratch live on the device
at a time; the exclusion mask (the user's training items) is scattered into that chunk from the sparse
rows, never materialised as a dense ``n_users x n_items`` matrix, and only ``[B, K]`` results come
back to the host.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from advrec.errors import NonFiniteScores
from advrec.measure.metrics import AucStats, compute_metrics, validate_ks, validate_metric_names

Scorer = Callable[[torch.Tensor], torch.Tensor]
"""Maps a LongTensor of user indices ``[B]`` to float scores for every item ``[B, n_items]``.

Scores must be finite (``-inf`` marks excluded items). The returned tensor is modified in place, so it
must be a fresh tensor (a matmul result is), not a view of a cached score table. Put the model in
``eval()`` mode first.
"""

_SCRATCH_BYTES_PER_SCORE = 4 * 3
"""Per scored (user, item): the float32 score plus about two more floats of scratch (the 1-byte truth
mask, ``topk``'s work space, and for AUC a sorted copy of the scores)."""


def rows_per_chunk(n_items: int, memory_budget_mb: float) -> int:
    """How many users to score at once so that the chunk and its scratch fit in the budget."""
    if not memory_budget_mb > 0:  # NaN too
        raise ValueError(f"memory_budget_mb must be positive, got {memory_budget_mb}")
    if math.isinf(memory_budget_mb):  # no bound: every user in one chunk
        return 1 << 62
    budget = int(memory_budget_mb * 2**20)
    return max(1, budget // (max(n_items, 1) * _SCRATCH_BYTES_PER_SCORE))


def _as_csr(mat: sp.spmatrix | sp.sparray | None, name: str) -> sp.csr_matrix | None:
    """CSR with sorted, duplicate-free rows and no stored zeros, so row lengths count distinct items.

    The caller's matrix is never modified: a copy is made only when it needs cleaning.
    """
    if mat is None:
        return None
    if not sp.issparse(mat):
        raise TypeError(f"{name} must be a scipy sparse matrix, got {type(mat).__name__}")
    csr = sp.csr_matrix(mat)
    if not csr.has_canonical_format or (csr.data == 0).any():
        csr = csr.copy()
        csr.sum_duplicates()
        csr.eliminate_zeros()
    return csr


def _row_entries(csr: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COO entries of ``csr[rows]`` as (position in ``rows``, column), without a Python loop."""
    starts = csr.indptr[rows].astype(np.int64)
    lengths = csr.indptr[rows + 1].astype(np.int64) - starts
    positions = np.repeat(np.arange(len(rows), dtype=np.int64), lengths)
    # offsets into csr.indices: for entry j of the chunk, starts[row] + (j - first entry of that row)
    firsts = np.cumsum(lengths) - lengths
    offsets = np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(starts - firsts, lengths)
    return positions, csr.indices[offsets].astype(np.int64)


def _resolve_device(scorer: Scorer, device: torch.device | str | None) -> torch.device:
    """The explicit device, else that of the scorer's module (or bound method's module), else CPU."""
    if device is not None:
        return torch.device(device)
    module = scorer if isinstance(scorer, torch.nn.Module) else getattr(scorer, "__self__", None)
    if isinstance(module, torch.nn.Module):
        for tensor in (*module.parameters(), *module.buffers()):
            return tensor.device
    return torch.device("cpu")


def _chunks(users: np.ndarray, size: int) -> Iterator[tuple[int, np.ndarray]]:
    for start in range(0, len(users), size):
        yield start, users[start : start + size]


def _to_device(*arrays: np.ndarray, device: torch.device) -> list[torch.Tensor]:
    return [torch.from_numpy(a).to(device) for a in arrays]


def _masked_scores(
    scorer: Scorer, users: np.ndarray, exclude: sp.csr_matrix | None, n_items: int, device: torch.device
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
    """Scores of a chunk with excluded items at ``-inf``, and the excluded entries (on the device)."""
    scores = scorer(torch.from_numpy(users).to(device))
    if scores.shape != (len(users), n_items):
        raise ValueError(f"scorer returned shape {tuple(scores.shape)}, expected {(len(users), n_items)}")
    check_finite_scores(scores)
    if exclude is None:
        return scores, None
    rows, cols = _to_device(*_row_entries(exclude, users), device=scores.device)
    scores.index_put_((rows, cols), torch.tensor(float("-inf"), dtype=scores.dtype, device=scores.device))
    return scores, (rows, cols)


def check_finite_scores(scores: torch.Tensor) -> None:
    """Refuse scores that are NaN or infinite: ranks of such scores are no ranking (NaN sorts last or
    first by implementation, and an AUC above 1 came out of them), so no metric may be computed."""
    bad = ~torch.isfinite(scores)
    if bool(bad.any()):
        rows = int(bad.any(dim=1).sum())
        raise NonFiniteScores(
            f"the model's scores hold NaN or infinite values ({rows} of {scores.shape[0]} users' rows in a "
            "chunk); no metric is computed from them: the model (its checkpoint) is damaged, its training "
            "diverged, or a perturbation overflowed"
        )


def _n_candidates(exclude: sp.csr_matrix | None, users: np.ndarray, n_items: int) -> np.ndarray:
    if exclude is None:
        return np.full(len(users), n_items, dtype=np.int64)
    return n_items - np.diff(exclude.indptr)[users].astype(np.int64)


def _topk(scores: torch.Tensor, k: int, n_candidates: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k item indices ``[B, min(k, n_items)]`` and which slots hold a real candidate.

    A user with fewer than k candidates gets excluded (``-inf``) items in the tail; ``valid`` marks
    those slots False so they are neither returned nor counted as hits.
    """
    top = torch.topk(scores, min(k, scores.shape[1]), dim=1, sorted=True).indices
    n_cand = torch.from_numpy(n_candidates).to(scores.device)
    valid = torch.arange(top.shape[1], device=scores.device)[None, :] < n_cand[:, None]
    return top, valid


def topk_items(
    scorer: Scorer,
    users: np.ndarray,
    exclude: sp.csr_matrix | None,
    k: int,
    *,
    memory_budget_mb: float = 256,
    device: torch.device | str | None = None,
) -> np.ndarray:
    """The k best-scored non-excluded items of each user, best first: int64 ``[len(users), k]``.

    ``exclude`` (users x items, e.g. the training matrix) lists items never to recommend. Slots beyond a
    user's number of candidates are ``-1``. Ties are broken by ``torch.topk`` (unspecified order).
    """
    return topk_scored(scorer, users, exclude, k, memory_budget_mb=memory_budget_mb, device=device)[0]


def topk_scored(
    scorer: Scorer,
    users: np.ndarray,
    exclude: sp.csr_matrix | None,
    k: int,
    *,
    memory_budget_mb: float = 256,
    device: torch.device | str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``topk_items`` and the score of each of those items: float32 ``[len(users), k]``, NaN where the
    item slot is ``-1``."""
    if k < 1:
        raise ValueError(f"k must be positive, got {k}")
    users = np.asarray(users, dtype=np.int64).reshape(-1)
    exclude = _as_csr(exclude, "exclude")
    device = _resolve_device(scorer, device)
    out = np.full((len(users), k), -1, dtype=np.int64)
    values = np.full((len(users), k), np.nan, dtype=np.float32)
    with torch.inference_mode():
        n_items = exclude.shape[1] if exclude is not None else _probe_n_items(scorer, users, device)
        size = rows_per_chunk(n_items or 1, memory_budget_mb)
        for start, chunk in _chunks(users, size):
            scores, _ = _masked_scores(scorer, chunk, exclude, n_items, device)
            top, valid = _topk(scores, k, _n_candidates(exclude, chunk, n_items))
            picked = torch.where(valid, scores.gather(1, top).float(), float("nan"))
            top = torch.where(valid, top, torch.full_like(top, -1))
            out[start : start + len(chunk), : top.shape[1]] = top.cpu().numpy()
            values[start : start + len(chunk), : top.shape[1]] = picked.cpu().numpy()
    return out, values


def _probe_n_items(scorer: Scorer, users: np.ndarray, device: torch.device) -> int:
    """Catalogue size from scoring one user, for when no matrix gives it (0 without users)."""
    if not len(users):
        return 0
    return int(scorer(torch.from_numpy(users[:1]).to(device)).shape[1])


def _sorted_rows(scores: torch.Tensor) -> torch.Tensor:
    """Each row sorted ascending (values only).

    On CPU numpy's vectorised sort is about ten times faster than ``torch.sort``, which also builds
    the index tensor we do not need; on accelerators ``torch.sort`` keeps the work on the device.
    """
    if scores.dtype not in (torch.float32, torch.float64):
        scores = scores.float()  # half precision: numpy has no bfloat16, and float32 holds it exactly
    if scores.device.type == "cpu":
        return torch.from_numpy(np.sort(scores.numpy(), axis=1))
    return torch.sort(scores, dim=1).values


def _positive_rank_sums(scores: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Per chunk row, the sum over its positives of each one's descending mid-rank (see ``AucStats``).

    A positive's mid-rank is ``#higher + (#tied - 1) / 2`` over its row. Sorting each row once and
    binary-searching the positives costs ``O(n log n)`` per user whatever the number of positives,
    and the scratch is one sorted copy of the chunk plus a small ``[B, max positives]`` table. Excluded
    items sit at ``-inf``, below every positive, so they change no count of higher or tied items.
    ``rows`` must be grouped by row (as CSR order is).
    """
    n_rows, n_items = scores.shape
    if len(rows) == 0:
        return torch.zeros(n_rows, dtype=torch.float64, device=scores.device)
    ordered = _sorted_rows(scores)
    counts = torch.bincount(rows, minlength=n_rows)
    slot = torch.arange(len(rows), device=rows.device) - (torch.cumsum(counts, 0) - counts)[rows]
    own = torch.zeros((n_rows, int(counts.max())), dtype=ordered.dtype, device=ordered.device)
    own[rows, slot] = scores[rows, cols].to(ordered.dtype)
    below = torch.searchsorted(ordered, own)  # items strictly lower
    not_above = torch.searchsorted(ordered, own, right=True)  # items lower or tied (itself included)
    ranks = (n_items - not_above) + 0.5 * (not_above - below - 1).double()
    sums = torch.zeros(n_rows, dtype=torch.float64, device=scores.device)
    return sums.index_add_(0, rows, ranks[rows, slot])


def _validate_truth(truth: Any, exclude: Any) -> tuple[sp.csr_matrix, sp.csr_matrix | None]:
    truth_csr = _as_csr(truth, "truth")
    exclude_csr = _as_csr(exclude, "exclude")
    if truth_csr is None:
        raise ValueError("truth is required (a users x items matrix)")
    if exclude_csr is not None and exclude_csr.shape != truth_csr.shape:
        raise ValueError(f"exclude has shape {exclude_csr.shape} but truth has {truth_csr.shape}")
    return truth_csr, exclude_csr


def _mean(values: np.ndarray) -> float:
    """Mean over users; NaN entries (AUC of users without negatives) are skipped, empty -> NaN."""
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float("nan")


def evaluate_ranking(
    scorer: Scorer,
    truth: sp.csr_matrix,
    exclude: sp.csr_matrix | None,
    ks: Iterable[int],
    metrics: Iterable[str],
    *,
    memory_budget_mb: float = 256,
    device: torch.device | str | None = None,
    per_user: bool = False,
) -> dict[str, Any]:
    """Full-ranking metrics for every user with at least one ``truth`` item.

    ``truth`` and ``exclude`` are users x items sparse matrices (any non-zero counts). Excluded items
    (training items; training + validation when testing) are never ranked. ``n_relevant`` is the whole
    truth row, so a truth item that is also excluded can never be hit (splits should keep them
    disjoint); for AUC only non-excluded items are candidates.

    Returns the mean of each metric as a python float, keyed ``"ndcg@10"``, ``"auc"``, ... With
    ``per_user=True`` the dict also holds ``"per_user"`` (the same keys -> float64 arrays aligned with
    ``"users"``) and ``"users"`` (the evaluated user indices, int64), for paired significance tests.
    AUC (one extra sort of every score row) is only computed when requested.
    """
    names = validate_metric_names(metrics)
    ks = validate_ks(ks)
    topk_names = [n for n in names if n != "auc"]
    if topk_names and not ks:
        raise ValueError(f"metrics {topk_names} need at least one cut-off in ks")
    truth, exclude = _validate_truth(truth, exclude)
    users = np.flatnonzero(np.diff(truth.indptr) > 0).astype(np.int64)
    big_k = max(ks) if topk_names else 0
    device = _resolve_device(scorer, device)
    with torch.inference_mode():
        hits, auc_stats = _rank_all(
            scorer, users, truth, exclude, big_k, "auc" in names, memory_budget_mb, device
        )
    n_relevant = np.diff(truth.indptr)[users]
    values = compute_metrics(hits, n_relevant, ks if topk_names else [], names, auc_stats)
    result: dict[str, Any] = {key: _mean(v) for key, v in values.items()}
    if per_user:
        result["per_user"] = values
        result["users"] = users
    return result


def _candidate_truth(
    shape: torch.Size, rows: torch.Tensor, cols: torch.Tensor, excluded: tuple[torch.Tensor, ...] | None
) -> torch.Tensor:
    """Dense bool ``[B, n_items]`` of the chunk's truth items that are candidates (not excluded).

    One byte per score, it turns hit lookup into a ``gather`` of the top-k indices.
    """
    is_truth = torch.zeros(shape, dtype=torch.bool, device=rows.device)
    is_truth[rows, cols] = True
    if excluded is not None:
        is_truth[excluded] = False
    return is_truth


def _rank_all(
    scorer: Scorer,
    users: np.ndarray,
    truth: sp.csr_matrix,
    exclude: sp.csr_matrix | None,
    big_k: int,
    want_auc: bool,
    memory_budget_mb: float,
    device: torch.device,
) -> tuple[np.ndarray, AucStats | None]:
    """Hits ``[len(users), big_k]`` and, if asked, the AUC statistics, one chunk of users at a time."""
    n_items = truth.shape[1]
    size = rows_per_chunk(n_items, memory_budget_mb)
    hits = np.zeros((len(users), big_k), dtype=bool)
    n_candidates = _n_candidates(exclude, users, n_items)
    rank_sum = np.zeros(len(users), dtype=np.float64)
    n_positive = np.zeros(len(users), dtype=np.int64)
    for start, chunk in _chunks(users, size):
        part = slice(start, start + len(chunk))
        scores, excluded = _masked_scores(scorer, chunk, exclude, n_items, device)
        rows, cols = _to_device(*_row_entries(truth, chunk), device=scores.device)
        is_truth = _candidate_truth(scores.shape, rows, cols, excluded)
        if big_k:
            top, valid = _topk(scores, big_k, n_candidates[part])
            hits[part, : top.shape[1]] = (is_truth.gather(1, top) & valid).cpu().numpy()
        if want_auc:
            keep = is_truth[rows, cols]
            rows, cols = rows[keep], cols[keep]
            rank_sum[part] = _positive_rank_sums(scores, rows, cols).cpu().numpy()
            n_positive[part] = torch.bincount(rows, minlength=len(chunk)).cpu().numpy()
    auc_stats = AucStats(rank_sum, n_positive, n_candidates) if want_auc else None
    return hits, auc_stats
