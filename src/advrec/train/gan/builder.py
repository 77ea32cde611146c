"""A GAN recommender's game: both players with their own optimizers and schedules, the loss, the phases;
and the training setup of a GAN run."""

from __future__ import annotations

from torch import nn

from advrec.data.interactions import Interactions
from advrec.errors import ConfigError
from advrec.models.base import Recommender
from advrec.models.gan import GanModelConfig, GanPlayerConfig
from advrec.train.config import TrainConfig
from advrec.train.gan.game import Game
from advrec.train.gan.losses import get_gan_loss
from advrec.train.gan.players import Player
from advrec.train.gan.registry import GAMES
from advrec.train.optim import LRSchedule, build_optimizer
from advrec.utils.seeding import child_seed


def check_game(cfg: GanModelConfig, train: TrainConfig) -> None:
    pretrain = cfg.generator.pretrain_epochs + cfg.discriminator.pretrain_epochs
    if pretrain >= train.epochs:
        raise ConfigError(
            f"model.generator/discriminator.pretrain_epochs: {pretrain} in all >= train.epochs "
            f"({train.epochs}); the game would never start"
        )


def build_game(
    cfg: GanModelConfig, model: Recommender, train_split: Interactions, train: TrainConfig, seed: int
) -> Game:
    """The game registered for ``cfg.name``, with players built from ``cfg``'s player settings."""
    check_game(cfg, train)

    def make_player(name: str, module: nn.Module, player: GanPlayerConfig) -> Player:
        optimizer = build_optimizer(module.parameters(), player.optimizer)
        schedule = LRSchedule(optimizer, player.schedule, train.epochs)
        return Player(name, module, optimizer, schedule, player.grad_clip, train.max_loss_growth)

    game_kw = dict(
        g_steps=cfg.generator.steps,
        d_steps=cfg.discriminator.steps,
        pretrain_g=cfg.generator.pretrain_epochs,
        pretrain_d=cfg.discriminator.pretrain_epochs,
        select_during_pretraining=cfg.select_during_pretraining,
        monitor_k=cfg.monitor_k,
        seed=child_seed(seed, "adversary"),
    )
    build = GAMES[cfg.name].build
    return build(cfg, model, train_split, make_player, get_gan_loss(cfg.loss), **game_kw)
