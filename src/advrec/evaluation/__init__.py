"""Evaluation: per-user ranking metrics and memory-bounded full-ranking over the whole catalogue."""

from advrec.evaluation.metrics import (
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
from advrec.evaluation.ranking import Scorer, evaluate_ranking, topk_items

__all__ = [
    "METRICS",
    "TOPK_METRICS",
    "AucStats",
    "Scorer",
    "auc",
    "average_precision",
    "compute_metrics",
    "evaluate_ranking",
    "f1",
    "hit",
    "mrr",
    "ndcg",
    "precision",
    "recall",
    "topk_items",
]
