"""Hooks let adversaries and monitors plug into the one training loop without subclassing it."""

from __future__ import annotations

from typing import Any

import torch

from advrec.models.base import Deltas


class TrainHook:
    """Override what you need; every method is a no-op by default."""

    def on_epoch_start(self, epoch: int) -> None:
        """Called before the epoch's batches (e.g. to switch an adversary on after pre-training)."""

    def input_deltas(self, model: Any, batch: dict[str, torch.Tensor]) -> Deltas | None:
        """Perturbations at which the plain loss of this batch is computed (input noise augmentation),
        or None. Deltas of several hooks are summed; adversaries' terms (``on_loss``) do not see them."""
        return None

    def batch_loss(self, model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """A loss to use instead of the trainer's objective for this batch, or None (the objective).

        For methods whose main loss needs a forward of their own (XSimGCL scores the batch on a noisy
        propagation). At most one hook may return a loss. Such a loss bypasses DDP's forward, so the
        trainer refuses it under DDP (gradients would not be averaged across ranks).
        """
        return None

    def on_loss(self, model: Any, batch: dict[str, torch.Tensor], loss: torch.Tensor) -> torch.Tensor:
        """Return the loss to optimise for this batch (e.g. loss + lambda * adversarial loss)."""
        return loss

    def counts_for_selection(self, epoch: int) -> bool:
        """Whether this epoch's model may be selected as best and count towards early stopping.

        An adversary that pre-trains with the plain loss returns False before it switches on, so that
        neither a plain model is reported nor patience runs out before adversarial training starts.
        """
        return True

    def on_epoch_end(self, epoch: int, log: dict[str, Any]) -> None:
        """Add entries to the epoch's log line."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned (on resume)."""
