"""Training a sequential model (SASRec, ...) under the one trainer, as a training procedure.

Every position of a training window is trained in one forward (causal mask): a user's sequence gives
``len - 1`` next-item targets per epoch without materialising one example per prefix (RecBole's way).
The loss is ``advrec.objectives.sequential.SequentialObjective``.

DDP: every rank draws the same epoch (same seeded shuffle and negatives), trains on its slice of each
batch with its loss scaled by ``world_size * n_local / n_global`` and all-reduces the gradients itself
(a procedure's several forwards, plain and adversarial, need no DDP wrapper), so each step equals the
single-process one up to summation order. Dropout masks differ per rank, as under DDP.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from advrec.errors import ConfigError
from advrec.models.base import SequentialRecommender
from advrec.objectives.sequential import (
    SequentialObjective,
    sample_negatives,
    window_batches,
)
from advrec.train.checkpoint import load_checkpoint
from advrec.train.config import TrainConfig
from advrec.train.distributed import DistContext, average_gradients, global_sum
from advrec.train.hooks import TrainHook
from advrec.train.optim import LRSchedule
from advrec.train.procedure import OneOptimizer
from advrec.train.step import GuardedStep
from advrec.utils.progress import progress


class SequentialProcedure(OneOptimizer):
    """One epoch: the windows shuffled (seeded), batches of ``batch_size`` windows, hooks' ``on_loss``."""

    def __init__(
        self,
        model: SequentialRecommender,
        objective: SequentialObjective,
        optimizer: torch.optim.Optimizer,
        schedule: LRSchedule,
        windows: tuple[np.ndarray, np.ndarray, np.ndarray],
        config: TrainConfig,
        *,
        hooks: Sequence[TrainHook] = (),
        dist_ctx: DistContext | None = None,
        device: str = "cpu",
        show_progress: bool = False,
    ) -> None:
        self.model = model
        self.objective = objective
        self.optimizer = optimizer
        self.schedule = schedule
        self.inputs, self.targets, self.users = windows
        if len(self.inputs) == 0:
            raise ConfigError("data: no user has two training items; a sequential model has nothing to learn")
        self.cfg = config
        self.hooks = list(hooks)
        self.dist = dist_ctx or DistContext()
        self.device = torch.device(device)
        self.show_progress = show_progress
        world = self.dist.world_size
        average = (lambda params: average_gradients(params, world)) if self.dist.enabled else None
        self.step = GuardedStep(
            optimizer,
            list(model.parameters()),
            grad_clip=config.grad_clip,
            average=average,
            max_growth=config.max_loss_growth,
        )

    def run_epoch(self, epoch: int, rngs: dict[str, np.random.Generator]) -> dict[str, Any]:
        self.schedule.start_epoch(epoch)
        cpu_start = time.process_time()  # next to the trainer's wall time: on a shared machine they differ
        rng = rngs["sampler"]
        order = rng.permutation(len(self.inputs))
        negatives = None
        if self.objective.loss == "bce":
            negatives = sample_negatives(self.targets[order], self.model.n_items, rng)
        batches = window_batches(
            self.inputs[order], self.targets[order], self.users[order], self.cfg.batch_size, "cpu", negatives
        )
        total = 0.0
        bar = progress(batches, desc=f"epoch {epoch}", enabled=self.show_progress and self.dist.is_main)
        for batch in bar:
            n_global = len(batch["users"])
            lo, hi = self.dist.shard(n_global)
            local = {key: value[lo:hi].to(self.device) for key, value in batch.items()}
            loss = self.objective(self.model, local)
            for hook in self.hooks:
                loss = hook.on_loss(self.model, local, loss)
            self.step(loss, epoch, scale=self.dist.world_size * (hi - lo) / n_global)
            total += global_sum(float(loss.detach()) * (hi - lo), self.dist)
        return {
            "loss": total / len(self.inputs),
            "lr": self.optimizer.param_groups[0]["lr"],
            "train_cpu_s": time.process_time() - cpu_start,
        }


def init_from_run(model: nn.Module, source: Path, split_folder: Path) -> None:
    """Load a finished run's best model into ``model``, after checking that both runs share the split."""
    where = f"train.init_from: {source}"
    for name in ("train.tsv", "valid.tsv", "test.tsv"):
        mine, theirs = split_folder / name, source / "split" / name
        if not theirs.exists():
            raise ConfigError(f"{where} is not a run folder (no split/{name})")
        if theirs.read_bytes() != mine.read_bytes():
            raise ConfigError(f"{where} was trained on another split ({name} differs)")
    state = load_checkpoint(source / "checkpoints" / "best.pt")["model"]
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ConfigError(f"{where}: its model differs from model.* here ({str(exc)[:300]})") from None
