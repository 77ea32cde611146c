"""A training procedure: what the trainer runs for one epoch when the pairwise objective is not enough.

The trainer owns the loop around epochs (evaluation, model selection, early stopping, checkpoints,
resume, metrics.jsonl); by default it trains each epoch itself with the sampled pairwise objective.
A procedure replaces only that epoch of training and brings its own optimizers and learning-rate
schedules (a GAN has one of each per player), which the trainer checkpoints through ``state_dict``.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


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
