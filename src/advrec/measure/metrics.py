"""Per-user ranking metrics as pure numpy functions.

Every top-k metric takes the same two arrays, which the ranking code produces in one pass:

* ``hits``: bool ``[n_users, K]``; ``hits[u, r]`` is True when the item at 0-based rank ``r`` of user
  ``u``'s top-K list is relevant.
* ``n_relevant``: int ``[n_users]``; the size of the user's ground-truth set (which may be larger than
  the number of hits, or than ``K``).

and returns the *per-user* values (float64 ``[n_users]``) at a cut-off ``k <= K``. The mean is left to
the caller so that paired significance tests can later work on the per-user values.

Users with no relevant item have no defined recall/nDCG/AP; the caller must drop them before calling
(``evaluate_ranking`` evaluates only users with at least one truth item). Passing such a user is an
error rather than a silent 0 or NaN that would bias the mean.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from advrec.errors import ConfigError

TopKMetric = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


def _prepare(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate the shared inputs and return ``(hits[:, :k] as bool, n_relevant as float64)``."""
    hits = np.asarray(hits, dtype=bool)
    n_relevant = np.asarray(n_relevant)
    if hits.ndim != 2 or n_relevant.shape != (hits.shape[0],):
        raise ValueError(
            f"hits must be [n_users, K] and n_relevant [n_users]; got {hits.shape}, {n_relevant.shape}"
        )
    if not 1 <= k <= hits.shape[1]:
        raise ValueError(f"k={k} must be in [1, K={hits.shape[1]}]")
    if n_relevant.size and n_relevant.min() < 1:
        raise ValueError("every user needs a relevant item; drop users with empty ground truth first")
    return hits[:, :k], n_relevant.astype(np.float64)


