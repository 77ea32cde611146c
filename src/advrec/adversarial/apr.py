"""Adversarial Personalized Ranking (He et al., SIGIR 2018) as a trainer hook.

Loss per batch: L(Θ) + λ · L_pair(Θ + Δ_adv), where Δ_adv is built from the gradient of the pair loss
at the batch and detached (the paper's fast approximation of the inner maximisation). The L2 term of
L(Θ) is not repeated in the adversarial term: a perturbation is not something to regularise.
Consequence, asserted in the tests: with ε = 0 the loss is exactly L(Θ) + λ · L_pair(Θ), i.e.
(1 + λ) · L(Θ) when there is no L2.

Targets: which of the model's perturbable tables get a Δ (default all; ``[item_features]`` is AMR, Tang
et al. TKDE 2019, whose adversary perturbs the item content features instead of the embeddings).

Schedule: the paper pre-trains with the plain loss and then switches the adversary on; here
``start_epoch`` (plain epochs before) and an optional linear ε ramp over ``eps_ramp_epochs`` for
training from scratch. Epochs before ``start_epoch`` are neither selected nor count for early stopping.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from advrec.adversarial.builder import PerturbationBuilder, select_tables
from advrec.adversarial.gradients import delta_gradients, global_mean_gradients
from advrec.models.base import Deltas, Recommender
from advrec.training.hooks import TrainHook
from advrec.training.objectives import Batch, PairwiseObjective


class APRHook(TrainHook):
    def __init__(
        self,
        objective: PairwiseObjective,
        builder: PerturbationBuilder,
        reg_adv: float = 1.0,
        start_epoch: int = 0,
        eps_ramp_epochs: int = 0,
        targets: Sequence[str] | None = None,
    ) -> None:
        if reg_adv < 0 or start_epoch < 0 or eps_ramp_epochs < 0:
            raise ValueError("need reg_adv >= 0, start_epoch >= 0, eps_ramp_epochs >= 0")
        self.objective = objective
        self.builder = builder
        self.reg_adv = reg_adv
        self.start_epoch = start_epoch
        self.eps_ramp_epochs = eps_ramp_epochs
        self.targets = None if targets is None else list(targets)
        self.epoch = 0
        self._adv_sum = 0.0
        self._adv_count = 0

    # -- schedule ------------------------------------------------------------------
    def active(self, epoch: int) -> bool:
        return epoch >= self.start_epoch

    def eps_at(self, epoch: int) -> float:
        """ε of an epoch: 0 before the start, then ramped linearly to the full ε (if a ramp is set)."""
        if not self.active(epoch):
            return 0.0
        if self.eps_ramp_epochs == 0:
            return self.builder.eps
        return self.builder.eps * min(1.0, (epoch - self.start_epoch + 1) / self.eps_ramp_epochs)

    # -- hook API ------------------------------------------------------------------
    def on_epoch_start(self, epoch: int) -> None:
        self.epoch = epoch
        self._adv_sum, self._adv_count = 0.0, 0

    def counts_for_selection(self, epoch: int) -> bool:
        return self.active(epoch)

    def on_loss(self, model: Recommender, batch: Batch, loss: torch.Tensor) -> torch.Tensor:
        if not self.active(self.epoch):
            return loss
        deltas = self.adversarial_deltas(model, batch, self.eps_at(self.epoch))
        adv = self.objective.pair_loss(model, batch, deltas)
        self._adv_sum += float(adv.detach()) * len(batch["users"])
        self._adv_count += len(batch["users"])
        return loss + self.reg_adv * adv

    def on_epoch_end(self, epoch: int, log: dict[str, Any]) -> None:
        if self.active(epoch):
            log["adv_eps"] = self.eps_at(epoch)
            log["adv_loss"] = self._adv_sum / max(self._adv_count, 1)

    def state_dict(self) -> dict[str, Any]:
        # The schedule is a function of the epoch; the only state is the random control's stream.
        return {"epoch": self.epoch, "generator": self.builder.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.builder.generator.set_state(state["generator"])

    # -- the adversary -----------------------------------------------------------------
    def adversarial_deltas(self, model: Recommender, batch: Batch, eps: float) -> Deltas:
        """Δ_adv for this batch (detached), from the gradient of the pair loss at Θ (+ Δ for PGD)."""
        n_local = len(batch["users"])

        def gradient_fn(deltas: Deltas) -> Deltas:
            grads = delta_gradients(lambda d: self.objective.pair_loss(model, batch, d), deltas)
            return global_mean_gradients(grads, n_local)

        return self.builder(select_tables(model.embedding_tables(), self.targets), gradient_fn, eps)
