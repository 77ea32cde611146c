"""A training procedure: what the trainer runs for one epoch of training.

The trainer owns the loop around epochs (evaluation, model selection, early stopping, checkpoints,
resume, metrics.jsonl); a procedure owns one epoch of training and brings its own optimizers and
learning-rate schedules (a GAN has one of each per player), which the trainer checkpoints through
``state_dict``. Procedures: pairwise (``advrec.train.pairwise``), sequential (``advrec.train.sequential``)
and the GAN games (``advrec.train.gan``); each update goes through ``advrec.train.step.GuardedStep``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from advrec.measure.protocol import EvaluationProtocol
from advrec.models.base import ScoringModel
from advrec.train.hooks import TrainHook
from advrec.train.optim import LRSchedule


class TrainingProcedure(Protocol):
    def run_epoch(self, epoch: int, rngs: dict[str, np.random.Generator]) -> dict[str, Any]:
        """Train one epoch; return the log entries (at least ``loss``; the trainer adds epoch and timing).

        Raise ``TrainingDiverged`` on a NaN or infinite loss, before the parameters are updated with it.
        ``rngs`` are the trainer's checkpointed generators, so that a resumed run draws the same samples.
        """
        ...

    def end_epoch(self, metric: float | None) -> None:
        """The epoch's validation metric (None when not evaluated), for reduce-on-plateau schedules."""
        ...

    def counts_for_selection(self, epoch: int) -> bool:
        """Whether this epoch's model may be selected as best and count towards early stopping."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything to resume exactly besides the model: optimizers, schedules, private generators."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class OneOptimizer:
    """The procedure protocol's bookkeeping for a procedure with one optimizer and one schedule (pairwise,
    sequential): the schedule sees each validation metric, every epoch may be selected, and both are
    checkpointed."""

    optimizer: torch.optim.Optimizer
    schedule: LRSchedule

    def end_epoch(self, metric: float | None) -> None:
        self.schedule.end_epoch(metric)

    def counts_for_selection(self, epoch: int) -> bool:
        return True

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])


Validate = Callable[[Any], dict[str, float]]


@dataclass
class TrainingSetup:
    """What a run trains and how: the model, the procedure that trains it, the protocol it is validated
    and tested by, the validation function (the protocol's, or one under attack), the hooks in checkpoint
    order, and what to do once training has ended (also after a divergence: e.g. plot the GAN's curves)."""

    model: ScoringModel
    procedure: TrainingProcedure
    protocol: EvaluationProtocol
    validate: Validate
    hooks: list[TrainHook] = field(default_factory=list)
    after_fit: Callable[[], None] | None = None
