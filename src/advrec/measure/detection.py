"""Detection metrics: precision, recall, F1 of a flagged set and ROC AUC of suspicion scores.

Fake profiles (label 1) are the positive class. Conventions for empty cases: precision is 0 when nothing
is flagged, recall is 0 when there is no fake profile, F1 is 0 when precision + recall is 0, and AUC is
None (undefined) unless both classes are present.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def _check(labels: np.ndarray, other: np.ndarray, what: str) -> np.ndarray:
    labels = np.asarray(labels).ravel()
    if labels.shape != np.asarray(other).ravel().shape:
        raise ValueError(f"{what} has {np.asarray(other).size} entries, labels {labels.size}")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 (genuine) or 1 (fake)")
    return labels.astype(bool)


def precision_recall_f1(flags: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
    """Of the flagged profiles, the share that is fake; of the fake ones, the share flagged; their F1."""
    truth = _check(labels, flags, "flags")
    flags = np.asarray(flags, dtype=bool).ravel()
    tp = int(np.sum(flags & truth))
    n_flagged, n_fake = int(flags.sum()), int(truth.sum())
    precision = tp / n_flagged if n_flagged else 0.0
    recall = tp / n_fake if n_fake else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f1


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """P(score of a random fake > score of a random genuine profile), ties counting 1/2 (Mann-Whitney U
    from average ranks). Higher score = more suspicious."""
    truth = _check(labels, scores, "scores")
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    n_pos, n_neg = int(truth.sum()), int((~truth).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(scores)  # average ranks for ties
    u = ranks[truth].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def detection_metrics(flags: np.ndarray, scores: np.ndarray, labels: np.ndarray) -> dict[str, float | None]:
    precision, recall, f1 = precision_recall_f1(flags, labels)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "auc": roc_auc(scores, labels),
        "n_flagged": int(np.asarray(flags, dtype=bool).sum()),
    }


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates at every distinct threshold (descending), from (0, 0) to (1, 1)."""
    truth, scores = _sorted(scores, labels)
    tp, fp, _ = _cumulative(truth, scores)
    n_pos, n_neg = max(int(truth.sum()), 1), max(int((~truth).sum()), 1)
    return np.concatenate([[0.0], fp / n_neg]), np.concatenate([[0.0], tp / n_pos])


def pr_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Recall and precision when flagging every profile scoring at least each distinct threshold."""
    truth, scores = _sorted(scores, labels)
    tp, fp, _ = _cumulative(truth, scores)
    n_pos = max(int(truth.sum()), 1)
    return tp / n_pos, tp / np.maximum(tp + fp, 1)


def _sorted(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    truth = _check(labels, scores, "scores")
    scores = np.asarray(scores, dtype=np.float64).ravel()
    order = np.argsort(-scores, kind="stable")
    return truth[order], scores[order]


def _cumulative(truth: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # One point per distinct score: the last index of each run of equal (sorted) scores.
    last = np.flatnonzero(np.append(np.diff(scores) != 0, True))
    tp = np.cumsum(truth)[last].astype(np.float64)
    fp = (last + 1 - tp).astype(np.float64)
    return tp, fp, scores[last]
