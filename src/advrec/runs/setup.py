"""From a run's config to what trains it: the model, its training procedure, the evaluation protocol and
the hooks (adversary, augmentation, the caller's monitors), for each of the three procedures a model can
need (``advrec.models.registry``: pairwise, sequential, gan)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from advrec.data.sampler import NegativeSampler
from advrec.data.sequences import check_leave_one_out
from advrec.data.split import Split
from advrec.errors import ConfigError
from advrec.measure.protocol import Protocol
from advrec.measure.robustness import training_batches, validation_under_attack
from advrec.measure.sequential import SequentialProtocol
from advrec.models.registry import build_model, procedure_of
from advrec.objectives.pairwise import build_objective
from advrec.objectives.sequential import SequentialObjective, probe_batches, sequence_windows
from advrec.runs.config import RunConfig
from advrec.train.adversaries.registry import AdversaryContext, build_adversary
from advrec.train.augment import build_augmentation
from advrec.train.distributed import DistContext
from advrec.train.gan.builder import build_game
from advrec.train.gan.plot import plot_gan_history, read_history
from advrec.train.hooks import TrainHook
from advrec.train.optim import LRSchedule, build_optimizer
from advrec.train.pairwise import PairwiseProcedure
from advrec.train.procedure import TrainingSetup
from advrec.train.sequential import SequentialProcedure, init_from_run
from advrec.utils.seeding import child_seed, torch_generator

# the robustness probe's batch of training examples when an adversary needs the whole training data
FULL_DATA_BATCH = {"pairwise": 8192, "sequential": 256}


def build_protocol(config: RunConfig, split: Split) -> Protocol:
    """The run's evaluation protocol: sequential for sequential models, the general one otherwise."""
    if procedure_of(config.model.name) == "sequential":
        return SequentialProtocol.from_split(split, config.eval, config.model.max_len, config.device)
    return Protocol.from_split(split, config.eval, config.device)


def build_setup(
    config: RunConfig,
    split: Split,
    run_dir: Path | None,
    ctx: DistContext,
    *,
    item_features: torch.Tensor | None = None,
    hooks: Sequence[TrainHook] = (),
    show_progress: bool = False,
) -> TrainingSetup:
    """The model, procedure, protocol and hooks of ``config``'s run on ``split``. ``hooks`` (monitors,
    trackers) come after the method's own, whose states are checkpointed first."""
    procedure = procedure_of(config.model.name)
    if procedure == "sequential":
        return setup_sequential(config, split, run_dir, ctx, hooks, show_progress)
    if procedure == "gan":
        return setup_gan(config, split, run_dir, ctx, hooks)
    return setup_pairwise(config, split, item_features, ctx, hooks, show_progress)


def setup_pairwise(
    config: RunConfig,
    split: Split,
    item_features: torch.Tensor | None,
    ctx: DistContext,
    hooks: Sequence[TrainHook] = (),
    show_progress: bool = False,
) -> TrainingSetup:
    """A model of user ids trained on sampled pairs, with its adversary and augmentation hooks."""
    protocol = build_protocol(config, split)
    model = build_model(config.model, split.train, torch_generator(config.seed, "init"), item_features)
    model = model.to(config.device)
    torch.manual_seed(child_seed(config.seed, "dropout"))
    tc = config.train
    optimizer = build_optimizer(model.parameters(), tc.optimizer)
    objective = build_objective(tc.objective, tc.l2)

    def full_data() -> list[dict[str, torch.Tensor]]:  # the training data as the robustness probe reads it
        return training_batches(
            split.train, config.seed, FULL_DATA_BATCH["pairwise"], torch.device(config.device)
        )

    adversary = build_adversary(
        config.adversary, _adversary_context(config, model, objective, full_data, ctx)
    )
    # Augmentation and adversary hooks go first: hook states are checkpointed as a list in this order,
    # and a caller's extra hooks (monitors, a simulated crash) may differ between a run and its resume.
    all_hooks = [*build_augmentation(config.augment, config.seed), *adversary, *hooks]
    validate = protocol.validate
    if config.eval.adversarial_valid is not None:
        batches = training_batches(split.train, config.seed, tc.batch_size, torch.device(config.device))
        validate = validation_under_attack(
            config.eval.adversarial_valid, config.seed, model, protocol, objective, batches
        )
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


