"""LightGCN (He et al., SIGIR 2020): embeddings averaged over K rounds of normalised propagation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from pydantic import Field

from advrec.data.graph import normalized_adjacency, symmetric_matmul
from advrec.data.interactions import Interactions
from advrec.models.base import Deltas, Recommender, Scorer, check_deltas, gather_rows, init_embedding
from advrec.models.registry import MODELS, EmbeddingConfig


class LightGCNConfig(EmbeddingConfig):
    """LightGCN: embeddings averaged over ``n_layers`` rounds of normalised propagation."""

    name: Literal["lightgcn"] = "lightgcn"
    n_layers: int = Field(2, ge=0, description="propagation layers")


class LightGCN(Recommender):
    adjacency: torch.Tensor  # a buffer: the normalised user-item graph

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

    def embedding_tables(self) -> dict[str, torch.Tensor]:
        return {"user": self.user_embedding.weight, "item": self.item_embedding.weight}

    def propagate_layers(
        self, deltas: Deltas | None = None, perturb: Callable[[torch.Tensor], torch.Tensor] | None = None
    ) -> list[torch.Tensor]:
        """[E_0, E_1, ..., E_K]: the ego embeddings and each propagation layer (users, then items, in rows).

        ``perturb`` maps each propagated layer E_k (k >= 1) to the one kept and propagated further:
        the hook for noise-based contrastive views (SimGCL); None propagates exactly as ``propagate``.
        """
        check_deltas(self, deltas)
        layer = torch.cat([self.table("user", deltas), self.table("item", deltas)])
        layers = [layer]
        for _ in range(self.n_layers):
            layer = symmetric_matmul(self.adjacency, layer)
            if perturb is not None:
                layer = perturb(layer)
            layers.append(layer)
        return layers

    def split(self, table: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A [n_users + n_items, d] table cut into its user and item rows."""
        return table[: self.n_users], table[self.n_users :]

    def propagate(self, deltas: Deltas | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Final user and item embeddings; deltas perturb the ego (layer-0) embeddings, so they propagate."""
        return self.split(mean_of_layers(self.propagate_layers(deltas)))

    def score(self, users: torch.Tensor, items: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        return pair_scores(*self.propagate(deltas), users, items)

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


def mean_of_layers(layers: list[torch.Tensor]) -> torch.Tensor:
    """The mean of the given layers (LightGCN's final embedding when given E_0..E_K)."""
    total = layers[0]
    for layer in layers[1:]:
        total = total + layer
    return total / len(layers)


def pair_scores(
    user_final: torch.Tensor, item_final: torch.Tensor, users: torch.Tensor, items: torch.Tensor
) -> torch.Tensor:
    """Dot products of final embeddings: ``users`` [N], ``items`` [N] or [N, M] -> items' shape."""
    u = user_final.index_select(0, users)
    i = gather_rows(item_final, items)
    if items.dim() == 2:
        return (u.unsqueeze(1) * i).sum(-1)
    return (u * i).sum(-1)


@MODELS.register(LightGCNConfig)
def build_lightgcn(
    cfg: LightGCNConfig, train: Interactions, generator: torch.Generator, item_features=None
) -> LightGCN:
    adjacency = normalized_adjacency(train)
    return LightGCN(train.n_users, train.n_items, adjacency, cfg.dim, cfg.n_layers, cfg.init_std, generator)
