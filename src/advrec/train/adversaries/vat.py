"""VAT: vulnerability-aware adversarial training (Zhang, Cao, Wu, Sun, Shen and Cheng, "Improving the
shortest plank: vulnerability-aware adversarial training for robust recommender system", RecSys 2024).

Users the model fits closely are the ones a poisoning attack moves most, so they get the larger
perturbation. Per batch, each user's fit is its pair loss L_u over the batch's examples of that user
(their mean, or their sum as the authors' code takes it; ``user_loss``), and its vulnerability multiplier is

    m_u = λ · σ(L̄ / L_u − 1),     L̄ the mean of L_u over the batch's distinct users,

so a well-fitted user (small L_u) gets up to λ · ε, a poorly fitted one down to nearly 0. Training is APR
otherwise (``advrec.train.adversaries.apr``) with per-row radii from m (``personalised``).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from advrec.errors import ConfigError
from advrec.models.base import Recommender
from advrec.objectives.pairwise import Batch
from advrec.train.adversaries.personalised import (
    PersonalisedConfig,
    PersonalisedHook,
    build_personalised,
    multiplier,
)
from advrec.train.adversaries.registry import ADVERSARIES, AdversaryContext
from advrec.train.hooks import TrainHook

UserLoss = Literal["mean", "sum"]


class VATConfig(PersonalisedConfig):
    """VAT (Zhang et al., RecSys 2024): APR whose radius for each user grows with how well the model
    fits the user: eps · λ · σ(L̄ / L_u − 1), L_u the user's pair loss in the batch."""

    name: Literal["vat"] = "vat"
    eps: float = Field(
        0.6,
        ge=0,
        description="ε, the radius of an average user (× λ/2); 0.6 is the authors' MF setting on Gowalla",
    )
    user_loss: UserLoss = Field(
        "mean",
        description="L_u from the user's examples in the batch: their mean, or their sum (the authors' "
        "code, whose sampler draws users uniformly so that a user rarely repeats in a batch)",
    )


def user_losses(
    per_example: torch.Tensor, users: torch.Tensor, how: UserLoss
) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch's distinct users [U] and each one's loss [U] (mean or sum of its examples' losses)."""
    distinct, inverse = torch.unique(users, return_inverse=True)
    total = torch.zeros(len(distinct), dtype=per_example.dtype, device=per_example.device)
    total.index_add_(0, inverse.to(per_example.device), per_example)
    if how == "sum":
        return distinct, total
    count = torch.bincount(inverse, minlength=len(distinct)).to(total)
    return distinct, total / count


def vulnerability(losses: torch.Tensor, lam: float) -> torch.Tensor:
    """VAT's multiplier of ε per user: λ · σ(L̄ / L_u − 1)."""
    return multiplier(losses.mean() / (losses + 1e-9), lam)


class VATHook(PersonalisedHook):
    def __init__(self, *args, user_loss: UserLoss = "mean", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user_loss = user_loss

    def user_multipliers(self, model: Recommender, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        pos, neg = self.objective.scores(model, batch)
        per_example = torch.func.vmap(self.objective.loss)(pos, neg)  # the pair loss of each example
        users, losses = user_losses(per_example, batch["users"], self.user_loss)
        return users, vulnerability(losses, self.lam)


@ADVERSARIES.register(VATConfig)
def build_vat(cfg: VATConfig, ctx: AdversaryContext) -> list[TrainHook]:
    if not hasattr(ctx.objective, "scores"):
        raise ConfigError("adversary.name: vat needs a pairwise objective (a model that scores user ids)")
    return [build_personalised(cfg, ctx, VATHook, user_loss=cfg.user_loss)]
