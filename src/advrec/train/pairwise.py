"""Pairwise training (BPR / BCE on sampled negatives) as a training procedure of the one trainer.

One epoch: the sampler draws every training pair once with its negatives (seeded by the trainer's
``sampler`` stream), batches of ``train.batch_size`` are scored by the objective, adversary and
augmentation hooks add their terms, and each batch makes one guarded step. Three ways to the same
update, chosen by ``train.kernel`` (``advrec.train.fused``, ``advrec.train.fused_epoch``):

- autograd: the objective's loss, hooks' terms, ``backward`` (DDP-wrapped under ``torchrun``);
- fused step: BPR-MF's loss and gradients from one numba pass per batch, then the same optimizer step;
- fused epoch: sampling, gradients and a touched-rows update of the whole epoch in numba.

DDP: every rank draws the same epoch, trains on its slice of each batch with its loss scaled by
``world_size * n_local / n_global``, and DDP's gradient average gives the single-process gradient.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from advrec.config.schema import RunConfig, TrainConfig
from advrec.data.sampler import NegativeSampler
from advrec.data.split import Split
from advrec.errors import AdvrecError
from advrec.measure.protocol import Protocol
from advrec.measure.robustness import training_batches, validation_under_attack
from advrec.models.base import Deltas, Recommender, Scorer
from advrec.models.registry import build_model
from advrec.objectives.pairwise import build_objective
from advrec.perturb.builder import select_tables
from advrec.train.adversaries.registry import build_adversary
from advrec.train.augment import build_augmentation
from advrec.train.distributed import DistContext
from advrec.train.fused import build_fused_step, single_threaded
from advrec.train.fused_epoch import build_fused_epoch
from advrec.train.hooks import TrainHook
from advrec.train.optim import LRSchedule, build_optimizer
from advrec.train.procedure import OneOptimizer, TrainingSetup
from advrec.train.step import GuardedStep
from advrec.utils.progress import progress
from advrec.utils.seeding import child_seed, torch_generator

Batch = dict[str, torch.Tensor]
Objective = Callable[..., torch.Tensor]


class PairwiseProcedure(OneOptimizer):
    def __init__(
        self,
        model: Recommender,
        objective: Objective,
        sampler: NegativeSampler,
        optimizer: torch.optim.Optimizer,
        schedule: LRSchedule,
        config: TrainConfig,
        *,
        hooks: Sequence[TrainHook] = (),
        dist_ctx: DistContext | None = None,
        device: str = "cpu",
        show_progress: bool = False,
    ) -> None:
        self.model = model
        self.objective = objective
        self.sampler = sampler
        self.optimizer = optimizer
        self.schedule = schedule
        self.cfg = config
        self.hooks = list(hooks)
        self.dist = dist_ctx or DistContext()
        self.device = torch.device(device)
        self.show_progress = show_progress
        self.step = GuardedStep(
            optimizer, list(model.parameters()), grad_clip=config.grad_clip, max_growth=config.max_loss_growth
        )
        self._forward_model = self._wrap(model)
        # the whole-epoch kernel (train.kernel fused_epoch, or sparse_adam) replaces the batch loop
        self._fused_epoch = build_fused_epoch(
            config, model, objective, optimizer, sampler, self.hooks, self.dist.enabled, self.device
        )
        self._fused_step = None
        if self._fused_epoch is None:
            self._fused_step = build_fused_step(
                config.kernel, model, objective, self.hooks, self.dist.enabled, self.device
            )

    def _wrap(self, model: Recommender) -> Recommender:
        if not self.dist.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        return _DDPScoringView(model, DistributedDataParallel(_Scored(model), device_ids=None))

    # -- one epoch --------------------------------------------------------------------------
    def run_epoch(self, epoch: int, rngs: dict[str, np.random.Generator]) -> dict[str, Any]:
        self.schedule.start_epoch(epoch)
        if self._fused_epoch is not None:
            return self._log(epoch, self._fused_epoch.run(rngs["sampler"]))
        triples = self.sampler.epoch(rngs["sampler"])
        self.model.train()
        total, count = 0.0, 0
        batch_size = self.cfg.batch_size
        n_batches = -(-len(triples) // batch_size)
        bar = progress(
            range(n_batches), desc=f"epoch {epoch}", enabled=self.show_progress and self.dist.is_main
        )
        with single_threaded() if self._fused_step is not None else contextlib.nullcontext():
            for index in bar:
                lo = index * batch_size
                hi = min(lo + batch_size, len(triples))
                start, stop = self.dist.shard(hi - lo)
                batch = {
                    "users": triples.users[lo + start : lo + stop].to(self.device),
                    "pos": triples.pos[lo + start : lo + stop].to(self.device),
                    "neg": triples.neg[lo + start : lo + stop].to(self.device),
                }
                scale = self.dist.world_size * (stop - start) / (hi - lo)
                total += self._update(batch, epoch, scale) * (hi - lo)
                count += hi - lo
        return self._log(epoch, total / max(count, 1))

    def _log(self, epoch: int, mean_loss: float) -> dict[str, Any]:
        if self._fused_epoch is not None:  # the whole-epoch kernel reports its loss only here
            self.step.check(mean_loss, epoch)
        return {"loss": mean_loss, "lr": self.optimizer.param_groups[0]["lr"]}

    def _update(self, batch: Batch, epoch: int, scale: float) -> float:
        if self._fused_step is not None:  # the kernel writes the gradients of the same loss
            self.optimizer.zero_grad(set_to_none=True)
            loss = self._fused_step(batch)
            self.step(loss, epoch, gradients_ready=True)
            return loss
        loss = self._batch_loss(batch)
        for hook in self.hooks:
            loss = hook.on_loss(self._forward_model, batch, loss)
        self.step(loss, epoch, scale=scale)
        return float(loss.detach())

    def _batch_loss(self, batch: Batch) -> torch.Tensor:
        """The objective's loss, or the one loss a hook provides instead (``TrainHook.batch_loss``)."""
        own = [hook.batch_loss(self._forward_model, batch) for hook in self.hooks]
        own = [loss for loss in own if loss is not None]
        if not own:
            return self._objective_loss(batch)
        if len(own) > 1:
            raise AdvrecError(f"{len(own)} hooks replace the objective's loss; at most one may")
        if self.dist.enabled:
            raise AdvrecError(
                "a hook replaced the objective's loss, which bypasses DDP's forward: gradients would not be "
                "averaged across ranks; run this method in a single process"
            )
        return own[0]

    def _objective_loss(self, batch: Batch) -> torch.Tensor:
        """The objective at the inputs plus the hooks' input noise (``TrainHook.input_deltas``), if any."""
        noise: Deltas = {}
        for hook in self.hooks:
            for name, delta in (hook.input_deltas(self._forward_model, batch) or {}).items():
                noise[name] = noise[name] + delta if name in noise else delta
        if noise:
            return self.objective(self._forward_model, batch, noise)
        return self.objective(self._forward_model, batch)


