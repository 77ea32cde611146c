"""The next-item objective of a sequential model (SASRec, ...), and the windows and batches it reads.

Loss per batch: the sum over the batch's target positions of the per-position loss, divided by
``span * n_windows`` (span: target positions per window, ``max_len`` unless ``model.span`` says
otherwise), i.e. a mean over windows of their summed position losses / span. Every
position weighs the same in every batch, and the loss is a mean over rows (windows), which is what the
DDP scaling and the APR hook's cross-rank gradient average assume. ``ce``: softmax cross-entropy over
all items; ``bce``: binary cross-entropy of the target against one sampled negative (uniform over the
items, redrawn where it hits the target).
"""

from __future__ import annotations

from typing import Any, Protocol, cast

import numpy as np
import torch
import torch.nn.functional as F

from advrec.data.sequences import training_windows, user_sequences
from advrec.data.split import Split
from advrec.errors import ConfigError
from advrec.models.base import SequentialRecommender
from advrec.perturb.perturbation import EpsMode, row_radius
from advrec.utils.seeding import numpy_rng

Batch = dict[str, torch.Tensor]


LOSSES = ("ce", "bce")


class WindowSettings(Protocol):
    """What the sequential procedure reads from a sequential model's settings (``SASRecConfig``'s)."""

    max_len: int
    loss: str
    windows: str
    span: int | None


def window_settings(model_config: Any) -> WindowSettings:
    """``model_config`` as the window settings of a sequential model (one that registered the
    sequential procedure, so it has them)."""
    return cast(WindowSettings, model_config)


