"""The game loop of a GAN, as the trainer's training procedure (see ``training.procedure``).

An epoch is, in order: generator pre-training epochs (``generator.pretrain_epochs``), then discriminator
pre-training epochs (``discriminator.pretrain_epochs``), then adversarial epochs of ``discriminator.steps``
passes of the discriminator followed by ``generator.steps`` passes of the generator (the D:G ratio).
Each player has its own optimizer and schedule; both schedules see every epoch. What a pass is (how a
player samples and what it minimises) belongs to the method: CFGAN and IRGAN implement the passes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from advrec.train.gan.monitor import RunningMeans, topk_diversity
from advrec.train.gan.players import Player


class Game:
    def __init__(
        self,
        generator: Player,
        discriminator: Player,
        *,
        d_steps: int = 1,
        g_steps: int = 1,
        pretrain_g: int = 0,
        pretrain_d: int = 0,
        select_during_pretraining: bool = False,
        monitor_k: int = 10,
        seed: int = 0,
    ) -> None:
        self.generator = generator
        self.discriminator = discriminator
        self.d_steps, self.g_steps = d_steps, g_steps
        self.pretrain_g, self.pretrain_d = pretrain_g, pretrain_d
        self.select_during_pretraining = select_during_pretraining
        self.monitor_k = monitor_k
        # The game's own stream (noise, masks, samples); checkpointed, so a resumed run draws the same.
        self.gen = torch.Generator().manual_seed(seed)

    # -- what a method implements -------------------------------------------------------
    def begin_epoch(self, epoch: int) -> None:
        """Draws shared by every pass of the epoch (CFGAN's negative sets); nothing by default."""

    def discriminator_pass(self, epoch: int, stats: RunningMeans, rng: np.random.Generator) -> None:
        raise NotImplementedError

    def generator_pass(self, epoch: int, stats: RunningMeans, rng: np.random.Generator) -> None:
        raise NotImplementedError

    def pretrain_generator_pass(self, epoch: int, stats: RunningMeans, rng: np.random.Generator) -> None:
        raise NotImplementedError

    def generator_scores(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The generator's [n_users, n_items] scores and the training mask, for the mode-collapse signal."""
        raise NotImplementedError

    # -- the procedure ------------------------------------------------------------------------
    def phase(self, epoch: int) -> str:
        if epoch < self.pretrain_g:
            return "pretrain_generator"
        if epoch < self.pretrain_g + self.pretrain_d:
            return "pretrain_discriminator"
        return "adversarial"

    def run_epoch(self, epoch: int, rngs: dict[str, np.random.Generator]) -> dict[str, Any]:
        rng = rngs["sampler"]
        for player in (self.generator, self.discriminator):
            player.schedule.start_epoch(epoch)
        stats = RunningMeans()
        self.begin_epoch(epoch)
        phase = self.phase(epoch)
        if phase == "pretrain_generator":
            for _ in range(self.g_steps):
                self.pretrain_generator_pass(epoch, stats, rng)
        elif phase == "pretrain_discriminator":
            for _ in range(self.d_steps):
                self.discriminator_pass(epoch, stats, rng)
        else:
            for _ in range(self.d_steps):
                self.discriminator_pass(epoch, stats, rng)
            for _ in range(self.g_steps):
                self.generator_pass(epoch, stats, rng)
        log: dict[str, Any] = {"phase": phase, **stats.means()}
        # The trainer's "loss" column: the generator's when it trained this epoch, else the discriminator's.
        log["loss"] = log.get("g_loss", log.get("d_loss", float("nan")))
        log["lr_g"], log["lr_d"] = self.generator.lr, self.discriminator.lr
        with torch.no_grad():
            scores, seen = self.generator_scores()
            diversity = topk_diversity(scores, seen, self.monitor_k)
        log[f"g_top{self.monitor_k}_coverage"] = diversity["coverage"]
        log[f"g_top{self.monitor_k}_entropy"] = diversity["entropy"]
        return log

    def end_epoch(self, metric: float | None) -> None:
        self.generator.schedule.end_epoch(metric)
        self.discriminator.schedule.end_epoch(metric)

    def counts_for_selection(self, epoch: int) -> bool:
        return self.select_during_pretraining or self.phase(epoch) == "adversarial"

    def state_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "gen": self.gen.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.gen.set_state(state["gen"])
