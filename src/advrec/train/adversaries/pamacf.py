"""PamaCF: personalised magnitude adversarial collaborative filtering (Zhang, Cao, Wu, Sun, Shen and
Cheng, "Understanding and improving adversarial collaborative filtering for robust recommendation",
NeurIPS 2024).

The paper bounds how much adversarial training lowers a user's error and finds the bound grows with the
user's embedding scale, so a user with a longer embedding can take a larger perturbation. Per batch, with
s_j = ||p_{u_j}||² the squared norm of example j's user embedding (summed over the model's user tables),
each user's multiplier is

    m_u = λ · σ(s_u / s̄ − 1),     s̄ the mean of s_j over the batch's examples,

and training is APR otherwise (``advrec.train.adversaries.apr``) with per-row radii from m
(``personalised``). The scale is read from the user table the perturbation moves (for LightGCN the layer-0
embedding; the authors' code reads the propagated one).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from advrec.models.base import Recommender
from advrec.objectives.pairwise import Batch
from advrec.train.adversaries.personalised import (
    PersonalisedConfig,
    PersonalisedHook,
    build_personalised,
    is_user_table,
    multiplier,
)
from advrec.train.adversaries.registry import ADVERSARIES, AdversaryContext
from advrec.train.hooks import TrainHook


class PamaCFConfig(PersonalisedConfig):
    """PamaCF (Zhang et al., NeurIPS 2024): APR whose radius for each user grows with the user's
    embedding scale: eps · λ · σ(||p_u||² / mean ||p||² − 1)."""

    name: Literal["pamacf"] = "pamacf"
    eps: float = Field(
        0.9,
        ge=0,
        description="ε, the radius of an average user (× λ/2); 0.9 is the authors' MF setting on Gowalla",
    )


def scale_multipliers(
    squared_norms: torch.Tensor, users: torch.Tensor, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """PamaCF's multiplier of ε per distinct user of the batch, from each example's user's squared norm
    (the mean taken over examples, as users repeat in a batch)."""
    distinct, first = torch.unique(users, return_inverse=True)
    per_user = torch.zeros(len(distinct), dtype=squared_norms.dtype, device=squared_norms.device)
    per_user[first.to(squared_norms.device)] = squared_norms  # equal for every example of a user
    return distinct, multiplier(per_user / (squared_norms.mean() + 1e-9), lam)


class PamaCFHook(PersonalisedHook):
    def user_multipliers(self, model: Recommender, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        users = batch["users"]
        squared = sum(
            table.index_select(0, users.to(table.device)).pow(2).sum(1)
            for name, table in model.embedding_tables().items()
            if is_user_table(name)
        )
        assert isinstance(squared, torch.Tensor)  # build_personalised checked there is a user table
        return scale_multipliers(squared.detach(), users, self.lam)


@ADVERSARIES.register(PamaCFConfig)
def build_pamacf(cfg: PamaCFConfig, ctx: AdversaryContext) -> list[TrainHook]:
    return [build_personalised(cfg, ctx, PamaCFHook)]
