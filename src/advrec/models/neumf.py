"""NeuMF (He et al., WWW 2017): a GMF branch and an MLP branch, fused by a final linear layer.

Dropout before each MLP layer: torch's (``nn.Dropout``), or with ``dropout_rng="counter"`` one counter-based
``MaskStream`` per forward pass (``advrec.models.counter_dropout``), the same on every device.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from advrec.data.interactions import Interactions
from advrec.models.base import Deltas, Recommender, check_deltas, init_embedding
from advrec.models.counter_dropout import MaskStream, check_dropout_rng
from advrec.models.registry import DROPOUT_RNG_DOC, MODELS, DropoutRng, EmbeddingConfig


class NeuMFConfig(EmbeddingConfig):
    """NeuMF: a GMF branch (``dim``) and an MLP tower (``mlp_layers``), fused by a linear layer."""

    name: Literal["neumf"] = "neumf"
    mlp_layers: list[int] = Field(
        default_factory=lambda: [64, 32, 16],
        min_length=1,
        description="MLP tower widths (the first: both halves)",
    )
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout before each MLP layer")
    dropout_rng: DropoutRng = Field("torch", description=DROPOUT_RNG_DOC)


class NeuMF(Recommender):
    def __init__(
        self,
        n_users: int,
        n_items: int,
        dim: int = 64,
        mlp_layers: list[int] | None = None,
        dropout: float = 0.0,
        init_std: float = 0.1,
        generator=None,
        dropout_rng: str = "torch",
    ) -> None:
        super().__init__(n_users, n_items)
        mlp_layers = mlp_layers or [64, 32, 16]
        self.dropout = dropout
        self.dropout_rng = check_dropout_rng(dropout_rng)  # "counter": advrec.models.counter_dropout
        self.gmf_user = init_embedding(n_users, dim, init_std, generator)
        self.gmf_item = init_embedding(n_items, dim, init_std, generator)
        half = mlp_layers[0] // 2
        self.mlp_user = init_embedding(n_users, half, init_std, generator)
        self.mlp_item = init_embedding(n_items, half, init_std, generator)
        blocks: list[nn.Module] = []
        width = 2 * half
        for out in mlp_layers[1:]:
            blocks += [nn.Dropout(dropout), nn.Linear(width, out), nn.ReLU()]
            width = out
        self.mlp = nn.Sequential(*blocks)
        self.predict = nn.Linear(dim + width, 1)
        with torch.no_grad():
            for module in [*self.mlp, self.predict]:
                if isinstance(module, nn.Linear):
                    bound = (6.0 / (module.in_features + module.out_features)) ** 0.5
                    module.weight.uniform_(-bound, bound, generator=generator)
                    module.bias.zero_()

    def embedding_tables(self) -> dict[str, torch.Tensor]:
        return {
            "gmf_user": self.gmf_user.weight,
            "gmf_item": self.gmf_item.weight,
            "mlp_user": self.mlp_user.weight,
            "mlp_item": self.mlp_item.weight,
        }

    def _lookup(self, name: str, index: torch.Tensor, deltas: Deltas | None) -> torch.Tensor:
        # F.embedding, as nn.Embedding calls it, so that deltas=None computes exactly what it did before.
        return F.embedding(index, self.table(name, deltas))

    def _fuse(self, gu, gi, mu, mi) -> torch.Tensor:
        mlp = self._mlp(torch.cat([mu.expand_as(mi), mi], dim=-1))
        return self.predict(torch.cat([gu * gi, mlp], dim=-1)).squeeze(-1)

    def _mlp(self, x: torch.Tensor) -> torch.Tensor:
        masks = MaskStream.for_forward(self.dropout_rng, self.dropout, self.training)
        if masks is None:
            return self.mlp(x)
        for module in self.mlp:
            x = masks(x) if isinstance(module, nn.Dropout) else module(x)
        return x

    def score(self, users: torch.Tensor, items: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        check_deltas(self, deltas)
        gu, mu = self._lookup("gmf_user", users, deltas), self._lookup("mlp_user", users, deltas)
        if items.dim() == 2:
            gu, mu = gu.unsqueeze(1), mu.unsqueeze(1)
        gi, mi = self._lookup("gmf_item", items, deltas), self._lookup("mlp_item", items, deltas)
        return self._fuse(gu, gi, mu, mi)

    def full_scores(self, users: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        check_deltas(self, deltas)
        gu = self._lookup("gmf_user", users, deltas).unsqueeze(1)
        mu = self._lookup("mlp_user", users, deltas).unsqueeze(1)
        gi = self.table("gmf_item", deltas).unsqueeze(0)
        mi = self.table("mlp_item", deltas).unsqueeze(0).expand(len(users), -1, -1)
        return self._fuse(gu, gi, mu, mi)

    def reg_loss(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        terms = [self.gmf_user(users), self.mlp_user(users), self.gmf_item(items), self.mlp_item(items)]
        return 0.5 * sum(t.pow(2).sum() for t in terms)


@MODELS.register(NeuMFConfig)
def build_neumf(
    cfg: NeuMFConfig, train: Interactions, generator: torch.Generator, item_features=None
) -> NeuMF:
    return NeuMF(
        train.n_users,
        train.n_items,
        cfg.dim,
        cfg.mlp_layers,
        cfg.dropout,
        cfg.init_std,
        generator,
        cfg.dropout_rng,
    )
