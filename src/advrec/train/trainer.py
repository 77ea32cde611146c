"""The one training loop: epochs, validation, model selection, early stopping, checkpoints and exact
resume. What an epoch of training is belongs to a procedure (``advrec.train.procedure``): pairwise,
sequential, or a GAN game; hooks (adversaries, monitors, trackers) plug into both without subclassing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from advrec.errors import AdvrecError, NothingSelected, TrainingDiverged
from advrec.models.base import ScoringModel
from advrec.train.averaging import WeightAverage
from advrec.train.checkpoint import load_checkpoint, restore_rng_state, rng_state, save_checkpoint
from advrec.train.config import TrainConfig
from advrec.train.distributed import DistContext
from advrec.train.hooks import TrainHook
from advrec.train.metrics_log import read_metrics_log
from advrec.train.procedure import TrainingProcedure, Validate
from advrec.utils.files import atomic_write_text

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    best_epoch: int
    best_valid: dict[str, float]
    epochs_run: int
    history: list[dict[str, Any]] = field(default_factory=list)
    train_s_per_epoch: float = 0.0
    eval_s: float = 0.0
    time_to_best_s: float = 0.0  # training and validation wall seconds of the epochs up to the best one


def time_to_best(history: list[dict[str, Any]], best_epoch: int) -> float:
    """Wall seconds spent training and validating until the best epoch was evaluated (a resumed run's
    earlier epochs included, as logged; process start, data loading and the test are not counted)."""
    return float(sum(h["train_s"] + h.get("eval_s", 0.0) for h in history if h["epoch"] <= best_epoch))


class Trainer:
    """Runs ``procedure`` epoch by epoch until ``train.epochs`` or early stopping; validates every
    ``eval_every`` epochs, keeps the best model by ``select_metric`` (restored at the end), and writes
    ``metrics.jsonl``, ``checkpoints/last.pt`` (everything to resume exactly) and ``best.pt`` into
    ``run_dir`` (nothing without one)."""

    def __init__(
        self,
        model: ScoringModel,
        procedure: TrainingProcedure,
        validate: Validate,
        config: TrainConfig,
        *,
        select_metric: str,
        rngs: dict[str, np.random.Generator],
        run_dir: str | Path | None = None,
        hooks: Sequence[TrainHook] = (),
        dist_ctx: DistContext | None = None,
    ) -> None:
        self.model = model
        self.procedure = procedure
        self.validate = validate
        self.cfg = config
        self.select_metric = select_metric
        self.rngs = rngs
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.hooks = list(hooks)
        self.dist = dist_ctx or DistContext()
        self.average = None if config.average_from is None else WeightAverage(model, config.average_from)
        self._best_in_memory: dict[str, torch.Tensor] | None = None

    def _path(self, name: str) -> Path | None:
        return None if self.run_dir is None else self.run_dir / name

    # -- the loop --------------------------------------------------------------
    def fit(self, resume: bool = False) -> TrainResult:
        state: dict[str, Any] = {
            "epoch": 0,
            "best": -math.inf,
            "best_epoch": -1,
            "bad_epochs": 0,
            "best_valid": {},
        }
        history: list[dict[str, Any]] = []
        if resume:
            state, history = self._resume()
        epoch = state["epoch"]
        while epoch < self.cfg.epochs and state["bad_epochs"] < self.cfg.patience:
            try:
                log = self._run_epoch(epoch)
            except TrainingDiverged as exc:
                raise TrainingDiverged(f"{exc}; training stopped: {self._last_good(state)}") from None
            if self.average is not None:
                self.average.update(epoch)
                log["averaged_epochs"] = self.average.count
            if (epoch + 1) % self.cfg.eval_every == 0 or epoch + 1 == self.cfg.epochs:
                self._validate_epoch(epoch, log, state)
            for hook in self.hooks:
                hook.on_epoch_end(epoch, log)
            epoch += 1
            state["epoch"] = epoch
            history.append(log)
            self._append_log(log)
            self._save_last(state)
            if self.dist.is_main:
                log_epoch(log, self.cfg.epochs, self.select_metric, state)
        if state["best_epoch"] < 0:  # else the last, unselected model would be tested as if selected
            if epoch and self._counts_for_selection(epoch - 1):
                raise NothingSelected(
                    f"eval.select_metric: valid {self.select_metric} was NaN (or -inf) at every evaluation; "
                    "no epoch could be selected as best"
                )
            raise NothingSelected(
                f"train.epochs = {self.cfg.epochs}: the run ended before any epoch could be selected as "
                "best (an adversary still pre-training: adversary.start_epoch, start_after_plateau, "
                "min_adv_epochs; a GAN still pre-training; or train.average_from not reached); raise "
                "train.epochs or start them earlier"
            )
        self._restore_best()
        train_times = [h["train_s"] for h in history]
        eval_times = [h["eval_s"] for h in history if "eval_s" in h]
        return TrainResult(
            best_epoch=state["best_epoch"],
            best_valid=state["best_valid"],
            epochs_run=epoch,
            history=history,
            train_s_per_epoch=float(np.mean(train_times)) if train_times else 0.0,
            eval_s=float(np.mean(eval_times)) if eval_times else 0.0,
            time_to_best_s=time_to_best(history, state["best_epoch"]),
        )

    def _run_epoch(self, epoch: int) -> dict[str, Any]:
        """One epoch of the procedure; hooks see its start (and, in ``fit``, its end)."""
        for hook in self.hooks:
            hook.on_epoch_start(epoch)
        start = time.perf_counter()
        self.model.train()
        log = {"epoch": epoch, **self.procedure.run_epoch(epoch, self.rngs)}
        log["train_s"] = time.perf_counter() - start
        return log

    def _last_good(self, state: dict[str, Any]) -> str:
        """What a diverged run leaves behind, naming only files that exist."""
        last = self._path("checkpoints/last.pt")
        if last is None:
            return "nothing was saved (no run folder)"
        if not last.exists() or not state["epoch"]:
            return "no checkpoint had been written yet"
        best = self._path("checkpoints/best.pt")
        kept = f"the last good checkpoint is {last} (after epoch {state['epoch'] - 1})"
        return kept + (f", the best so far {best}" if best is not None and best.exists() else "")

    def _validate_epoch(self, epoch: int, log: dict[str, Any], state: dict[str, Any]) -> None:
        # with train.average_from, the model judged and kept is the average (training goes on raw)
        with self.average.swapped_in() if self.average is not None else contextlib.nullcontext():
            start = time.perf_counter()
            valid = self._evaluate()
            log["eval_s"] = time.perf_counter() - start
            log["valid"] = valid
            current = self._selection_value(valid)
            self.procedure.end_epoch(current)
            if not self._counts_for_selection(epoch):
                return  # e.g. an adversary still pre-training: neither a candidate nor a bad epoch
            if current > state["best"]:
                state.update(best=current, best_epoch=epoch, bad_epochs=0, best_valid=valid)
                self._save_best()
            else:
                state["bad_epochs"] += 1

    def _counts_for_selection(self, epoch: int) -> bool:
        if self.average is not None and epoch < self.average.start_epoch:
            return False  # with train.average_from, only averaged models are candidates
        gates: list[TrainHook | TrainingProcedure] = [*self.hooks, self.procedure]
        return all(gate.counts_for_selection(epoch) for gate in gates)

    def _evaluate(self) -> dict[str, float]:
        self.model.eval()
        with torch.inference_mode():
            return self.validate(self.model)

    def _selection_value(self, valid: dict[str, float]) -> float:
        if self.select_metric not in valid:
            raise AdvrecError(
                f"eval.select_metric: {self.select_metric!r} is not computed; available: {', '.join(valid)}"
            )
        return valid[self.select_metric]

    # -- persistence -------------------------------------------------------------
    def _append_log(self, log: dict[str, Any]) -> None:
        path = self._path("metrics.jsonl")
        if path is None or not self.dist.is_main:
            return
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(log) + "\n")

    # State dicts are taken on every rank, once per save: a model with sharded tables gathers them from
    # the ranks (a collective); rank 0 writes.
    def _save_best(self) -> None:
        model_state = self.model.state_dict()
        path = self._path("checkpoints/best.pt")
        if path is not None and self.dist.is_main:
            save_checkpoint(path, {"model": model_state})
        self._best_in_memory = {k: v.detach().clone() for k, v in model_state.items()}

    def _save_last(self, state: dict[str, Any]) -> None:
        path = self._path("checkpoints/last.pt")
        if path is None:
            return
        checkpoint = {
            "model": self.model.state_dict(),
            "procedure": self.procedure.state_dict(),
            "hooks": [hook.state_dict() for hook in self.hooks],
            "rng": rng_state(self.rngs),
            "trainer": state,
            **({"average": self.average.state_dict()} if self.average is not None else {}),
        }
        if self.dist.is_main:
            save_checkpoint(path, checkpoint)

    def _restore_best(self) -> None:
        best = self._best_in_memory
        if best is None:
            path = self._path("checkpoints/best.pt")
            if path is not None and path.exists():
                best = load_checkpoint(path)["model"]
        if best is not None:
            self.model.load_state_dict(best)

    def _resume(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        path = self._path("checkpoints/last.pt")
        if path is None or not path.exists():
            raise AdvrecError(f"--resume: no checkpoint at {path}; start the run without --resume")
        ckpt = load_checkpoint(path)
        self.model.load_state_dict(ckpt["model"])
        # checkpoints of pairwise runs written before procedures held their state at the top level
        procedure = ckpt.get("procedure") or {"optimizer": ckpt["optimizer"], "schedule": ckpt["schedule"]}
        self.procedure.load_state_dict(procedure)
        for hook, hook_state in zip(self.hooks, ckpt["hooks"]):
            hook.load_state_dict(hook_state)
        restore_rng_state(ckpt["rng"], self.rngs)
        if self.average is not None:
            if "average" not in ckpt:
                raise AdvrecError(
                    f"--resume: {path} was written without train.average_from; rerun from scratch"
                )
            self.average.load_state_dict(ckpt["average"])
        state = ckpt["trainer"]
        return state, self._read_log(upto=state["epoch"])

    def _read_log(self, upto: int) -> list[dict[str, Any]]:
        """Epoch lines already on disk, dropping any written after the checkpoint (a kill between the
        two writes) and a last line cut short by a kill while it was written."""
        path = self._path("metrics.jsonl")
        if path is None or not path.exists():
            return []
        kept = [e for e in read_metrics_log(path) if e["epoch"] < upto]
        if self.dist.is_main:
            atomic_write_text(path, "".join(json.dumps(e) + "\n" for e in kept))
        return kept


def log_epoch(entry: dict[str, Any], epochs: int, select_metric: str, state: dict[str, Any]) -> None:
    """One line per epoch on the ``advrec.train.trainer`` logger (a terminal, a log file, ``run.log``)."""
    parts = [f"epoch {entry['epoch'] + 1}/{epochs}"]
    if isinstance(entry.get("loss"), float):
        parts.append(f"loss {entry['loss']:.4f}")
    valid = entry.get("valid") or {}
    if select_metric in valid:
        parts.append(f"valid {select_metric} {valid[select_metric]:.4f}")
    if state["best_epoch"] >= 0:
        parts.append(f"best {state['best']:.4f} at epoch {state['best_epoch'] + 1}")
    parts.append(f"{entry['train_s'] + entry.get('eval_s', 0.0):.2f} s")
    logger.info(" · ".join(parts))
