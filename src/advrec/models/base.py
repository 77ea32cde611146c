"""What every recommender offers: pair scores, full scores for a batch of users, and a scorer.

Models only score. Losses, sampling and adversaries live elsewhere and call these methods.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

Scorer = Callable[[torch.Tensor], torch.Tensor]


class Recommender(nn.Module):
    def __init__(self, n_users: int, n_items: int):
        super().__init__()
        self.n_users = n_users
        self.n_items = n_items

    def score(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores of (user, item) pairs: ``users`` [N], ``items`` [N] or [N, M] -> same shape as items."""
        raise NotImplementedError

    def full_scores(self, users: torch.Tensor) -> torch.Tensor:
        """Scores of every item for each user: [B] -> [B, n_items]."""
        raise NotImplementedError

    def scorer(self) -> Scorer:
        """A function users -> [B, n_items] for evaluation; models that propagate do it once here."""
        return self.full_scores

    def reg_loss(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Half the squared L2 norm of the parameters this batch used (summed over rows)."""
        raise NotImplementedError


def init_embedding(n: int, dim: int, std: float, generator: torch.Generator | None) -> nn.Embedding:
    emb = nn.Embedding(n, dim)
    with torch.no_grad():
        emb.weight.normal_(0.0, std, generator=generator)
    return emb
