"""Train a run: config -> split -> model -> trainer -> test read once -> run folder (see ``advrec.runs``)."""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any

import torch

from advrec.data.split import Split
from advrec.measure.protocol import EvaluationProtocol, say_undefined
from advrec.models.base import ScoringModel
from advrec.runs.config import RunConfig, dump_config, parse_config
from advrec.runs.folder import (
    _check_run_dir,
    clear_stray_temps,
    prepare_item_features,
    prepare_split,
)
from advrec.runs.setup import build_setup
from advrec.train.checkpoint import check_resume_checkpoint
from advrec.train.distributed import DistContext, init_distributed
from advrec.train.hooks import TrainHook
from advrec.train.trainer import Trainer, TrainResult
from advrec.utils.devices import check_device
from advrec.utils.environment import run_environment
from advrec.utils.files import atomic_write_json, atomic_write_text
from advrec.utils.locking import folder_lock
from advrec.utils.log import run_log
from advrec.utils.seeding import numpy_rng

logger = logging.getLogger(__name__)


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
    null`` in ``results.json``, for tuning runs; ``evaluate_run`` reads and records it later).
    ``hooks``: monitors or trackers added after the method's own (their states are not needed to resume)."""
    run_dir = Path(run_dir)
    # validated again as a whole: a config changed after it was read (model_copy, an assignment to a
    # section) has not been checked across its sections
    config = parse_config(config.model_dump(mode="json"), "config")
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
    with run_log(run_dir, enabled=ctx.is_main):
        logger.info("%s %s in %s", "resuming" if resume else "training", _describe(config), run_dir)
        split = prepare_split(config, run_dir, data_root, ctx, resume)
        item_features = prepare_item_features(config, run_dir, data_root, split, ctx)
        setup = build_setup(
            config,
            split,
            run_dir,
            ctx,
            item_features=item_features,
            hooks=hooks or [],
            show_progress=show_progress,
        )
        last = run_dir / "checkpoints" / "last.pt"
        if resume and last.exists():  # a foreign or edited last.pt: one error now, not mid-resume
            check_resume_checkpoint(last, setup.model, config.train.epochs)
        trainer = Trainer(
            setup.model,
            setup.procedure,
            setup.validate,
            config.train,
            select_metric=config.eval.select_metric,
            rngs={"sampler": numpy_rng(config.seed, "sampler")},
            run_dir=run_dir,
            hooks=setup.hooks,
            dist_ctx=ctx,
        )
        try:
            fit = trainer.fit(resume=resume)
        finally:
            if setup.after_fit is not None and ctx.is_main:
                setup.after_fit()
        results = _test_and_record(run_dir, split, setup.protocol, setup.model, fit, ctx, read_test)
        logger.info("best epoch %d; results in %s", fit.best_epoch + 1, run_dir / "results.json")
        return results


def _describe(config: RunConfig) -> str:
    parts = [config.model.name]
    if config.adversary.name != "none":
        parts.append(f"with {config.adversary.name}")
    return " ".join(parts) + f", seed {config.seed}"


def _test_and_record(
    run_dir: Path,
    split: Split,
    protocol: EvaluationProtocol,
    model: ScoringModel,
    fit: TrainResult,
    ctx: DistContext,
    read_test: bool = True,
) -> dict[str, Any]:
    # The test split is read here, once, after the best checkpoint was restored (or not at all).
    model.eval()
    start = time.perf_counter()
    test = protocol.test_metrics(model) if read_test else None
    test_s = time.perf_counter() - start if read_test else None
    if test is not None and ctx.is_main:
        say_undefined(test)
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
