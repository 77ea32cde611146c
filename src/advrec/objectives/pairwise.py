"""Objectives turn a batch into a loss. Adversaries add to it through trainer hooks."""

from __future__ import annotations

from collections.abc import Callable

import torch

from advrec.errors import ConfigError
from advrec.models.base import Deltas, Recommender
from advrec.objectives.losses import bce_loss, bpr_loss

Batch = dict[str, torch.Tensor]


class PairwiseObjective:
    """Scores a batch of (user, positive, negatives) and applies a pair loss plus L2 on used rows.

    L2 follows the BPR convention of RecBole/LightGCN: ``l2 * ||rows used||^2 / 2 / batch``.
    ``deltas`` perturb the embedding tables for the scores (see ``Recommender``); the L2 term always
    regularises the unperturbed parameters, since a perturbation is not something to shrink.
    """

    def __init__(self, loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], l2: float = 0.0):
        self.loss = loss
        self.l2 = l2

    def scores(
        self, model: Recommender, batch: Batch, deltas: Deltas | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        items = torch.cat([batch["pos"].unsqueeze(1), batch["neg"]], dim=1)
        scores = model.score(batch["users"], items, deltas)
        return scores[:, 0], scores[:, 1:]

    def pair_loss(self, model: Recommender, batch: Batch, deltas: Deltas | None = None) -> torch.Tensor:
        """The pair loss alone (no L2): what an adversary perturbs and adds again."""
        pos, neg = self.scores(model, batch, deltas)
        return self.loss(pos, neg)

    def __call__(self, model: Recommender, batch: Batch, deltas: Deltas | None = None) -> torch.Tensor:
        loss = self.pair_loss(model, batch, deltas)
        if self.l2 > 0:
            items = torch.cat([batch["pos"], batch["neg"].reshape(-1)])
            loss = loss + self.l2 * model.reg_loss(batch["users"], items) / len(batch["users"])
        return loss


OBJECTIVES = {"bpr": bpr_loss, "bce": bce_loss}


def build_objective(name: str, l2: float) -> PairwiseObjective:
    if name not in OBJECTIVES:
        raise ConfigError(f"train.objective: unknown objective {name!r}; valid: {', '.join(OBJECTIVES)}")
    return PairwiseObjective(OBJECTIVES[name], l2)
