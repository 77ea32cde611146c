"""Training-stability signals of a GAN: running means of each player's numbers, and mode collapse."""

from __future__ import annotations

import math
from collections import defaultdict

import torch


class RunningMeans:
    """Weighted means of named numbers over an epoch (weights: rows in the batch)."""

    def __init__(self) -> None:
        self._sums: dict[str, float] = defaultdict(float)
        self._weights: dict[str, float] = defaultdict(float)

    def add(self, weight: float, **values: float) -> None:
        for name, value in values.items():
            self._sums[name] += float(value) * weight
            self._weights[name] += weight

    def means(self) -> dict[str, float]:
        return {name: self._sums[name] / self._weights[name] for name in self._sums}


def topk_diversity(scores: torch.Tensor, seen: torch.Tensor, k: int) -> dict[str, float]:
    """Coverage and normalised entropy of the top-k items over all users (seen items excluded).

    ``coverage``: share of the catalogue that appears in at least one user's top-k. ``entropy``: Shannon
    entropy of how often each item appears across all top-k lists, divided by log(n_items): 1 when every
    item appears equally often, 0 when every user gets the same k items. A generator that collapses
    onto a few modes drives both towards k / n_items and 0.
    """
    n_items = scores.shape[1]
    k = min(k, n_items)
    masked = scores.masked_fill(seen, float("-inf"))
    top = masked.topk(k, dim=1).indices.reshape(-1)
    counts = torch.bincount(top, minlength=n_items).double()
    p = counts[counts > 0] / counts.sum()
    entropy = float(-(p * p.log()).sum()) / math.log(n_items)
    return {"coverage": float((counts > 0).double().mean()), "entropy": entropy}
