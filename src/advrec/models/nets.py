"""Small building blocks of the GAN players: a seeded MLP and a biased matrix factorisation."""

from __future__ import annotations

import torch
from torch import nn

from advrec.models.base import gather_rows, init_embedding


def mlp(sizes: list[int], generator: torch.Generator | None) -> nn.Sequential:
    """Linear layers with sigmoid between them (CFGAN's reference networks), no final activation.

    Glorot-uniform weights drawn from ``generator`` so that initialisation follows the run seed.
    """
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = nn.Linear(n_in, n_out)
        with torch.no_grad():
            bound = (6.0 / (n_in + n_out)) ** 0.5
            linear.weight.uniform_(-bound, bound, generator=generator)
            linear.bias.zero_()
        layers.append(linear)
        if i < len(sizes) - 2:
            layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


class BiasedMF(nn.Module):
    """score(u, i) = <p_u, q_i> + b_i: IRGAN's generator and discriminator."""

    def __init__(self, n_users: int, n_items: int, dim: int, init_std: float, generator=None) -> None:
        super().__init__()
        self.user_embedding = init_embedding(n_users, dim, init_std, generator)
        self.item_embedding = init_embedding(n_items, dim, init_std, generator)
        self.item_bias = nn.Parameter(torch.zeros(n_items))

    def score(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """``users`` [N], ``items`` [N] or [N, M] -> scores of items' shape."""
        u = gather_rows(self.user_embedding.weight, users)
        i = gather_rows(self.item_embedding.weight, items)
        if items.dim() == 2:
            u = u.unsqueeze(1)
        return (u * i).sum(-1) + self.item_bias[items]

    def full_scores(self, users: torch.Tensor) -> torch.Tensor:
        return gather_rows(self.user_embedding.weight, users) @ self.item_embedding.weight.T + self.item_bias

    def reg_loss(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Half the squared L2 norm of the rows (and biases) a batch used."""
        u = self.user_embedding.weight.index_select(0, users.reshape(-1))
        i = self.item_embedding.weight.index_select(0, items.reshape(-1))
        b = self.item_bias[items.reshape(-1)]
        return 0.5 * (u.pow(2).sum() + i.pow(2).sum() + b.pow(2).sum())
