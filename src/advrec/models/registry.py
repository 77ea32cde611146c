"""Explicit name -> builder registry; no import-by-guess."""

from __future__ import annotations

from collections.abc import Callable

import torch

from advrec.config.schema import ModelConfig
from advrec.data.graph import normalized_adjacency
from advrec.data.interactions import Interactions
from advrec.errors import ConfigError
from advrec.models.base import Recommender
from advrec.models.lightgcn import LightGCN
from advrec.models.mf import MF
from advrec.models.neumf import NeuMF


def _mf(cfg: ModelConfig, train: Interactions, gen: torch.Generator) -> Recommender:
    return MF(train.n_users, train.n_items, cfg.dim, cfg.init_std, gen)


def _neumf(cfg: ModelConfig, train: Interactions, gen: torch.Generator) -> Recommender:
    return NeuMF(train.n_users, train.n_items, cfg.dim, cfg.mlp_layers, cfg.dropout, cfg.init_std, gen)


def _lightgcn(cfg: ModelConfig, train: Interactions, gen: torch.Generator) -> Recommender:
    adj = normalized_adjacency(train)
    return LightGCN(train.n_users, train.n_items, adj, cfg.dim, cfg.n_layers, cfg.init_std, gen)


MODELS: dict[str, Callable[[ModelConfig, Interactions, torch.Generator], Recommender]] = {
    "mf": _mf,
    "neumf": _neumf,
    "lightgcn": _lightgcn,
}


def build_model(cfg: ModelConfig, train: Interactions, generator: torch.Generator) -> Recommender:
    try:
        builder = MODELS[cfg.name]
    except KeyError:
        raise ConfigError(f"model.name: unknown model {cfg.name!r}; valid: {', '.join(MODELS)}") from None
    return builder(cfg, train, generator)
