"""Matrix factorisation: score(u, i) = <p_u, q_i> (BPR-MF when trained with the BPR objective)."""

from __future__ import annotations

from typing import Literal

import torch

from advrec.data.interactions import Interactions
from advrec.models.base import Deltas, Recommender, check_deltas, gather_rows, init_embedding
from advrec.models.registry import MODELS, EmbeddingConfig


class MFConfig(EmbeddingConfig):
    """Matrix factorisation: a user and an item embedding table, scores by inner product."""

    name: Literal["mf"] = "mf"


class MF(Recommender):
    def __init__(
        self, n_users: int, n_items: int, dim: int = 64, init_std: float = 0.1, generator=None
    ) -> None:
        super().__init__(n_users, n_items)
        self.user_embedding = init_embedding(n_users, dim, init_std, generator)
        self.item_embedding = init_embedding(n_items, dim, init_std, generator)

    def embedding_tables(self) -> dict[str, torch.Tensor]:
        return {"user": self.user_embedding.weight, "item": self.item_embedding.weight}

    def score(self, users: torch.Tensor, items: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        check_deltas(self, deltas)
        u = gather_rows(self.table("user", deltas), users)
        i = gather_rows(self.table("item", deltas), items)
        if items.dim() == 2:
            return (u.unsqueeze(1) * i).sum(-1)
        return (u * i).sum(-1)

    def full_scores(self, users: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        check_deltas(self, deltas)
        return gather_rows(self.table("user", deltas), users) @ self.table("item", deltas).T

    def reg_loss(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        u = self.user_embedding.weight.index_select(0, users)
        i = self.item_embedding.weight.index_select(0, items.reshape(-1))
        return 0.5 * (u.pow(2).sum() + i.pow(2).sum())


@MODELS.register(MFConfig)
def build_mf(cfg: MFConfig, train: Interactions, generator: torch.Generator, item_features=None) -> MF:
    return MF(train.n_users, train.n_items, cfg.dim, cfg.init_std, generator)
