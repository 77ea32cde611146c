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
    """``drop_fraction``/``add_fraction``: interaction-level augmentation of each epoch's triples (the
    ``augment`` config section), drawn from the same random stream as the order and the negatives, so
    a resumed run sees the same epochs. Both 0 (the default) gives exactly the plain epochs.

    - dropping: exactly ``round(p * n)`` training rows are left out of the epoch, chosen uniformly
      without replacement (at least one row stays);
    - adding: ``round(q * n)`` extra (user, item) rows are trained on as positives: the user of a
      uniformly drawn training row (so users get extra rows in proportion to their activity) and an item
      drawn uniformly among that user's non-positives. Added pairs are never training positives; they
      may repeat within an epoch, and their sampled negative may by chance equal the added item.
    """

    def __init__(
        self, train: Interactions, n_negatives: int = 1, drop_fraction: float = 0.0, add_fraction: float = 0.0
    ):
        if not (0.0 <= drop_fraction < 1.0 and add_fraction >= 0.0):
            raise ValueError(
                f"need 0 <= drop_fraction < 1 and add_fraction >= 0, got {drop_fraction}, {add_fraction}"
            )
        self.drop_fraction = drop_fraction
        self.add_fraction = add_fraction
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
        """Every training interaction once, in a fresh random order, with its negatives (less the dropped
        rows, plus the added ones, when the sampler augments)."""
        n = len(self.users)
        order = rng.permutation(n)
        if self.drop_fraction > 0:
            order = order[: max(1, n - round(self.drop_fraction * n))]  # a uniform subset, still shuffled
        users, pos = self.users[order], self.items[order]
        n_add = round(self.add_fraction * n)
        if n_add > 0:
            extra_users = self.users[rng.integers(0, n, size=n_add)]
            extra_items = self.negatives(extra_users, rng, 1)[:, 0]  # never a training positive
            mixed = rng.permutation(len(users) + n_add)
            users = np.concatenate([users, extra_users])[mixed]
            pos = np.concatenate([pos, extra_items])[mixed]
        neg = self.negatives(users, rng)
        return EpochBatches(torch.from_numpy(users), torch.from_numpy(pos), torch.from_numpy(neg))
