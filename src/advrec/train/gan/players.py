"""A GAN player: its parameters, its own optimizer and learning-rate schedule, and one guarded update."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from advrec.errors import TrainingDiverged
from advrec.train.optim import LRSchedule


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
    ) -> None:
        self.name = name
        self.module = module
        self.optimizer = optimizer
        self.schedule = schedule
        self.grad_clip = grad_clip
        self.params = [p for p in module.parameters() if p.requires_grad]

    def update(self, loss: torch.Tensor, epoch: int) -> float:
        """One optimizer step on ``loss``; the norm of the gradient before clipping."""
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"epoch {epoch}: the {self.name} loss became {loss.item()}; "
                "stopped, last good checkpoint kept"
            )
        # Gradients of this player's parameters only: the other player's stay untouched (None), even
        # when the loss flows through it (the generator's loss goes through the discriminator).
        grads = torch.autograd.grad(loss, self.params, allow_unused=True)
        for param, grad in zip(self.params, grads):
            param.grad = grad
        # clip_grad_norm_ with an infinite bound measures without clipping.
        norm = nn.utils.clip_grad_norm_(self.params, self.grad_clip or float("inf"))
        if not torch.isfinite(norm):
            raise TrainingDiverged(
                f"epoch {epoch}: the {self.name} gradient norm became {norm.item()}; stopped, "
                "last good checkpoint kept"
            )
        self.optimizer.step()
        return float(norm)

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
