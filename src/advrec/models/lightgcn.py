"""LightGCN (He et al., SIGIR 2020): embeddings averaged over K rounds of normalised propagation."""

from __future__ import annotations

import torch
from torch import nn

from advrec.data.graph import symmetric_matmul
from advrec.models.base import Deltas, Recommender, Scorer, check_deltas, gather_rows, init_embedding


class LightGCN(Recommender):
    def __init__(
        self,
        n_users: int,
        n_items: int,
        adjacency: torch.Tensor,
        dim: int = 64,
        n_layers: int = 2,
        init_std: float = 0.1,
        generator=None,
    ) -> None:
        super().__init__(n_users, n_items)
        self.n_layers = n_layers
        self.user_embedding = init_embedding(n_users, dim, init_std, generator)
        self.item_embedding = init_embedding(n_items, dim, init_std, generator)
        # A buffer so that .to(device) moves it; not saved: it is rebuilt from the split.
        self.register_buffer("adjacency", adjacency, persistent=False)

    def embedding_tables(self) -> dict[str, nn.Parameter]:
        return {"user": self.user_embedding.weight, "item": self.item_embedding.weight}

    def propagate(self, deltas: Deltas | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Final user and item embeddings; deltas perturb the ego (layer-0) embeddings, so they propagate."""
        check_deltas(self, deltas)
        ego = torch.cat([self.table("user", deltas), self.table("item", deltas)])
        total = ego
        layer = ego
        for _ in range(self.n_layers):
            layer = symmetric_matmul(self.adjacency, layer)
            total = total + layer
        final = total / (self.n_layers + 1)
        return final[: self.n_users], final[self.n_users :]

    def score(self, users: torch.Tensor, items: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        user_final, item_final = self.propagate(deltas)
        u = user_final.index_select(0, users)
        i = gather_rows(item_final, items)
        if items.dim() == 2:
            return (u.unsqueeze(1) * i).sum(-1)
        return (u * i).sum(-1)

    def full_scores(self, users: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        user_final, item_final = self.propagate(deltas)
        return user_final[users] @ item_final.T

    def scorer(self, deltas: Deltas | None = None) -> Scorer:
        user_final, item_final = self.propagate(deltas)
        return lambda users: user_final[users] @ item_final.T

    def reg_loss(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        u = self.user_embedding.weight.index_select(0, users)
        i = self.item_embedding.weight.index_select(0, items.reshape(-1))
        return 0.5 * (u.pow(2).sum() + i.pow(2).sum())
