"""Matrix factorisation: score(u, i) = <p_u, q_i> (BPR-MF when trained with the BPR objective)."""

from __future__ import annotations

import torch

from advrec.models.base import Recommender, init_embedding


class MF(Recommender):
    def __init__(
        self, n_users: int, n_items: int, dim: int = 64, init_std: float = 0.1, generator=None
    ) -> None:
        super().__init__(n_users, n_items)
        self.user_embedding = init_embedding(n_users, dim, init_std, generator)
        self.item_embedding = init_embedding(n_items, dim, init_std, generator)

    def score(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        u = self.user_embedding.weight.index_select(0, users)
        i = self.item_embedding.weight.index_select(0, items.reshape(-1)).view(*items.shape, -1)
        if items.dim() == 2:
            return (u.unsqueeze(1) * i).sum(-1)
        return (u * i).sum(-1)

    def full_scores(self, users: torch.Tensor) -> torch.Tensor:
        return self.user_embedding(users) @ self.item_embedding.weight.T

    def reg_loss(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        u = self.user_embedding.weight.index_select(0, users)
        i = self.item_embedding.weight.index_select(0, items.reshape(-1))
        return 0.5 * (u.pow(2).sum() + i.pow(2).sum())
