"""Vectorised negative sampling that never returns one of the user's positives.

Negatives are drawn uniformly for all rows at once; the few that hit a positive are redrawn (again
all at once) until none do. Membership is a lookup of ``user * n_items + item`` in a bitmap (small
catalogues) or a binary search in the sorted keys (large ones).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from advrec.data.interactions import Interactions

DENSE_LIMIT = 1 << 26


@dataclass
class EpochBatches:
    """One epoch of training triples, as tensors; the trainer takes batches as contiguous slices."""

    users: torch.Tensor
    pos: torch.Tensor
    neg: torch.Tensor  # [n, n_negatives]

    def __len__(self) -> int:
        return len(self.users)


class NegativeSampler:
    def __init__(self, train: Interactions, n_negatives: int = 1):
        self.n_items = train.n_items
        self.n_negatives = n_negatives
        self.users = train.users.astype(np.int64)
        self.items = train.items.astype(np.int64)
        self._keys = np.unique(self.users * self.n_items + self.items)
        # A dense bitmap answers membership with one gather; above ~64M cells fall back to binary search.
        self._dense: np.ndarray | None = None
        if train.n_users * self.n_items <= DENSE_LIMIT:
            self._dense = np.zeros(train.n_users * self.n_items, dtype=bool)
            self._dense[self._keys] = True
        full = np.bincount(self.users, minlength=train.n_users) >= self.n_items
        if full.any():
            raise ValueError(f"{int(full.sum())} users interacted with every item: no negative exists")

    def is_positive(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        keys = users * self.n_items + items
        if self._dense is not None:
            return self._dense[keys]
        idx = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
        return self._keys[idx] == keys

    def negatives(self, users: np.ndarray, rng: np.random.Generator, n: int | None = None) -> np.ndarray:
        """[len(users), n] items, none of them a positive of its row's user."""
        n = self.n_negatives if n is None else n
        rows = np.repeat(users, n)
        neg = rng.integers(0, self.n_items, size=len(rows))
        bad = np.flatnonzero(self.is_positive(rows, neg))
        while len(bad):
            neg[bad] = rng.integers(0, self.n_items, size=len(bad))
            bad = bad[self.is_positive(rows[bad], neg[bad])]
        return neg.reshape(len(users), n)

    def epoch(self, rng: np.random.Generator) -> EpochBatches:
        """Every training interaction once, in a fresh random order, with its negatives."""
        order = rng.permutation(len(self.users))
        users, pos = self.users[order], self.items[order]
        neg = self.negatives(users, rng)
        return EpochBatches(torch.from_numpy(users), torch.from_numpy(pos), torch.from_numpy(neg))
