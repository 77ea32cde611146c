"""A GAN player: its parameters, its own optimizer and learning-rate schedule, and one guarded update."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from advrec.train.optim import LRSchedule
from advrec.train.step import GuardedStep


class Player:
    """Generator or discriminator. ``update(loss)`` refuses a non-finite loss before touching the
    parameters (so the last checkpoint stays the last good one) and returns the gradient norm."""

    def __init__(
        self,
        name: str,
        module: nn.Module,
        optimizer: torch.optim.Optimizer,
        schedule: LRSchedule,
        grad_clip: float | None = None,
        max_growth: float | None = None,
    ) -> None:
        self.name = name
        self.module = module
        self.optimizer = optimizer
        self.schedule = schedule
        self.grad_clip = grad_clip
        self.params = [p for p in module.parameters() if p.requires_grad]
        # Gradients of this player's parameters only: the other player's stay untouched, even when the
        # loss flows through it (the generator's loss goes through the discriminator).
        self.step = GuardedStep(
            optimizer,
            self.params,
            grad_clip=grad_clip,
            what=name,
            own_gradients=True,
            measure_norm=True,
            max_growth=max_growth,
        )

    def update(self, loss: torch.Tensor, epoch: int) -> float:
        """One guarded optimizer step on ``loss``; the norm of the gradient before clipping."""
        norm = self.step(loss, epoch)
        assert norm is not None  # measured: the step was built with measure_norm
        return norm

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