class SequentialObjective:
    """A batch of windows -> next-item loss. ``pair_loss`` is the name the APR hook and the robustness
    probe call (the loss an adversary perturbs); there is no separate regulariser to leave out.

    The clean call (``objective(model, batch)``) keeps its hidden states for that batch, so an adversary
    that perturbs only the scored table can reuse them (``clean_states``, ``loss_from_states``) instead of
    running the network again: the states do not depend on ``item_output``."""

    def __init__(self, loss: str = "ce", span: int | None = None):
        if loss not in LOSSES:
            raise ConfigError(f"model.loss: unknown loss {loss!r}; valid: {', '.join(LOSSES)}")
        self.loss = loss
        self.span = span  # target positions per window (default: all of them, the window's length)
        # the last clean call: (batch inputs, their states, their ce logits or None)
        self._clean: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None = None

    def states(
        self, model: SequentialRecommender, batch: Batch, deltas: dict[str, torch.Tensor] | None = None
    ):
        """Hidden states at the batch's target positions, [n_positions, dim]."""
        return model.hidden(batch["inputs"], deltas)[batch["targets"] > 0]

    def loss_from_states(
        self,
        model: SequentialRecommender,
        batch: Batch,
        states: torch.Tensor,
        deltas: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        return self._loss(model.output_items(deltas), batch, states)

    def worst_case_loss(
        self, model: SequentialRecommender, batch: Batch, states: torch.Tensor, eps: float, eps_mode: EpsMode
    ) -> torch.Tensor:
        """The loss with every scored row moved against each target position separately, as far as its
        budget r_j (ε, or ε·‖q_j‖ for ``relative``) allows: exact, in closed form. A score s_j = h·q_j
        moved by δ_j with ‖δ_j‖ ≤ r_j changes by at most r_j·‖h‖, and the loss falls with the target's
        score and rises with every other scored item's, so the maximum lowers the target's score by
        r_y·‖h‖ and raises the others' (all items for ce, the sampled negative for bce) by r_j·‖h‖.
        No gradient step is spent on finding it; the radius is a constant, as a Δ is (detached). On the
        clean call's states (ce) the clean logits are reused: one product with the item table per batch."""
        items = model.output_items()
        radius = row_radius(items, eps, eps_mode).squeeze(1)  # [n_items + 1]
        logits = self._clean[2] if self._clean is not None and self._clean[1] is states else None
        return self._loss(items, batch, states, logits, (states.norm(dim=1, keepdim=True), radius))

    def _loss(
        self,
        items: torch.Tensor,
        batch: Batch,
        states: torch.Tensor,
        logits: torch.Tensor | None = None,
        worst: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """The mean loss of the batch's target positions (``logits``: the ce scores, if already computed).
        ``worst`` = (‖h‖ per position [n, 1], radius per item row [n_items + 1]): every score moved by
        ‖h‖·r against the position (``worst_case_loss``)."""
        inputs, targets = batch["inputs"], batch["targets"]
        shifted = targets[targets > 0]  # the target positions' items (shifted ids, 1..n_items)
        if self.loss == "ce":
            logits = self._logits(items, states) if logits is None else logits
            if worst is not None:
                norms, radius = worst
                rows = torch.arange(len(shifted), device=logits.device)
                at_target = logits[rows, shifted - 1] - norms[:, 0] * radius[shifted]
                logits = logits + norms * radius[1:]
                logits[rows, shifted - 1] = at_target  # a fresh tensor: in place is safe for autograd
            per_position = F.cross_entropy(logits, shifted - 1, reduction="none")
        else:
            negatives = batch["negatives"][targets > 0]
            pos = (states * items.index_select(0, shifted)).sum(-1)
            neg = (states * items.index_select(0, negatives)).sum(-1)
            if worst is not None:
                norms, radius = worst
                pos = pos - norms[:, 0] * radius[shifted]
                neg = neg + norms[:, 0] * radius[negatives]
            per_position = F.softplus(-pos) + F.softplus(neg)  # -log σ(pos) - log(1 - σ(neg))
        return per_position.sum() / ((self.span or inputs.shape[1]) * max(len(inputs), 1))

    @staticmethod
    def _logits(items: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        return states @ items[1:].T  # row 0 (padding) is never a candidate

    def pair_loss(
        self, model: SequentialRecommender, batch: Batch, deltas: dict[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        return self.loss_from_states(model, batch, self.states(model, batch, deltas), deltas)

    def clean_states(self, batch: Batch) -> torch.Tensor:
        """The states of the last clean call, which must have been on this very batch."""
        if self._clean is None or self._clean[0] is not batch["inputs"]:
            raise RuntimeError("clean_states: the last clean loss was not computed on this batch")
        return self._clean[1]

    def __call__(
        self, model: SequentialRecommender, batch: Batch, deltas: dict[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        if deltas is not None:
            return self.pair_loss(model, batch, deltas)
        states = self.states(model, batch)
        items = model.output_items()
        logits = self._logits(items, states) if self.loss == "ce" else None
        self._clean = (batch["inputs"], states, logits)
        return self._loss(items, batch, states, logits)


def sample_negatives(targets: np.ndarray, n_items: int, rng: np.random.Generator) -> np.ndarray:
    """One uniform negative (shifted id, 1..n_items) per position, never the position's target."""
    neg = rng.integers(1, n_items + 1, size=targets.shape)
    clash = neg == targets
    while clash.any():  # n_items >= 2 is checked by the caller: this ends
        neg[clash] = rng.integers(1, n_items + 1, size=int(clash.sum()))
        clash = neg == targets
    return neg


def window_batches(
    inputs: np.ndarray,
    targets: np.ndarray,
    users: np.ndarray,
    batch_size: int,
    device: torch.device | str,
    negatives: np.ndarray | None = None,
) -> list[Batch]:
    """Consecutive batches of windows as tensors (``negatives`` only for the bce loss)."""
    out = []
    for lo in range(0, len(inputs), batch_size):
        part = slice(lo, lo + batch_size)
        batch = {
            "users": torch.from_numpy(users[part]).to(device),
            "inputs": torch.from_numpy(inputs[part]).to(device),
            "targets": torch.from_numpy(targets[part]).to(device),
        }
        if negatives is not None:
            batch["negatives"] = torch.from_numpy(negatives[part]).to(device)
        out.append(batch)
    return out


def probe_batches(
    cfg: WindowSettings, split: Split, seed: int, device: torch.device | str, batch_size: int
) -> list[Batch]:
    """Every training window of ``cfg`` (a sequential model's settings: ``max_len``, ``windows``,
    ``span``, ``loss``) once, in order, with seeded negatives for bce: the robustness probe's data."""
    inputs, targets, users = sequence_windows(cfg, split)
    negatives = None
    if cfg.loss == "bce":
        negatives = sample_negatives(targets, split.train.n_items, numpy_rng(seed, "attack"))
    return window_batches(inputs, targets, users, batch_size, device, negatives)


def sequence_windows(cfg: WindowSettings, split: Split) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The training windows of ``split``'s train sequences, as ``cfg`` (``max_len``, ``windows``,
    ``span``) cuts them."""
    return training_windows(user_sequences(split.train), cfg.max_len, cfg.windows, cfg.span)
