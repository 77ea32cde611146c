"""Adversarial Personalized Ranking (He et al., SIGIR 2018) as a trainer hook.

Loss per batch: L(Θ) + λ · L_pair(Θ + Δ_adv), where Δ_adv is built from the gradient of the pair loss
at the batch and detached (the paper's fast approximation of the inner maximisation). The L2 term of
L(Θ) is not repeated in the adversarial term: a perturbation is not something to regularise.
Consequence, asserted in the tests: with ε = 0 the loss is exactly L(Θ) + λ · L_pair(Θ), i.e.
(1 + λ) · L(Θ) when there is no L2.

Targets: which of the model's perturbable tables get a Δ (default all; ``[item_features]`` is AMR, Tang
et al. TKDE 2019, whose adversary perturbs the item content features instead of the embeddings).

Universal Δ (``universal_step`` = s): instead of a fresh Δ per batch, one Δ per table is kept for the
whole run (checkpointed) and each batch moves it by a step of s · radius along that batch's gradient, then
projects it back onto the ball (``PerturbationBuilder.universal_step``). The kept Δ accumulates the
gradient of many batches, so the model is trained against the perturbation of its tables that hurts the
whole objective; a per-batch Δ moves every row of a table by the full radius along one batch's gradient,
which for rows the batch barely touches (most output rows of a sequence model's softmax) is noise.

Full-data Δ (``full_data_every`` = N): the robustness probe's own perturbation (one Δ per table from the
gradient of the whole training objective, in eval mode, FGSM or PGD as configured) is computed every N
batches and held fixed in between: adversarial training against exactly the threat the probe measures
(one perturbation of the tables for all users), at the cost of one pass over the training data per
refresh (``pgd_steps`` passes for PGD). It needs the probe's batches (``use_full_data``).

Shared forward (``shared_forward``, a sequential model with ``targets: [item_output]`` only): the hidden
states do not depend on the scored table, so Δ's gradient and the adversarial loss reuse the clean loss's
states (same dropout masks) instead of running the network twice more; one backward through the network
serves both terms. Same objective, a fraction of the cost (a fresh forward would also draw new dropout
masks, the only difference).

Worst case in closed form (method ``worst_case``, a sequential model with ``targets: [item_output]``):
the scored rows moved against each target position separately, each as far as its budget allows. For a
dot-product score that maximum has a closed form (``SequentialObjective.worst_case_loss``), so it costs
one more loss on the clean forward's logits and no gradient step, and it bounds from above what any one
perturbation shared by the batch (FGSM's, or the probe's) can do to the same loss.

Sharded tables (``ShardedRecommender``): Δ is built on the rows the global batch looked up
(``batch_tables``), not on the whole tables. The gradient of the loss with respect to a looked-up row is
the table's gradient at that row, and every other row's gradient is zero, so per-row methods (FGSM, PGD,
ε relative to the row's norm) give exactly the rows of the whole-table Δ, with no rank holding a table.

Schedule: the paper pre-trains with the plain loss and then switches the adversary on; here either a
fixed ``start_epoch`` (plain epochs before), or ``start_after_plateau`` = N: plain training until the
valid selection metric has not improved for N evaluations (pre-training to convergence, without a
dataset-specific epoch count), and an optional linear ε ramp over ``eps_ramp_epochs`` for training from
scratch. Plain epochs are neither selected nor count for early stopping, and neither are the first
``min_adv_epochs`` adversarial ones: robustness keeps growing with adversarial epochs after valid accuracy
has peaked, so selection on valid accuracy alone would otherwise stop the adversary early.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from pydantic import Field, field_validator, model_validator

from advrec.errors import ConfigError
from advrec.models.base import Deltas, Recommender, SequentialRecommender, ShardedRecommender
from advrec.objectives.pairwise import Batch
from advrec.perturb.builder import PerturbationBuilder, select_tables
from advrec.perturb.gradients import (
    LossOfDeltas,
    delta_gradients,
    full_data_gradient_fn,
    global_mean_gradients,
)
from advrec.perturb.methods.registry import PERTURBATIONS
from advrec.train.adversaries.registry import ADVERSARIES, AdversaryConfig, AdversaryContext
from advrec.train.hooks import TrainHook
from advrec.utils.seeding import torch_generator


class APRConfig(AdversaryConfig):
    """APR (He et al., SIGIR 2018): loss + reg_adv * pair loss at the tables + Δ_adv; with ``targets:
    [item_features]`` AMR (Tang et al., TKDE 2019)."""

    name: Literal["apr"] = "apr"
    method: str = Field(
        "fgsm",
        description="how Δ is built from the gradient (advrec.perturb.methods): fgsm (eps * g/||g|| per "
        "row), fgsm_sign (eps * sign(g)), pgd, random (the control), worst_case (sasrec with targets "
        "[item_output]: the exact per-position worst case in closed form)",
    )
    eps: float = Field(0.5, ge=0, description="per-row budget of the perturbation (L2; L-inf for fgsm_sign)")
    eps_mode: Literal["absolute", "relative"] = Field(
        "absolute", description="relative: eps times each embedding row's norm"
    )
    reg_adv: float = Field(1.0, ge=0, description="lambda, the weight of the adversarial loss")
    pgd_steps: int = Field(3, ge=1, description="method pgd: projected steps")
    pgd_alpha: float | None = Field(
        None, gt=0, description="PGD step as a fraction of eps (default 2.5/steps)"
    )
    start_epoch: int = Field(
        0, ge=0, description="plain-loss epochs before the adversary switches on (not selected as best)"
    )
    eps_ramp_epochs: int = Field(
        0, ge=0, description="ramp eps linearly over this many epochs from the start"
    )
    start_after_plateau: int = Field(
        0,
        ge=0,
        description="switch on once plain training has converged: after this many evaluations (from "
        "start_epoch) without a better valid eval.select_metric, as the paper pre-trains; 0 = at start_epoch",
    )
    min_adv_epochs: int = Field(
        0,
        ge=0,
        description="adversarial epochs that run before any epoch may be selected as the best or count "
        "for early stopping; robustness keeps growing after valid accuracy peaks",
    )
    targets: list[str] | None = Field(
        None, description="tables to perturb, e.g. [item_features] for AMR (default: all the model's tables)"
    )
    random_start: bool = Field(
        False,
        description="fgsm or pgd: start each Δ at a random point of the ball (fgsm then steps 1.25 "
        "eps: FGSM-RS, Wong et al. 2020); default: from Δ = 0",
    )
    universal_step: float | None = Field(
        None,
        gt=0,
        le=1,
        description="fgsm: keep one Δ across batches and move it by this fraction of eps per batch "
        "(universal adversarial training); default: a fresh Δ per batch",
    )
    full_data_every: int | None = Field(
        None,
        ge=1,
        description="train against the robustness probe's own Δ (gradient of the whole training "
        "objective, eval mode, fgsm or pgd), rebuilt every this many batches; default: a fresh Δ per batch",
    )
    shared_forward: bool = Field(
        False,
        description="sasrec with targets [item_output]: the adversarial term reuses the clean "
        "forward's hidden states (same dropout masks) instead of two more passes through the network",
    )

    @field_validator("targets")
    @classmethod
    def _distinct_targets(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and (not v or len(set(v)) != len(v)):
            raise ValueError(f"targets must be a non-empty list of distinct table names; got {v}")
        return v

    @field_validator("method")
    @classmethod
    def _registered_method(cls, v: str) -> str:
        if v not in PERTURBATIONS:
            raise ValueError(f"unknown method {v!r}; valid: {', '.join(PERTURBATIONS.names())}")
        return v

    @model_validator(mode="after")
    def _combinations(self) -> APRConfig:
        """What the Δ options combine with (one component's own settings; the run is checked at build)."""
        info = PERTURBATIONS[self.method].info
        if self.random_start and not info.get("random_start"):
            raise ValueError(f"random_start: applies to method fgsm or pgd; got method {self.method!r}")
        if self.random_start and self.universal_step is not None:
            raise ValueError("random_start: not with universal_step (the kept Δ starts it)")
        if self.universal_step is not None and self.method != "fgsm":
            raise ValueError(
                f"universal_step: works with method fgsm only (one projected L2 step per batch); got "
                f"method {self.method!r}"
            )
        if self.full_data_every is not None:
            if self.universal_step is not None:
                raise ValueError("full_data_every: not with universal_step (two kept Δs)")
            if self.method not in ("fgsm", "pgd"):
                raise ValueError(
                    f"full_data_every: needs method fgsm or pgd (the probe's); got {self.method!r}"
                )
        closed_form = bool(info.get("closed_form"))
        for label, on in ((f"method {self.method}", closed_form), ("shared_forward", self.shared_forward)):
            if not on:
                continue
            if self.targets != ["item_output"]:
                raise ValueError(
                    f"{label}: needs targets [item_output] (the hidden states must not depend on the "
                    f"perturbed table), on a sequential model; got targets {self.targets}"
                )
            if self.universal_step is not None or self.full_data_every is not None:
                raise ValueError(
                    f"{label}: not with universal_step or full_data_every (a per-batch term only)"
                )
        if closed_form and self.shared_forward:
            raise ValueError(
                f"method {self.method} builds no Δ; remove shared_forward (it reuses the states)"
            )
        return self


class APRHook(TrainHook):
    def __init__(
        self,
        objective: Any,  # pairwise or sequential: its loss and pair_loss at perturbed tables
        builder: PerturbationBuilder,
        reg_adv: float = 1.0,
        start_epoch: int = 0,
        eps_ramp_epochs: int = 0,
        targets: Sequence[str] | None = None,
        *,
        start_after_plateau: int = 0,
        select_metric: str = "ndcg@10",
        min_adv_epochs: int = 0,
        universal_step: float | None = None,
        full_data_every: int | None = None,
        shared_forward: bool = False,
    ) -> None:
        if universal_step is not None and (universal_step <= 0 or builder.method != "fgsm"):
            raise ValueError("universal_step needs a step > 0 and the fgsm method")
        if full_data_every is not None and (full_data_every < 1 or universal_step is not None):
            raise ValueError("full_data_every needs at least 1 batch and no universal_step")
        if builder.closed_form and not hasattr(objective, "worst_case_loss"):
            raise ValueError("worst_case: the objective has no closed-form worst case (a sequential one has)")
        if shared_forward and (universal_step is not None or full_data_every is not None):
            raise ValueError("shared_forward: a fresh per-batch Δ only (no universal_step, full_data_every)")
        if min(reg_adv, start_epoch, eps_ramp_epochs, start_after_plateau, min_adv_epochs) < 0:
            raise ValueError(
                "need reg_adv, start_epoch, eps_ramp_epochs, start_after_plateau, min_adv_epochs >= 0"
            )
        self.objective = objective
        self.builder = builder
        self.reg_adv = reg_adv
        self.start_epoch = start_epoch
        self.eps_ramp_epochs = eps_ramp_epochs
        self.targets = None if targets is None else list(targets)
        self.start_after_plateau = start_after_plateau
        self.select_metric = select_metric
        self.min_adv_epochs = min_adv_epochs
        self.universal_step = universal_step
        self.full_data_every = full_data_every
        self.shared_forward = shared_forward
        self._full_batches: list[Batch] | None = None
        self._kept: Deltas | None = None  # the universal or full-data Δ, kept across batches
        self._kept_eps: float | None = None  # full-data Δ: the ε it was built for
        self._since_refresh = 0  # full-data Δ: batches trained against it so far
        # The epoch the adversary switches on: fixed, or found when plain training stops improving.
        self.started_at: int | None = None if start_after_plateau else start_epoch
        self._plain_best = float("-inf")
        self._plain_bad = 0
        self.epoch = 0
        self._adv_sum = 0.0
        self._adv_count = 0

    # -- schedule ------------------------------------------------------------------
    def active(self, epoch: int) -> bool:
        return self.started_at is not None and epoch >= self.started_at

    def eps_at(self, epoch: int) -> float:
        """ε of an epoch: 0 before the start, then ramped linearly to the full ε (if a ramp is set)."""
        if not self.active(epoch):
            return 0.0
        if self.eps_ramp_epochs == 0:
            return self.builder.eps
        assert self.started_at is not None  # active
        return self.builder.eps * min(1.0, (epoch - self.started_at + 1) / self.eps_ramp_epochs)

    # -- hook API ------------------------------------------------------------------
    def on_epoch_start(self, epoch: int) -> None:
        self.epoch = epoch
        self._adv_sum, self._adv_count = 0.0, 0

    def counts_for_selection(self, epoch: int) -> bool:
        started = self.started_at
        return started is not None and self.active(epoch) and epoch - started >= self.min_adv_epochs

    def on_loss(self, model: Any, batch: Batch, loss: torch.Tensor) -> torch.Tensor:
        if not self.active(self.epoch):
            return loss
        eps = self.eps_at(self.epoch)
        if self.builder.closed_form:  # closed form on the clean forward's states: no Δ to find
            states = self.objective.clean_states(batch)
            adv = self.objective.worst_case_loss(model, batch, states, eps, self.builder.eps_mode)
        elif self.shared_forward:  # the clean forward's states; Δ's gradient treats them as constants
            states = self.objective.clean_states(batch)
            deltas = self.adversarial_deltas(
                model, batch, eps, lambda d: self.objective.loss_from_states(model, batch, states.detach(), d)
            )
            adv = self.objective.loss_from_states(model, batch, states, deltas)
        else:
            deltas = self.adversarial_deltas(model, batch, eps)
            adv = self.objective.pair_loss(model, batch, deltas)
        self._adv_sum += float(adv.detach()) * len(batch["users"])
        self._adv_count += len(batch["users"])
        return loss + self.reg_adv * adv

    def on_epoch_end(self, epoch: int, log: dict[str, Any]) -> None:
        if self.active(epoch):
            log["adv_eps"] = self.eps_at(epoch)
            log["adv_loss"] = self._adv_sum / max(self._adv_count, 1)
        elif self.started_at is None and epoch >= self.start_epoch and "valid" in log:
            value = log["valid"][self.select_metric]
            if value > self._plain_best:
                self._plain_best, self._plain_bad = value, 0
            else:
                self._plain_bad += 1
            if self._plain_bad >= self.start_after_plateau:
                self.started_at = epoch + 1
                log["adv_starts_at"] = self.started_at

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "generator": self.builder.rng.get_state(),
            "started_at": self.started_at,
            "plain_best": self._plain_best,
            "plain_bad": self._plain_bad,
            "kept": self._kept,
            "kept_eps": self._kept_eps,
            "since_refresh": self._since_refresh,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.builder.rng.set_state(state["generator"])
        self.started_at = state["started_at"]
        self._plain_best = float(state["plain_best"])
        self._plain_bad = int(state["plain_bad"])
        self._kept = state.get("kept")  # absent in checkpoints older than universal_step
        self._kept_eps = state.get("kept_eps")
        self._since_refresh = int(state.get("since_refresh", 0))

    def use_full_data(self, batches: list[Batch]) -> None:
        """The data of the full-data Δ: every training example once, as the robustness probe reads it."""
        self._full_batches = batches

    # -- the adversary -----------------------------------------------------------------
    def adversarial_deltas(
        self, model: Recommender, batch: Batch, eps: float, loss_fn: LossOfDeltas | None = None
    ) -> Deltas:
        """Δ_adv for this batch (detached), from the gradient of the pair loss at Θ (+ Δ for PGD), or of
        ``loss_fn`` (Δ -> loss) when given."""
        n_local = len(batch["users"])
        loss_fn = loss_fn or (lambda d: self.objective.pair_loss(model, batch, d))

        def gradient_fn(deltas: Deltas) -> Deltas:
            return global_mean_gradients(delta_gradients(loss_fn, deltas), n_local)

        if isinstance(model, ShardedRecommender):  # the batch's rows, not the whole tables
            tables = select_tables(model.batch_tables(batch["users"]), self.targets)
        else:
            tables = select_tables(model.embedding_tables(), self.targets)
        if self.full_data_every is not None:
            return self._full_data_deltas(model, tables, eps)
        if self.universal_step is None:
            return self.builder(tables, gradient_fn, eps)
        if self._kept is None:
            self._kept = {name: torch.zeros_like(t.detach()) for name, t in tables.items()}
        self._kept = self.builder.universal_step(tables, gradient_fn, self._kept, self.universal_step, eps)
        return self._kept

    def _full_data_deltas(self, model: Recommender, tables: Deltas, eps: float) -> Deltas:
        """The probe's Δ at the current Θ, rebuilt every ``full_data_every`` batches (or when ε changes)."""
        every = self.full_data_every
        stale = self._kept is None or every is None or self._since_refresh >= every or eps != self._kept_eps
        if stale:
            if self._full_batches is None:
                raise RuntimeError("full_data_every: call use_full_data(batches) before training")
            was_training = model.training
            model.eval()  # the probe's gradient: no dropout
            try:
                gradient_fn = full_data_gradient_fn(model, self.objective, self._full_batches)
                self._kept = self.builder({n: t.detach() for n, t in tables.items()}, gradient_fn, eps)
            finally:
                model.train(was_training)
            self._kept_eps, self._since_refresh = eps, 0
        assert self._kept is not None
        self._since_refresh += 1
        return self._kept


@ADVERSARIES.register(APRConfig)
def build_apr(cfg: APRConfig, ctx: AdversaryContext) -> list[TrainHook]:
    """The APR hook of ``cfg`` for the run ``ctx`` describes (checked against the run before any epoch)."""
    epochs = ctx.epochs
    if cfg.start_epoch >= epochs:
        raise ConfigError(
            f"adversary.start_epoch: {cfg.start_epoch} >= train.epochs ({epochs}); the adversary would never "
            "switch on"
        )
    if cfg.start_epoch + cfg.min_adv_epochs >= epochs:
        raise ConfigError(
            f"adversary.min_adv_epochs: start_epoch ({cfg.start_epoch}) + min_adv_epochs "
            f"({cfg.min_adv_epochs}) >= train.epochs ({epochs}); no epoch could be selected"
        )
    closed_form = bool(PERTURBATIONS[cfg.method].info.get("closed_form"))
    if (closed_form or cfg.shared_forward) and not isinstance(ctx.model, SequentialRecommender):
        what = f"adversary.method: {cfg.method}" if closed_form else "adversary.shared_forward"
        raise ConfigError(f"{what} needs a sequential model (e.g. sasrec); got {type(ctx.model).__name__}")
    select_tables(ctx.model.embedding_tables(), cfg.targets)  # the model's table names, checked now
    if isinstance(ctx.model, ShardedRecommender) and (cfg.universal_step or cfg.full_data_every):
        raise ConfigError(
            "adversary: universal_step and full_data_every keep a Δ of the whole tables; with sharded "
            "tables APR perturbs the rows of each batch only"
        )
    if cfg.full_data_every is not None:
        if ctx.full_data is None:
            raise ConfigError("adversary.full_data_every: this run's training path has no full-data gradient")
        if ctx.world_size > 1:
            raise ConfigError(
                f"adversary.full_data_every: not under distributed training (world size {ctx.world_size}); "
                "every rank would repeat the same full pass: run it in one process"
            )
    builder = PerturbationBuilder(
        method=cfg.method,
        eps=cfg.eps,
        eps_mode=cfg.eps_mode,
        pgd_steps=cfg.pgd_steps,
        pgd_alpha=cfg.pgd_alpha,
        generator=torch_generator(ctx.seed, "adversary"),
        random_start=cfg.random_start,
    )
    hook = APRHook(
        ctx.objective,
        builder,
        cfg.reg_adv,
        cfg.start_epoch,
        cfg.eps_ramp_epochs,
        cfg.targets,
        start_after_plateau=cfg.start_after_plateau,
        select_metric=ctx.select_metric,
        min_adv_epochs=cfg.min_adv_epochs,
        universal_step=cfg.universal_step,
        full_data_every=cfg.full_data_every,
        shared_forward=cfg.shared_forward,
    )
    if cfg.full_data_every is not None and ctx.full_data is not None:
        hook.use_full_data(ctx.full_data())
    return [hook]
