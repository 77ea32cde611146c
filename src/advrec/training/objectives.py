"""Objectives turn a batch into a loss. Adversaries add to it through trainer hooks."""

from __future__ import annotations

from collections.abc import Callable

import torch

from advrec.errors import ConfigError
from advrec.losses import bce_loss, bpr_loss
from advrec.models.base import Recommender

Batch = dict[str, torch.Tensor]


class PairwiseObjective:
    """Scores a batch of (user, positive, negatives) and applies a pair loss plus L2 on used rows.

    L2 follows the BPR convention of RecBole/LightGCN: ``l2 * ||rows used||^2 / 2 / batch``.
    """

    def __init__(self, loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], l2: float = 0.0):
        self.loss = loss
        self.l2 = l2

    def scores(self, model: Recommender, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        items = torch.cat([batch["pos"].unsqueeze(1), batch["neg"]], dim=1)
        scores = model.score(batch["users"], items)
        return scores[:, 0], scores[:, 1:]

    def __call__(self, model: Recommender, batch: Batch) -> torch.Tensor:
        pos, neg = self.scores(model, batch)
        loss = self.loss(pos, neg)
        if self.l2 > 0:
            items = torch.cat([batch["pos"], batch["neg"].reshape(-1)])
            loss = loss + self.l2 * model.reg_loss(batch["users"], items) / len(batch["users"])
        return loss


OBJECTIVES = {"bpr": bpr_loss, "bce": bce_loss}


def build_objective(name: str, l2: float) -> PairwiseObjective:
    if name not in OBJECTIVES:
        raise ConfigError(f"train.objective: unknown objective {name!r}; valid: {', '.join(OBJECTIVES)}")
    return PairwiseObjective(OBJECTIVES[name], l2)