def setup_sequential(
    config: RunConfig,
    split: Split,
    run_dir: Path | None,
    ctx: DistContext,
    hooks: Sequence[TrainHook] = (),
    show_progress: bool = False,
) -> TrainingSetup:
    """A next-item model on the leave-one-out protocol (``train.init_from`` loads another run folder's
    best model, checked to share ``run_dir``'s split)."""
    check_leave_one_out(split)
    if split.train.n_items < 2:
        raise ConfigError("data: a sequential model needs at least two items")
    cfg = config.model
    protocol = build_protocol(config, split)
    model = build_model(cfg, split.train, torch_generator(config.seed, "init"))
    if config.train.init_from is not None:
        if run_dir is None:
            raise ConfigError("train.init_from: needs a run folder to check the split against")
        init_from_run(model, Path(config.train.init_from), run_dir / "split")
    model = model.to(config.device)
    torch.manual_seed(child_seed(config.seed, "dropout"))
    tc = config.train
    objective = SequentialObjective(cfg.loss, cfg.span)
    optimizer = build_optimizer(model.parameters(), tc.optimizer)

    def full_data() -> list[dict[str, torch.Tensor]]:  # the probe's windows, in larger batches
        return probe_batches(cfg, split, config.seed, config.device, FULL_DATA_BATCH["sequential"])

    adversary = build_adversary(
        config.adversary, _adversary_context(config, model, objective, full_data, ctx)
    )
    all_hooks = [*adversary, *hooks]  # the adversary first: hook states are checkpointed in this order
    procedure = SequentialProcedure(
        model,
        objective,
        optimizer,
        LRSchedule(optimizer, tc.schedule, tc.epochs),
        sequence_windows(cfg, split),
        tc,
        hooks=all_hooks,
        dist_ctx=ctx,
        device=config.device,
        show_progress=show_progress,
    )
    validate = protocol.validate
    if config.eval.adversarial_valid is not None:
        batches = probe_batches(cfg, split, config.seed, config.device, tc.batch_size)
        validate = validation_under_attack(
            config.eval.adversarial_valid, config.seed, model, protocol, objective, batches
        )
    return TrainingSetup(model, procedure, protocol, validate, all_hooks)


def setup_gan(
    config: RunConfig, split: Split, run_dir: Path | None, ctx: DistContext, hooks: Sequence[TrainHook] = ()
) -> TrainingSetup:
    """A GAN recommender trained by its game; ``gan.png`` is drawn from ``metrics.jsonl`` once training
    ends (also after a divergence: the curves explain it)."""
    if ctx.enabled:
        raise ConfigError(f"model.name: {config.model.name} (a GAN) trains in a single process (no torchrun)")
    protocol = build_protocol(config, split)
    model = build_model(config.model, split.train, torch_generator(config.seed, "init")).to(config.device)
    game = build_game(config.model, model, split.train, config.train, config.seed)

    def plot() -> None:
        metrics = None if run_dir is None else run_dir / "metrics.jsonl"
        if metrics is not None and metrics.exists() and metrics.stat().st_size:
            title = f"{config.model.name}, seed {config.seed}"
            plot_gan_history(read_history(metrics), run_dir / "gan.png", title=title)

    return TrainingSetup(model, game, protocol, protocol.validate, list(hooks), after_fit=plot)


def _adversary_context(config: RunConfig, model, objective, full_data, ctx: DistContext) -> AdversaryContext:
    return AdversaryContext(
        model=model,
        objective=objective,
        seed=config.seed,
        epochs=config.train.epochs,
        select_metric=config.eval.select_metric,
        full_data=full_data,
        world_size=ctx.world_size,
    )