def _discounts(k: int) -> np.ndarray:
    """``1 / log2(rank + 2)`` for 0-based ranks ``0..k-1`` (rank 0 -> 1, rank 1 -> 1/log2(3), ...)."""
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def precision(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Hits in the top-k divided by k (not by ``min(k, n_relevant)``, the usual convention)."""
    top, _ = _prepare(hits, n_relevant, k)
    return top.sum(axis=1, dtype=np.float64) / k


def recall(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Hits in the top-k divided by the size of the whole ground-truth set."""
    top, n_rel = _prepare(hits, n_relevant, k)
    return top.sum(axis=1, dtype=np.float64) / n_rel


def f1(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Per-user harmonic mean of precision@k and recall@k; 0 when both are 0 (no hit)."""
    p = precision(hits, n_relevant, k)
    r = recall(hits, n_relevant, k)
    total = p + r
    return np.divide(2.0 * p * r, total, out=np.zeros_like(total), where=total > 0)


def ndcg(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Binary-gain nDCG@k with a log2 discount.

    The ideal DCG puts ``min(n_relevant, k)`` relevant items first, so a user with more relevant items
    than ``k`` can still reach 1.
    """
    top, n_rel = _prepare(hits, n_relevant, k)
    disc = _discounts(k)
    dcg = top @ disc
    ideal = np.cumsum(disc)[np.minimum(n_rel, k).astype(np.int64) - 1]
    return dcg / ideal


def hit(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Hit ratio: 1 when at least one relevant item is in the top-k, else 0."""
    top, _ = _prepare(hits, n_relevant, k)
    return np.asarray(top.any(axis=1), dtype=np.float64)


def mrr(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Reciprocal (1-based) rank of the first relevant item within the top-k, 0 when there is none."""
    top, _ = _prepare(hits, n_relevant, k)
    first = top.argmax(axis=1)  # 0 when the row has no hit; masked below
    return np.where(top.any(axis=1), 1.0 / (first + 1.0), 0.0)


def average_precision(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """AP@k: the mean of precision@r over the ranks r <= k that hold a relevant item.

    Convention (RecBole's, and most libraries'): the sum is divided by ``min(n_relevant, k)``, the most
    hits a top-k list can contain, so a perfect list scores 1 even when ``n_relevant > k``. Dividing by
    ``n_relevant`` (the "TREC" convention) would cap such users below 1, and dividing by the number of
    hits would reward lists with a single lucky hit.
    """
    top, n_rel = _prepare(hits, n_relevant, k)
    prec_at_r = np.cumsum(top, axis=1, dtype=np.float64) / np.arange(1, k + 1, dtype=np.float64)
    return (prec_at_r * top).sum(axis=1) / np.minimum(n_rel, k)


class AucStats(NamedTuple):
    """Sufficient statistics for per-user AUC, cheap to gather while ranking.

    ``pos_rank_sum[u]`` is the sum, over the user's positive candidates, of each positive's descending
    0-based mid-rank among all of the user's candidates: the number of candidates scoring strictly
    higher plus half of the *other* candidates tied with it. ``n_positive`` counts positive candidates
    and ``n_candidates`` all candidates (positives and negatives; excluded items are not candidates).
    """

    pos_rank_sum: np.ndarray
    n_positive: np.ndarray
    n_candidates: np.ndarray


def auc(pos_rank_sum: np.ndarray, n_positive: np.ndarray, n_candidates: np.ndarray) -> np.ndarray:
    """Per-user AUC: fraction of (positive, negative) pairs where the positive scores higher, ties 1/2.

    Each positive's mid-rank counts the negatives above it plus the positives above it (ties half).
    Over all positives the positive-positive part sums to exactly ``P(P-1)/2`` (every pair contributes
    1 in total, whichever way it is ordered or tied), so the number of mis-ordered pairs is
    ``pos_rank_sum - P(P-1)/2`` and ``AUC = 1 - that / (P * N)``. This needs one rank per positive
    instead of all ``P * N`` pairs.

    AUC is undefined (NaN) for a user with no positive or no negative candidate; ``evaluate_ranking``
    averages with ``nanmean``.
    """
    rank_sum = np.asarray(pos_rank_sum, dtype=np.float64)
    n_pos = np.asarray(n_positive, dtype=np.float64)
    n_neg = np.asarray(n_candidates, dtype=np.float64) - n_pos
    pairs = n_pos * n_neg
    wrong = rank_sum - n_pos * (n_pos - 1.0) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pairs > 0, 1.0 - wrong / pairs, np.nan)


TOPK_METRICS: Mapping[str, TopKMetric] = MappingProxyType(
    {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "ndcg": ndcg,
        "hit": hit,
        "mrr": mrr,
        "map": average_precision,
    }
)
"""Metrics evaluated at each cut-off k; their results are keyed ``"<name>@<k>"``."""

METRICS: Mapping[str, Callable[..., np.ndarray]] = MappingProxyType({**TOPK_METRICS, "auc": auc})
"""Every metric by name. ``auc`` takes :class:`AucStats` fields instead of hits and has no cut-off."""


def validate_metric_names(names: Iterable[str]) -> list[str]:
    """Lower-cased, de-duplicated names (order kept); an unknown name raises ``ConfigError``."""
    out: list[str] = []
    for name in names:
        key = str(name).strip().lower()
        if key not in METRICS:
            raise ConfigError(f"unknown metric {name!r}; valid metrics are: {', '.join(sorted(METRICS))}")
        if key not in out:
            out.append(key)
    return out


def validate_ks(ks: Iterable[int]) -> list[int]:
    """Sorted unique cut-offs; each must be a positive integer (``ConfigError`` otherwise)."""
    ks = list(ks)
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ConfigError(f"metric cut-off k must be a positive integer, got {k!r}")
    return sorted({int(k) for k in ks})


def compute_metrics(
    hits: np.ndarray,
    n_relevant: np.ndarray,
    ks: Iterable[int],
    names: Iterable[str],
    auc_stats: AucStats | None = None,
) -> dict[str, np.ndarray]:
    """Per-user values of every requested metric, keyed lower-case ``"ndcg@10"``, ..., ``"auc"``.

    Top-k metrics are computed at each k in ``ks`` (each ``k <= hits.shape[1]``); ``"auc"`` needs
    ``auc_stats`` and yields a single ``"auc"`` key.
    """
    names = validate_metric_names(names)
    ks = validate_ks(ks)
    out: dict[str, np.ndarray] = {}
    for name in names:
        if name == "auc":
            if auc_stats is None:
                raise ValueError("metric 'auc' needs auc_stats (see AucStats)")
            out["auc"] = auc(*auc_stats)
            continue
        for k in ks:
            out[f"{name}@{k}"] = TOPK_METRICS[name](hits, n_relevant, k)
    return out
