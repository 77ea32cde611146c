"""Optimizers by name, and epoch-level learning-rate schedules that resume exactly.

Schedules are small explicit classes rather than chained torch schedulers: warm-up combines with
any of them, reduce-on-plateau composes with the rest, and the whole state is a dict of numbers.
"""

from __future__ import annotations

import math

import torch

from advrec.config.optim import OptimizerConfig, ScheduleConfig
from advrec.errors import ConfigError


def build_optimizer(params, cfg: OptimizerConfig) -> torch.optim.Optimizer:
    # fused=True: one kernel per step instead of several per parameter (exactly the same update).
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    if cfg.name == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    if cfg.name == "adagrad":
        return torch.optim.Adagrad(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.name == "sparse_adam":
        # lazy Adam: moments and rows move only where a batch's gradient has rows (train.kernel fused_epoch)
        if cfg.weight_decay:
            raise ConfigError("optimizer.weight_decay: sparse_adam has none; use train.l2 instead")
        return torch.optim.SparseAdam(list(params), lr=cfg.lr)
    raise ConfigError(
        f"optimizer.name: unknown optimizer {cfg.name!r}; valid: adam, adamw, adagrad, sgd, sparse_adam"
    )


class LRSchedule:
    """lr(epoch) = base_lr * warmup(epoch) * decay(epoch) * plateau_scale.

    ``start_epoch(e)`` sets the lr for epoch e (0-based); ``end_epoch(metric)`` feeds plateau.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, cfg: ScheduleConfig, total_epochs: int):
        self.optimizer = optimizer
        self.cfg = cfg
        self.total_epochs = total_epochs
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.plateau_scale = 1.0
        self.best: float | None = None
        self.bad_epochs = 0

    def factor(self, epoch: int) -> float:
        cfg = self.cfg
        warm = min(1.0, (epoch + 1) / (cfg.warmup_epochs + 1)) if cfg.warmup_epochs else 1.0
        e = max(0, epoch - cfg.warmup_epochs)
        if cfg.name in ("constant", "plateau"):
            decay = 1.0
        elif cfg.name == "step":
            decay = cfg.gamma ** (e // cfg.step_size)
        elif cfg.name == "exponential":
            decay = cfg.gamma**e
        elif cfg.name == "cosine":
            span = max(1, self.total_epochs - cfg.warmup_epochs)
            decay = 0.5 * (1 + math.cos(math.pi * min(e, span) / span))
        else:
            raise ConfigError(f"schedule.name: unknown schedule {cfg.name!r}")
        return warm * decay * self.plateau_scale

    def start_epoch(self, epoch: int) -> None:
        f = self.factor(epoch)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            lr = base * f
            if self.cfg.name == "cosine" and self.cfg.min_lr:
                lr = max(lr, self.cfg.min_lr)
            group["lr"] = lr

    def end_epoch(self, metric: float | None) -> None:
        if self.cfg.name != "plateau" or metric is None:
            return
        if self.best is None or metric > self.best:
            self.best, self.bad_epochs = metric, 0
            return
        self.bad_epochs += 1
        if self.bad_epochs > self.cfg.patience:
            self.plateau_scale *= self.cfg.gamma
            self.bad_epochs = 0

    def state_dict(self) -> dict:
        return {"plateau_scale": self.plateau_scale, "best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict) -> None:
        self.plateau_scale = state["plateau_scale"]
        self.best = state["best"]
        self.bad_epochs = state["bad_epochs"]
