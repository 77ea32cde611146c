"""Weight averaging (SWA, Izmailov et al., UAI 2018): the model evaluated, selected and kept is the running
mean of the weights at the end of every epoch from ``train.average_from`` on, while training goes on from
the raw weights.

Why: a small-batch Adam run moves far between epochs, and what a probe measures on one epoch's weights
jumps with it (on SASRec the valid FGSM drop ranges from 1.5% to 51% across the epochs of one run); the
average sits in the middle of the region the run explores, which Chen et al. (ICLR 2021) found to curb
robust overfitting in adversarial training. On SASRec it did not make APR models more robust under PGD
(docs/notes/2026-11-sasrec-robustness.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn


class WeightAverage:
    def __init__(self, model: nn.Module, start_epoch: int) -> None:
        self.model = model
        self.start_epoch = start_epoch
        self.count = 0
        self.mean: dict[str, torch.Tensor] | None = None

    def update(self, epoch: int) -> None:
        """Fold in the weights at the end of ``epoch`` (nothing before ``start_epoch``)."""
        if epoch < self.start_epoch:
            return
        state = self.model.state_dict()
        self.count += 1
        if self.mean is None:
            self.mean = {key: value.detach().clone() for key, value in state.items()}
            return
        for key, value in state.items():
            if value.is_floating_point():
                self.mean[key] += (value.detach() - self.mean[key]) / self.count
            else:  # integer buffers (none in advrec's models today): the latest
                self.mean[key] = value.detach().clone()

    @contextmanager
    def swapped_in(self) -> Iterator[None]:
        """The average in the model for the block (evaluation, saving the best), the raw weights after;
        the raw weights throughout while no epoch has been averaged yet."""
        if self.mean is None:
            yield
            return
        raw = {key: value.detach().clone() for key, value in self.model.state_dict().items()}
        self.model.load_state_dict(self.mean)
        try:
            yield
        finally:
            self.model.load_state_dict(raw)

    def state_dict(self) -> dict[str, Any]:
        return {"count": self.count, "mean": self.mean}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.count, self.mean = state["count"], state["mean"]
