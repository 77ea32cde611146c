"""Train a run: config -> split -> model -> trainer -> test read once -> run folder (see ``advrec.runs``)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import torch

from advrec.config.loading import dump_config
from advrec.config.schema import RunConfig
from advrec.data.sampler import NegativeSampler
from advrec.data.split import Split
from advrec.errors import ConfigError
from advrec.measure.protocol import Protocol
from advrec.measure.robustness import training_batches, validation_under_attack
from advrec.models.base import Recommender
from advrec.models.registry import SEQUENTIAL_MODELS, build_model
from advrec.objectives.pairwise import build_objective
from advrec.runs.folder import (
    _check_run_dir,
    check_feature_config,
    check_model_inputs,
    clear_stray_temps,
    prepare_item_features,
    prepare_split,
)
from advrec.train.adversaries.registry import build_adversary
from advrec.train.augment import build_augmentation
from advrec.train.distributed import DistContext, init_distributed
from advrec.train.gan.builder import build_game, build_gan_model, check_gan_config
from advrec.train.hooks import TrainHook
from advrec.train.optim import LRSchedule, build_optimizer
from advrec.train.trainer import Trainer, TrainResult
from advrec.utils.devices import check_device
from advrec.utils.environment import run_environment
from advrec.utils.files import atomic_write_json, atomic_write_text
from advrec.utils.locking import folder_lock
from advrec.utils.seeding import child_seed, numpy_rng, torch_generator


def train_run(
    config: RunConfig,
    run_dir: str | Path,
    *,
    data_root: str | Path | None = None,
    resume: bool = False,
    hooks: list[TrainHook] | None = None,
    show_progress: bool = True,
    read_test: bool = True,
) -> dict[str, Any]:
    """Train, select on valid, then read test once (``read_test=False``: leave test unread, ``"test":
    null`` in ``results.json``, for tuning runs; ``evaluate_run`` reads and records it later)."""
    run_dir = Path(run_dir)
    check_feature_config(config)
    if config.threads:
        torch.set_num_threads(config.threads)
    check_device(config.device)
    ctx = init_distributed(config.device)
    # one writer per run folder; the other ranks of a torchrun job write nothing but through rank 0
    with folder_lock(run_dir) if ctx.is_main else contextlib.nullcontext():
        if ctx.is_main:
            clear_stray_temps(run_dir)
        return _train_locked(config, run_dir, data_root, resume, hooks, show_progress, read_test, ctx)


def _train_locked(
    config: RunConfig,
    run_dir: Path,
    data_root: str | Path | None,
    resume: bool,
    hooks: list[TrainHook] | None,
    show_progress: bool,
    read_test: bool,
    ctx: DistContext,
) -> dict[str, Any]:
    _check_run_dir(config, run_dir, resume)
    if ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "config.yaml", dump_config(config))
        if not resume:
            (run_dir / "metrics.jsonl").unlink(missing_ok=True)
    ctx.barrier()
    split = prepare_split(config, run_dir, data_root, ctx, resume)
    if config.model.name in SEQUENTIAL_MODELS:
        from advrec.train.sequential import train_sequential

        protocol, model, fit = train_sequential(
            config, run_dir, split, ctx, resume, hooks or [], show_progress
        )
        return _test_and_record(run_dir, split, protocol, model, fit, ctx, read_test)
    if config.train.init_from is not None:
        raise ConfigError("train.init_from: only sequential models (sasrec) start from another run")
    protocol = Protocol.from_split(split, config.eval, config.device)
    if config.gan.name != "none":
        return _train_gan(
            config, run_dir, split, protocol, ctx, resume, hooks or [], show_progress, read_test
        )
    item_features = prepare_item_features(config, run_dir, data_root, split, ctx)

    init = torch_generator(config.seed, "init")
    model = build_model(config.model, split.train, init, item_features).to(config.device)
    check_model_inputs(config, model)
    torch.manual_seed(child_seed(config.seed, "dropout"))
    tc = config.train
    optimizer = build_optimizer(model.parameters(), tc.optimizer)
    objective = build_objective(tc.objective, tc.l2)

    def full_data() -> list[dict[str, torch.Tensor]]:  # as the robustness probe reads it
        return training_batches(split.train, config.seed, 8192, torch.device(config.device))

    # Augmentation and adversary hooks go first: hook states are checkpointed as a list in this order,
    # and a caller's extra hooks (monitors, a simulated crash) may differ between a run and its resume.
    adversary = build_adversary(config, objective, full_data)
    hooks = [*build_augmentation(config), *adversary, *(hooks or [])]
    aug = config.augment
    validate = protocol.validate
    if config.eval.adversarial_valid is not None:
        batches = training_batches(split.train, config.seed, tc.batch_size, torch.device(config.device))
        validate = validation_under_attack(config, model, protocol, objective, batches)
    trainer = Trainer(
        model,
        objective,
        NegativeSampler(split.train, tc.n_negatives, aug.drop_interactions, aug.add_interactions),
        optimizer,
        LRSchedule(optimizer, tc.schedule, tc.epochs),
        validate,
        tc,
        select_metric=config.eval.select_metric,
        rngs={"sampler": numpy_rng(config.seed, "sampler")},
        run_dir=run_dir,
        hooks=hooks,
        dist_ctx=ctx,
        device=config.device,
        show_progress=show_progress,
    )
    fit = trainer.fit(resume=resume)
    return _test_and_record(run_dir, split, protocol, model, fit, ctx, read_test)


def _test_and_record(
    run_dir: Path,
    split: Split,
    protocol: Protocol,
    model: Recommender,
    fit: TrainResult,
    ctx: DistContext,
    read_test: bool = True,
) -> dict[str, Any]:
    # The test split is read here, once, after the best checkpoint was restored (or not at all).
    model.eval()
    start = time.perf_counter()
    test = protocol.test_metrics(model) if read_test else None
    test_s = time.perf_counter() - start if read_test else None
    results = {
        "test": test,
        "valid": fit.best_valid,
        "best_epoch": fit.best_epoch,
        "epochs_run": fit.epochs_run,
        "timing": {
            "train_s_per_epoch": fit.train_s_per_epoch,
            "eval_s": fit.eval_s,
            "time_to_best_s": fit.time_to_best_s,
            "test_eval_s": test_s,
        },
        "dataset": {
            "n_users": split.train.n_users,
            "n_items": split.train.n_items,
            "n_train": len(split.train),
            "n_valid": len(split.valid),
            "n_test": len(split.test),
        },
        "world_size": ctx.world_size,
        "environment": run_environment(str(next(model.parameters()).device)),
    }
    if ctx.is_main:
        atomic_write_json(run_dir / "results.json", results)
    return results


def _train_gan(
    config: RunConfig,
    run_dir: Path,
    split: Split,
    protocol: Protocol,
    ctx: DistContext,
    resume: bool,
    hooks: list[TrainHook],
    show_progress: bool,
    read_test: bool = True,
) -> dict[str, Any]:
    """A GAN run: the same trainer, with the game as its training procedure; ``gan.png`` at the end."""
    from advrec.train.gan.plot import plot_gan_history, read_history

    check_gan_config(config)
    if config.eval.adversarial_valid is not None:
        raise ConfigError("eval.adversarial_valid: GAN runs have no single objective to attack; unset it")
    if ctx.enabled:
        raise ConfigError("gan.name: GAN training runs in a single process (no torchrun)")
    model = build_gan_model(config, split.train).to(config.device)
    game = build_game(config, model, split.train)
    trainer = Trainer(
        model,
        None,
        None,
        None,
        None,
        protocol.validate,
        config.train,
        select_metric=config.eval.select_metric,
        rngs={"sampler": numpy_rng(config.seed, "sampler")},
        run_dir=run_dir,
        hooks=hooks,
        device=config.device,
        show_progress=show_progress,
        procedure=game,
    )
    try:
        fit = trainer.fit(resume=resume)
    finally:  # also after a divergence: the curves up to it are what explains it
        metrics = run_dir / "metrics.jsonl"
        if metrics.exists() and metrics.stat().st_size:
            plot_gan_history(
                read_history(metrics), run_dir / "gan.png", title=f"{config.gan.name}, seed {config.seed}"
            )
    return _test_and_record(run_dir, split, protocol, model, fit, ctx, read_test)
