"""Training a sequential model (SASRec) under the one trainer, as a training procedure.

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
import torch.distributed as dist
from torch import nn

from advrec.config.schema import RunConfig, TrainConfig
from advrec.data.sequences import check_leave_one_out
from advrec.data.split import Split
from advrec.errors import ConfigError
from advrec.measure.robustness import validation_under_attack
from advrec.measure.sequential import SequentialProtocol
from advrec.models.registry import build_model
from advrec.models.sasrec import SASRec
from advrec.objectives.sequential import (
    SequentialObjective,
    probe_batches,
    sample_negatives,
    sequence_windows,
    window_batches,
)
from advrec.perturb.builder import select_tables
from advrec.train.adversaries.registry import build_adversary
from advrec.train.checkpoint import load_checkpoint
from advrec.train.distributed import DistContext
from advrec.train.hooks import TrainHook
from advrec.train.optim import LRSchedule, build_optimizer
from advrec.train.procedure import OneOptimizer, TrainingSetup
from advrec.train.step import GuardedStep
from advrec.utils.progress import progress
from advrec.utils.seeding import child_seed, torch_generator


class SequentialProcedure(OneOptimizer):
    """One epoch: the windows shuffled (seeded), batches of ``batch_size`` windows, hooks' ``on_loss``."""

    def __init__(
        self,
        model: SASRec,
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
        average = self._average_gradients if self.dist.enabled else None
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
            total += self._global_sum(float(loss.detach()) * (hi - lo))
        return {
            "loss": total / len(self.inputs),
            "lr": self.optimizer.param_groups[0]["lr"],
            "train_cpu_s": time.process_time() - cpu_start,
        }

    def _average_gradients(self, params: Sequence[nn.Parameter]) -> None:
        for p in params:
            if p.grad is None:  # a rank whose slice did not use a parameter still joins the all-reduce
                p.grad = torch.zeros_like(p)
        # one all-reduce of all gradients in one buffer: one per parameter costs more than the step itself
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        dist.all_reduce(flat)
        flat /= self.dist.world_size
        offset = 0
        for p in params:
            p.grad.copy_(flat[offset : offset + p.numel()].view_as(p.grad))
            offset += p.numel()

    def _global_sum(self, value: float) -> float:
        if not self.dist.enabled:
            return value
        t = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(t)
        return float(t.item())


def check_sequential_config(config: RunConfig, split: Split | None = None) -> None:
    """What a sequential run cannot combine with, before anything trains."""
    if config.gan.name != "none":
        raise ConfigError(f"gan.name: {config.gan.name!r} cannot be combined with model.name sasrec")
    if config.adversary.name not in ("none", "apr"):
        raise ConfigError(
            f"adversary.name: {config.adversary.name!r} is not available for sequential models; use apr"
        )
    if config.augment.drop_interactions or config.augment.add_interactions or config.augment.feature_noise:
        raise ConfigError("augment: interaction and feature augmentation are not available for sasrec")
    if config.train.l2 > 0:
        raise ConfigError("train.l2: sasrec has no per-batch L2 term; use train.optimizer.weight_decay")
    if config.train.optimizer.name == "sparse_adam" or config.train.kernel not in ("auto", "autograd"):
        raise ConfigError("train.optimizer sparse_adam / train.kernel fused*: MF-BPR only, not sasrec")
    if split is not None:
        check_leave_one_out(split)
        if split.train.n_items < 2:
            raise ConfigError("data: a sequential model needs at least two items")


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


def setup_sequential(
    config: RunConfig,
    split: Split,
    run_dir: Path,
    ctx: DistContext,
    hooks: Sequence[TrainHook] = (),
    show_progress: bool = False,
) -> TrainingSetup:
    """The sequential run of ``config`` (leave-one-out protocol, windows, the next-item objective);
    ``train.init_from`` loads another run folder's best model, checked to share ``run_dir``'s split."""
    check_sequential_config(config, split)
    protocol = SequentialProtocol.from_split(split, config.eval, config.model.sasrec.max_len, config.device)
    model = build_model(config.model, split.train, torch_generator(config.seed, "init"))
    if config.train.init_from is not None:
        init_from_run(model, Path(config.train.init_from), run_dir / "split")
    model = model.to(config.device)
    torch.manual_seed(child_seed(config.seed, "dropout"))
    tc = config.train
    objective = SequentialObjective(config.model.sasrec.loss, config.model.sasrec.span)
    optimizer = build_optimizer(model.parameters(), tc.optimizer)
    # the full-data Δ's pass: the probe's windows in batches of 256 (the same mean gradient, fewer steps)
    adversary = build_adversary(config, objective, lambda: probe_batches(config, split, config.device, 256))
    if adversary:
        select_tables(model.embedding_tables(), config.adversary.targets)
    all_hooks = [*adversary, *hooks]  # the adversary first: hook states are checkpointed in this order
    procedure = SequentialProcedure(
        model,
        objective,
        optimizer,
        LRSchedule(optimizer, tc.schedule, tc.epochs),
        sequence_windows(config, split),
        tc,
        hooks=all_hooks,
        dist_ctx=ctx,
        device=config.device,
        show_progress=show_progress,
    )
    validate = protocol.validate
    if config.eval.adversarial_valid is not None:
        batches = probe_batches(config, split, config.device)
        validate = validation_under_attack(config, model, protocol, objective, batches)
    return TrainingSetup(model, procedure, protocol, validate, all_hooks)
