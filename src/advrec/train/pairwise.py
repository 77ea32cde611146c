"""Pairwise training (BPR / BCE on sampled negatives) as a training procedure of the one trainer.

One epoch: the sampler draws every training pair once with its negatives (seeded by the trainer's
``sampler`` stream), batches of ``train.batch_size`` are scored by the objective, adversary and
augmentation hooks add their terms, and each batch makes one guarded step. Three ways to the same
update, chosen by ``train.kernel`` (``advrec.train.fused``, ``advrec.train.fused_epoch``):

- autograd: the objective's loss, hooks' terms, ``backward``;
- fused step: BPR-MF's loss and gradients from one numba pass per batch, then the same optimizer step;
- fused epoch: sampling, gradients and a touched-rows update of the whole epoch in numba.

Under ``torchrun`` every rank draws the same epoch and trains on its slice of each batch
(``advrec.train.distributed``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from advrec.data.sampler import NegativeSampler
from advrec.errors import AdvrecError, ConfigError
from advrec.models.base import Deltas, Recommender, ShardedRecommender
from advrec.train.config import TrainConfig
from advrec.train.distributed import DistContext, average_gradients
from advrec.train.fused import build_fused_step, single_threaded
from advrec.train.fused_epoch import build_fused_epoch
from advrec.train.hooks import TrainHook
from advrec.train.optim import LRSchedule
from advrec.train.procedure import OneOptimizer
from advrec.train.step import GuardedStep
from advrec.utils.progress import progress

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
        world = self.dist.world_size
        sharded = isinstance(model, ShardedRecommender)
        if sharded:
            refuse_for_sharded(config)
        self.step = GuardedStep(
            optimizer,
            [] if sharded else list(model.parameters()),
            grad_clip=config.grad_clip,
            average=(lambda params: average_gradients(params, world))
            if self.dist.enabled and not sharded
            else None,
            max_growth=config.max_loss_growth,
        )
        # the whole-epoch kernel (train.kernel fused_epoch, or sparse_adam) replaces the batch loop
        self._fused_epoch = build_fused_epoch(
            config, model, objective, optimizer, sampler, self.hooks, self.dist.enabled, self.device
        )
        self._fused_step = None
        if self._fused_epoch is None:
            self._fused_step = build_fused_step(
                config.kernel, model, objective, self.hooks, self.dist.enabled, self.device
            )

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
        if not self.dist.every_rank_gets_rows(len(triples) - (n_batches - 1) * batch_size):
            n_batches -= 1  # a last batch smaller than the world: every rank skips it (see distributed)
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
            value = self._fused_step(batch)
            self.step(value, epoch, gradients_ready=True)
            return value
        loss = self._batch_loss(batch)
        for hook in self.hooks:
            loss = hook.on_loss(self.model, batch, loss)
        self.step(loss, epoch, scale=scale)
        return float(loss.detach())

    def _batch_loss(self, batch: Batch) -> torch.Tensor:
        """The objective's loss, or the one loss a hook provides instead (``TrainHook.batch_loss``)."""
        own = [loss for hook in self.hooks if (loss := hook.batch_loss(self.model, batch)) is not None]
        if not own:
            return self._objective_loss(batch)
        if len(own) > 1:
            raise AdvrecError(f"{len(own)} hooks replace the objective's loss; at most one may")
        return own[0]

    def _objective_loss(self, batch: Batch) -> torch.Tensor:
        """The objective at the inputs plus the hooks' input noise (``TrainHook.input_deltas``), if any."""
        noise: Deltas = {}
        for hook in self.hooks:
            for name, delta in (hook.input_deltas(self.model, batch) or {}).items():
                noise[name] = noise[name] + delta if name in noise else delta
        if noise:
            return self.objective(self.model, batch, noise)
        return self.objective(self.model, batch)


def refuse_for_sharded(config: TrainConfig) -> None:
    """What a model with sharded tables cannot train with: its optimizer updates each row during the
    backward pass, so there is never a whole gradient to clip, average or hand to another kernel."""
    if config.grad_clip is not None:
        raise ConfigError("train.grad_clip: sharded tables update in the backward pass; nothing to clip")
    if config.kernel not in ("auto", "autograd"):
        raise ConfigError(f"train.kernel: {config.kernel!r} does not apply to sharded tables; use auto")
    if config.average_from is not None:
        raise ConfigError("train.average_from: weight averaging is not available for sharded tables")
