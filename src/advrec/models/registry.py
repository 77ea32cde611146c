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
from advrec.models.mf_features import MFFeatures
from advrec.models.neumf import NeuMF
from advrec.models.sasrec import SASRec


def _mf(cfg: ModelConfig, train: Interactions, gen: torch.Generator) -> Recommender:
    return MF(train.n_users, train.n_items, cfg.dim, cfg.init_std, gen)


def _neumf(cfg: ModelConfig, train: Interactions, gen: torch.Generator) -> Recommender:
    return NeuMF(
        train.n_users, train.n_items, cfg.dim, cfg.mlp_layers, cfg.dropout, cfg.init_std, gen, cfg.dropout_rng
    )


def _lightgcn(cfg: ModelConfig, train: Interactions, gen: torch.Generator) -> Recommender:
    adj = normalized_adjacency(train)
    return LightGCN(train.n_users, train.n_items, adj, cfg.dim, cfg.n_layers, cfg.init_std, gen)


def _sasrec(cfg: ModelConfig, train: Interactions, gen: torch.Generator) -> Recommender:
    s = cfg.sasrec
    return SASRec(
        train.n_users,
        train.n_items,
        cfg.dim,
        s.n_blocks,
        s.n_heads,
        s.max_len,
        cfg.dropout,
        cfg.init_std,
        gen,
        ffn_dim=s.ffn_dim,
        activation=s.activation,
        norm=s.norm,
        ffn_hidden_dropout=s.ffn_hidden_dropout,
        dropout_rng=cfg.dropout_rng,
    )


MODELS: dict[str, Callable[[ModelConfig, Interactions, torch.Generator], Recommender]] = {
    "mf": _mf,
    "neumf": _neumf,
    "lightgcn": _lightgcn,
    "sasrec": _sasrec,
}

SEQUENTIAL_MODELS = ("sasrec",)
"""Models that score a user's item history (leave-one-out split, ``advrec.measure.sequential``)."""


def _mf_features(
    cfg: ModelConfig, train: Interactions, gen: torch.Generator, item_features: torch.Tensor
) -> Recommender:
    id_mask = None
    if cfg.id_min_count > 0:
        counts = torch.bincount(torch.as_tensor(train.items, dtype=torch.long), minlength=train.n_items)
        id_mask = (counts >= cfg.id_min_count).float()
    return MFFeatures(
        train.n_users,
        train.n_items,
        item_features,
        cfg.dim,
        cfg.init_std,
        cfg.item_bias,
        gen,
        id_dropout=cfg.id_dropout,
        id_mask=id_mask,
        dropout_rng=cfg.dropout_rng,
    )


FEATURE_MODELS: dict[
    str, Callable[[ModelConfig, Interactions, torch.Generator, torch.Tensor], Recommender]
] = {"mf_features": _mf_features}
"""Models that also read item features ([n_items, d], aligned to the train split's item indices)."""


def build_model(
    cfg: ModelConfig,
    train: Interactions,
    generator: torch.Generator,
    item_features: torch.Tensor | None = None,
) -> Recommender:
    if cfg.name in FEATURE_MODELS:
        if item_features is None:
            raise ConfigError(f"model.name {cfg.name!r} reads item features: set data.item_features")
        return FEATURE_MODELS[cfg.name](cfg, train, generator, item_features)
    if item_features is not None:
        raise ConfigError(
            f"data.item_features is set but model {cfg.name!r} does not read features; models that do: "
            f"{', '.join(FEATURE_MODELS)} (or drop it: --set data.item_features=null)"
        )
    content_only = [k for k in ("id_dropout", "id_min_count") if getattr(cfg, k)]
    if content_only:
        raise ConfigError(
            f"model.{content_only[0]} is set but model {cfg.name!r} has no content part to fall back on; "
            f"models that do: {', '.join(FEATURE_MODELS)}"
        )
    try:
        builder = MODELS[cfg.name]
    except KeyError:
        valid = ", ".join([*MODELS, *FEATURE_MODELS])
        raise ConfigError(f"model.name: unknown model {cfg.name!r}; valid: {valid}") from None
    return builder(cfg, train, generator)
