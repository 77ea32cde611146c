"""NeuMF (He et al., WWW 2017): a GMF branch and an MLP branch, fused by a final linear layer."""

from __future__ import annotations

import torch
from torch import nn

from advrec.models.base import Recommender, init_embedding


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
    ) -> None:
        super().__init__(n_users, n_items)
        mlp_layers = mlp_layers or [64, 32, 16]
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

    def _fuse(self, gu, gi, mu, mi) -> torch.Tensor:
        mlp = self.mlp(torch.cat([mu.expand_as(mi), mi], dim=-1))
        return self.predict(torch.cat([gu * gi, mlp], dim=-1)).squeeze(-1)

    def score(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        gu, mu = self.gmf_user(users), self.mlp_user(users)
        if items.dim() == 2:
            gu, mu = gu.unsqueeze(1), mu.unsqueeze(1)
        return self._fuse(gu, self.gmf_item(items), mu, self.mlp_item(items))

    def full_scores(self, users: torch.Tensor) -> torch.Tensor:
        gu = self.gmf_user(users).unsqueeze(1)
        mu = self.mlp_user(users).unsqueeze(1)
        gi = self.gmf_item.weight.unsqueeze(0)
        mi = self.mlp_item.weight.unsqueeze(0).expand(len(users), -1, -1)
        return self._fuse(gu, gi, mu, mi)

    def reg_loss(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        terms = [self.gmf_user(users), self.mlp_user(users), self.gmf_item(items), self.mlp_item(items)]
        return 0.5 * sum(t.pow(2).sum() for t in terms)
