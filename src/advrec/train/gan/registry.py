"""The GAN games: for each GAN recommender of the model registry (``procedure: gan``), the game that trains
it, registered by the module that implements it as
``build(settings, model, train split, make_player, loss, **game keywords) -> Game``."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from advrec.config.base import Registry
from advrec.models.gan import GanPlayerConfig
from advrec.train.gan.game import Game
from advrec.train.gan.players import Player

MakePlayer = Callable[[str, nn.Module, GanPlayerConfig], Player]
GameBuilder = Callable[..., Game]
GAMES: Registry[GameBuilder] = Registry("GAN game", "model.name", "advrec.train.gan")