def setup_pairwise(
    config: RunConfig,
    split: Split,
    item_features: torch.Tensor | None,
    ctx: DistContext,
    hooks: Sequence[TrainHook] = (),
    show_progress: bool = False,
) -> TrainingSetup:
    """The pairwise run of ``config``: model, objective, adversary and augmentation hooks, sampler."""
    protocol = Protocol.from_split(split, config.eval, config.device)
    init = torch_generator(config.seed, "init")
    model = build_model(config.model, split.train, init, item_features).to(config.device)
    if config.adversary.name != "none":  # table names only the built model can check
        select_tables(model.embedding_tables(), config.adversary.targets)
    torch.manual_seed(child_seed(config.seed, "dropout"))
    tc = config.train
    optimizer = build_optimizer(model.parameters(), tc.optimizer)
    objective = build_objective(tc.objective, tc.l2)

    def full_data() -> list[Batch]:  # the training data as the robustness probe reads it
        return training_batches(split.train, config.seed, 8192, torch.device(config.device))

    # Augmentation and adversary hooks go first: hook states are checkpointed as a list in this order,
    # and a caller's extra hooks (monitors, a simulated crash) may differ between a run and its resume.
    all_hooks = [*build_augmentation(config), *build_adversary(config, objective, full_data), *hooks]
    validate = protocol.validate
    if config.eval.adversarial_valid is not None:
        batches = training_batches(split.train, config.seed, tc.batch_size, torch.device(config.device))
        validate = validation_under_attack(config, model, protocol, objective, batches)
    aug = config.augment
    procedure = PairwiseProcedure(
        model,
        objective,
        NegativeSampler(split.train, tc.n_negatives, aug.drop_interactions, aug.add_interactions),
        optimizer,
        LRSchedule(optimizer, tc.schedule, tc.epochs),
        tc,
        hooks=all_hooks,
        dist_ctx=ctx,
        device=config.device,
        show_progress=show_progress,
    )
    return TrainingSetup(model, procedure, protocol, validate, all_hooks)


class _Scored(nn.Module):
    """Lets DDP see ``score`` as ``forward`` (DDP syncs gradients of what its forward computed)."""

    def __init__(self, model: Recommender):
        super().__init__()
        self.model = model

    def forward(self, users: torch.Tensor, items: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        return self.model.score(users, items, deltas)


class _DDPScoringView(Recommender):
    """Routes ``score`` through DDP (so gradients are averaged) and the rest to the bare model."""

    def __init__(self, model: Recommender, ddp: nn.Module):
        super().__init__(model.n_users, model.n_items)
        self.inner = model
        self.ddp = ddp

    def embedding_tables(self) -> dict[str, torch.Tensor]:
        return self.inner.embedding_tables()

    def score(self, users: torch.Tensor, items: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        return self.ddp(users, items, deltas)

    def full_scores(self, users: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        return self.inner.full_scores(users, deltas)

    def scorer(self, deltas: Deltas | None = None) -> Scorer:
        return self.inner.scorer(deltas)

    def reg_loss(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.inner.reg_loss(users, items)
