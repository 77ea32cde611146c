"""The one training loop. Objectives score batches; hooks add adversaries; nothing subclasses this."""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from advrec.config.schema import TrainConfig
from advrec.data.sampler import NegativeSampler
from advrec.errors import AdvrecError, NothingSelected, TrainingDiverged
from advrec.models.base import Deltas, Recommender, Scorer
from advrec.train.averaging import WeightAverage
from advrec.train.checkpoint import load_checkpoint, restore_rng_state, rng_state, save_checkpoint
from advrec.train.distributed import DistContext
from advrec.train.fused import build_fused_step, single_threaded
from advrec.train.fused_epoch import build_fused_epoch
from advrec.train.hooks import TrainHook
from advrec.train.optim import LRSchedule
from advrec.train.procedure import TrainingProcedure
from advrec.utils.files import atomic_write_text
from advrec.utils.progress import progress

Validate = Callable[[Recommender], dict[str, float]]


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


class _Scored(nn.Module):
    """Lets DDP see ``score`` as ``forward`` (DDP syncs gradients of what its forward computed)."""

    def __init__(self, model: Recommender):
        super().__init__()
        self.model = model

    def forward(self, users: torch.Tensor, items: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        return self.model.score(users, items, deltas)


class Trainer:
    def __init__(
        self,
        model: Recommender,
        objective: Callable[[Recommender, dict[str, torch.Tensor]], torch.Tensor] | None,
        sampler: NegativeSampler | None,
        optimizer: torch.optim.Optimizer | None,
        schedule: LRSchedule | None,
        validate: Validate,
        config: TrainConfig,
        *,
        select_metric: str,
        rngs: dict[str, np.random.Generator],
        run_dir: str | Path | None = None,
        hooks: Sequence[TrainHook] = (),
        dist_ctx: DistContext | None = None,
        device: str = "cpu",
        show_progress: bool = True,
        procedure: TrainingProcedure | None = None,
    ) -> None:
        # Either the pairwise objective with its sampler/optimizer/schedule, or a procedure owning its own.
        if (procedure is None) == (optimizer is None):
            raise ValueError("give a training procedure or an objective, sampler, optimizer and schedule")
        self.procedure = procedure
        self.model = model
        self.objective = objective
        self.sampler = sampler
        self.optimizer = optimizer
        self.schedule = schedule
        self.validate = validate
        self.cfg = config
        self.select_metric = select_metric
        self.rngs = rngs
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.hooks = list(hooks)
        self.dist = dist_ctx or DistContext()
        self.device = torch.device(device)
        self.show_progress = show_progress
        self._forward_model = self._wrap(model)
        self._fused_step = (
            build_fused_step(config.kernel, model, objective, self.hooks, self.dist.enabled, self.device)
            if procedure is None
            else None
        )
        # the whole-epoch kernel (train.kernel fused_epoch, or sparse_adam): replaces the batch loop
        self._fused_epoch = (
            build_fused_epoch(
                config, model, objective, optimizer, sampler, self.hooks, self.dist.enabled, self.device
            )
            if procedure is None
            else None
        )
        if self._fused_epoch is not None:
            self._fused_step = None  # never used: the whole-epoch kernel replaces the batch loop
        self.average = None if config.average_from is None else WeightAverage(model, config.average_from)

    def _wrap(self, model: Recommender) -> Recommender:
        if not self.dist.enabled or self.procedure is not None:  # a procedure syncs its own gradients
            return model
        from torch.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(_Scored(model), device_ids=None)
        return _DDPScoringView(model, ddp)

    # -- paths -----------------------------------------------------------------
    def _path(self, name: str) -> Path | None:
        return None if self.run_dir is None else self.run_dir / name

    # -- the loop --------------------------------------------------------------
    def fit(self, resume: bool = False) -> TrainResult:
        state = {"epoch": 0, "best": -math.inf, "best_epoch": -1, "bad_epochs": 0, "best_valid": {}}
        history: list[dict[str, Any]] = []
        if resume:
            state, history = self._resume()
        train_times = [h["train_s"] for h in history]
        eval_times = [h["eval_s"] for h in history if "eval_s" in h]
        epoch = state["epoch"]
        while epoch < self.cfg.epochs and state["bad_epochs"] < self.cfg.patience:
            log = self._run_epoch(epoch) if self.procedure is None else self._run_procedure_epoch(epoch)
            train_times.append(log["train_s"])
            if self.average is not None:
                self.average.update(epoch)
                log["averaged_epochs"] = self.average.count
            if (epoch + 1) % self.cfg.eval_every == 0 or epoch + 1 == self.cfg.epochs:
                # with train.average_from, the model judged and kept is the average (training goes on raw)
                with self.average.swapped_in() if self.average is not None else contextlib.nullcontext():
                    start = time.perf_counter()
                    valid = self._evaluate()
                    log["eval_s"] = time.perf_counter() - start
                    eval_times.append(log["eval_s"])
                    log["valid"] = valid
                    current = self._selection_value(valid)
                    (self.schedule or self.procedure).end_epoch(current)
                    if not self._counts_for_selection(epoch):
                        pass  # e.g. an adversary still pre-training: neither a candidate nor a bad epoch
                    elif current > state["best"]:
                        state.update(best=current, best_epoch=epoch, bad_epochs=0, best_valid=valid)
                        self._save_best()
                    else:
                        state["bad_epochs"] += 1
            for hook in self.hooks:
                hook.on_epoch_end(epoch, log)
            epoch += 1
            state["epoch"] = epoch
            history.append(log)
            self._append_log(log)
            self._save_last(state)
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
        return TrainResult(
            best_epoch=state["best_epoch"],
            best_valid=state["best_valid"],
            epochs_run=epoch,
            history=history,
            train_s_per_epoch=float(np.mean(train_times)) if train_times else 0.0,
            eval_s=float(np.mean(eval_times)) if eval_times else 0.0,
            time_to_best_s=time_to_best(history, state["best_epoch"]),
        )

    def _counts_for_selection(self, epoch: int) -> bool:
        gates = [*self.hooks, *([self.procedure] if self.procedure is not None else [])]
        if self.average is not None and epoch < self.average.start_epoch:
            return False  # with train.average_from, only averaged models are candidates
        return all(gate.counts_for_selection(epoch) for gate in gates)

    def _run_procedure_epoch(self, epoch: int) -> dict[str, Any]:
        """One epoch trained by the procedure; hooks see its start and end as in a pairwise epoch."""
        for hook in self.hooks:
            hook.on_epoch_start(epoch)
        start = time.perf_counter()
        self.model.train()
        log = {"epoch": epoch, **self.procedure.run_epoch(epoch, self.rngs)}
        log["train_s"] = time.perf_counter() - start
        return log

    def _run_epoch(self, epoch: int) -> dict[str, Any]:
        self.schedule.start_epoch(epoch)
        for hook in self.hooks:
            hook.on_epoch_start(epoch)
        start = time.perf_counter()
        if self._fused_epoch is not None:
            return self._fused_epoch_log(epoch, start)
        triples = self.sampler.epoch(self.rngs["sampler"])
        self.model.train()
        total, count = 0.0, 0
        n_batches = -(-len(triples) // self.cfg.batch_size)
        bar = progress(
            range(n_batches), desc=f"epoch {epoch}", enabled=self.show_progress and self.dist.is_main
        )
        with single_threaded() if self._fused_step is not None else contextlib.nullcontext():
            for lo in bar:
                lo *= self.cfg.batch_size
                hi = min(lo + self.cfg.batch_size, len(triples))
                start_r, stop_r = self.dist.shard(hi - lo)
                batch = {
                    "users": triples.users[lo + start_r : lo + stop_r].to(self.device),
                    "pos": triples.pos[lo + start_r : lo + stop_r].to(self.device),
                    "neg": triples.neg[lo + start_r : lo + stop_r].to(self.device),
                }
                loss = self._step(batch, scale=self.dist.world_size * (stop_r - start_r) / (hi - lo))
                total += loss * (hi - lo)
                count += hi - lo
        return self._epoch_log(epoch, total / max(count, 1), start)

    def _fused_epoch_log(self, epoch: int, start: float) -> dict[str, Any]:
        """The epoch's sampling, batches and updates in two numba calls; its log as the batch loop's."""
        return self._epoch_log(epoch, self._fused_epoch.run(self.rngs["sampler"]), start)

    def _epoch_log(self, epoch: int, mean_loss: float, start: float) -> dict[str, Any]:
        if not math.isfinite(mean_loss):
            raise TrainingDiverged(
                f"epoch {epoch}: training loss is {mean_loss}; stopped, last good checkpoint kept"
                + (f" in {self.run_dir}" if self.run_dir else "")
            )
        return {
            "epoch": epoch,
            "loss": mean_loss,
            "lr": self.optimizer.param_groups[0]["lr"],
            "train_s": time.perf_counter() - start,
        }

    def _step(self, batch: dict[str, torch.Tensor], scale: float) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        if self._fused_step is not None:
            return self._fused_update(batch)
        loss = self._batch_loss(batch)
        for hook in self.hooks:
            loss = hook.on_loss(self._forward_model, batch, loss)
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"training loss became {loss.item()}; stopped, last good checkpoint kept")
        (loss * scale if scale != 1.0 else loss).backward()
        if self.cfg.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        return float(loss.detach())

    def _fused_update(self, batch: dict[str, torch.Tensor]) -> float:
        """The same update as the autograd path, with gradients from the fused kernel."""
        loss = self._fused_step(batch)
        if not math.isfinite(loss):
            raise TrainingDiverged(f"training loss became {loss}; stopped, last good checkpoint kept")
        if self.cfg.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        return loss

    def _batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
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

    def _objective_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The objective at the inputs plus the hooks' input noise (``TrainHook.input_deltas``), if any."""
        noise: Deltas = {}
        for hook in self.hooks:
            for name, delta in (hook.input_deltas(self._forward_model, batch) or {}).items():
                noise[name] = noise[name] + delta if name in noise else delta
        if noise:
            return self.objective(self._forward_model, batch, noise)
        return self.objective(self._forward_model, batch)

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

    def _save_best(self) -> None:
        path = self._path("checkpoints/best.pt")
        if path is not None and self.dist.is_main:
            save_checkpoint(path, {"model": self.model.state_dict()})
        self._best_in_memory = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def _save_last(self, state: dict[str, Any]) -> None:
        path = self._path("checkpoints/last.pt")
        if path is None or not self.dist.is_main:
            return
        save_checkpoint(
            path,
            {
                "model": self.model.state_dict(),
                **self._optimization_state(),
                "hooks": [hook.state_dict() for hook in self.hooks],
                "rng": rng_state(self.rngs),
                "trainer": state,
                **({"average": self.average.state_dict()} if self.average is not None else {}),
            },
        )

    def _optimization_state(self) -> dict[str, Any]:
        """The trainer's optimizer and schedule, or the procedure's (e.g. both GAN players')."""
        if self.procedure is not None:
            return {"procedure": self.procedure.state_dict()}
        return {"optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict()}

    def _restore_best(self) -> None:
        best = getattr(self, "_best_in_memory", None)
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
        if self.procedure is not None:
            self.procedure.load_state_dict(ckpt["procedure"])
        else:
            self.optimizer.load_state_dict(ckpt["optimizer"])
            self.schedule.load_state_dict(ckpt["schedule"])
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
        history = self._read_log(upto=state["epoch"])
        return state, history

    def _read_log(self, upto: int) -> list[dict[str, Any]]:
        """Epoch lines already on disk, dropping any written after the checkpoint (a kill between)."""
        path = self._path("metrics.jsonl")
        if path is None or not path.exists():
            return []
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        kept = [line for line in lines if line["epoch"] < upto]
        if self.dist.is_main:
            atomic_write_text(path, "".join(json.dumps(line) + "\n" for line in kept))
        return kept


class _DDPScoringView(Recommender):
    """Routes ``score`` through DDP (so gradients are averaged) and the rest to the bare model."""

    def __init__(self, model: Recommender, ddp: nn.Module):
        super().__init__(model.n_users, model.n_items)
        self.inner = model
        self.ddp = ddp

    def embedding_tables(self) -> dict[str, nn.Parameter]:
        return self.inner.embedding_tables()

    def score(self, users: torch.Tensor, items: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        return self.ddp(users, items, deltas)

    def full_scores(self, users: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        return self.inner.full_scores(users, deltas)

    def scorer(self, deltas: Deltas | None = None) -> Scorer:
        return self.inner.scorer(deltas)

    def reg_loss(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.inner.reg_loss(users, items)
