"""Training a sequential model (SASRec) under the one trainer, as a training procedure.

Every position of a training window is trained in one forward (causal mask): a user's sequence gives
``len - 1`` next-item targets per epoch without materialising one example per prefix (RecBole's way).

Loss per batch: the sum over the batch's target positions of the per-position loss, divided by
``span * n_windows`` (span: target positions per window, ``max_len`` unless ``model.sasrec.span`` says
otherwise), i.e. a mean over windows of their summed position losses / span. Every
position weighs the same in every batch, and the loss is a mean over rows (windows), which is what the
DDP scaling and the APR hook's cross-rank gradient average assume. ``ce``: softmax cross-entropy over
all items; ``bce``: binary cross-entropy of the target against one sampled negative (uniform over the
items, redrawn where it hits the target).

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
import torch.nn.functional as F
from torch import nn

from advrec.adversarial.perturbation import EpsMode, row_radius
from advrec.config.schema import RunConfig, TrainConfig
from advrec.data.sequences import check_leave_one_out, training_windows, user_sequences
from advrec.data.split import Split
from advrec.errors import ConfigError
from advrec.models.sasrec import SASRec
from advrec.training.distributed import DistContext
from advrec.training.hooks import TrainHook
from advrec.training.optim import LRSchedule
from advrec.utils.progress import progress

Batch = dict[str, torch.Tensor]
LOSSES = ("ce", "bce")


class SequentialObjective:
    """A batch of windows -> next-item loss. ``pair_loss`` is the name the APR hook and the robustness
    probe call (the loss an adversary perturbs); there is no separate regulariser to leave out.

    The clean call (``objective(model, batch)``) keeps its hidden states for that batch, so an adversary
    that perturbs only the scored table can reuse them (``clean_states``, ``loss_from_states``) instead of
    running the network again: the states do not depend on ``item_output``."""

    def __init__(self, loss: str = "ce", span: int | None = None):
        if loss not in LOSSES:
            raise ConfigError(f"model.sasrec.loss: unknown loss {loss!r}; valid: {', '.join(LOSSES)}")
        self.loss = loss
        self.span = span  # target positions per window (default: all of them, the window's length)
        # the last clean call: (batch inputs, their states, their ce logits or None)
        self._clean: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None = None

    def states(self, model: SASRec, batch: Batch, deltas: dict[str, torch.Tensor] | None = None):
        """Hidden states at the batch's target positions, [n_positions, dim]."""
        return model.hidden(batch["inputs"], deltas)[batch["targets"] > 0]

    def loss_from_states(
        self,
        model: SASRec,
        batch: Batch,
        states: torch.Tensor,
        deltas: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        return self._loss(model.output_items(deltas), batch, states)

    def worst_case_loss(
        self, model: SASRec, batch: Batch, states: torch.Tensor, eps: float, eps_mode: EpsMode
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
        self, model: SASRec, batch: Batch, deltas: dict[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        return self.loss_from_states(model, batch, self.states(model, batch, deltas), deltas)

    def clean_states(self, batch: Batch) -> torch.Tensor:
        """The states of the last clean call, which must have been on this very batch."""
        if self._clean is None or self._clean[0] is not batch["inputs"]:
            raise RuntimeError("clean_states: the last clean loss was not computed on this batch")
        return self._clean[1]

    def __call__(
        self, model: SASRec, batch: Batch, deltas: dict[str, torch.Tensor] | None = None
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


class SequentialProcedure:
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

    def run_epoch(self, epoch: int, rngs: dict[str, np.random.Generator]) -> dict[str, Any]:
        from advrec.training.trainer import TrainingDiverged  # the trainer imports this module's users

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
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"epoch {epoch}: training loss became {loss.item()}; stopped, last good checkpoint kept"
                )
            self.optimizer.zero_grad(set_to_none=True)
            scale = self.dist.world_size * (hi - lo) / n_global
            (loss * scale).backward()
            if self.dist.enabled:
                self._average_gradients()
            if self.cfg.grad_clip is not None:
                nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
            self.optimizer.step()
            total += self._global_sum(float(loss.detach()) * (hi - lo))
        return {
            "loss": total / len(self.inputs),
            "lr": self.optimizer.param_groups[0]["lr"],
            "train_cpu_s": time.process_time() - cpu_start,
        }

    def _average_gradients(self) -> None:
        params = list(self.model.parameters())
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

    def end_epoch(self, metric: float | None) -> None:
        self.schedule.end_epoch(metric)

    def counts_for_selection(self, epoch: int) -> bool:
        return True

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])


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


def sequence_windows(config: RunConfig, split: Split) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = config.model.sasrec
    return training_windows(user_sequences(split.train), s.max_len, s.windows, s.span)


def probe_batches(
    config: RunConfig, split: Split, device: torch.device | str, batch_size: int | None = None
) -> list[Batch]:
    """Every training window once, in order, with seeded negatives for bce: the robustness probe's data
    (in batches of ``train.batch_size`` windows, or ``batch_size``: the same mean gradient, fewer steps)."""
    from advrec.utils.seeding import numpy_rng

    inputs, targets, users = sequence_windows(config, split)
    negatives = None
    if config.model.sasrec.loss == "bce":
        negatives = sample_negatives(targets, split.train.n_items, numpy_rng(config.seed, "attack"))
    return window_batches(inputs, targets, users, batch_size or config.train.batch_size, device, negatives)


def init_from_run(model: nn.Module, source: Path, split_folder: Path) -> None:
    """Load a finished run's best model into ``model``, after checking that both runs share the split."""
    from advrec.training.checkpoint import load_checkpoint

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


def train_sequential(
    config: RunConfig,
    run_dir: Path,
    split: Split,
    ctx: DistContext,
    resume: bool,
    hooks: list[TrainHook],
    show_progress: bool,
):
    """A sequential run under the one trainer; returns (protocol, model, fit) for testing and recording."""
    from advrec.adversarial import build_adversary
    from advrec.evaluation.sequential import SequentialProtocol
    from advrec.models import build_model
    from advrec.training.optim import build_optimizer
    from advrec.training.trainer import Trainer
    from advrec.utils.seeding import child_seed, numpy_rng, torch_generator

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
        from advrec.adversarial import select_tables

        select_tables(model.embedding_tables(), config.adversary.targets)
    hooks = [*adversary, *hooks]  # the adversary first: hook states are checkpointed in this order
    procedure = SequentialProcedure(
        model,
        objective,
        optimizer,
        LRSchedule(optimizer, tc.schedule, tc.epochs),
        sequence_windows(config, split),
        tc,
        hooks=hooks,
        dist_ctx=ctx,
        device=config.device,
        show_progress=show_progress,
    )
    validate = protocol.validate
    if config.eval.adversarial_valid is not None:
        from advrec.evaluation.robustness import validation_under_attack

        batches = probe_batches(config, split, config.device)
        validate = validation_under_attack(config, model, protocol, objective, batches)
    trainer = Trainer(
        model,
        None,
        None,
        None,
        None,
        validate,
        tc,
        select_metric=config.eval.select_metric,
        rngs={"sampler": numpy_rng(config.seed, "sampler")},
        run_dir=run_dir,
        hooks=hooks,
        dist_ctx=ctx,
        device=config.device,
        show_progress=show_progress,
        procedure=procedure,
    )
    return protocol, model, trainer.fit(resume=resume)
