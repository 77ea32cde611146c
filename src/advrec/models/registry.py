"""The model registry: each model module declares its settings and registers its builder here.

A model's entry records which training procedure it needs (``procedure``: ``pairwise`` for models of
user ids trained on sampled pairs, ``sequential`` for next-item models, ``gan`` for GAN recommenders,
which a game trains) and whether it reads item features (``item_features``). ``build_model`` builds any
registered model from its settings and the training split.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar, overload

import torch
from pydantic import Field

from advrec.config.base import Component, Registry
from advrec.data.interactions import Interactions
from advrec.errors import ConfigError
from advrec.models.base import ScoringModel

M = TypeVar("M", bound=ScoringModel)
Builder = Callable[..., ScoringModel]  # (settings, train, generator, item features) -> model
MODELS: Registry[Builder] = Registry("model", "model.name", "advrec.models", default="mf")
PROCEDURES = ("pairwise", "sequential", "gan")


class ModelConfig(Component):
    """A model's settings; ``name`` picks the model."""


ModelConfig.registry = MODELS


class EmbeddingConfig(ModelConfig):
    """A model with learned user/item embedding tables."""

    dim: int = Field(64, ge=1, description="embedding size")
    init_std: float = Field(0.1, gt=0, description="std of the normal initialisation of embeddings")


DropoutRng = Literal["torch", "counter"]
DROPOUT_RNG_DOC = (
    "where dropout masks come from: torch's generator (one Mersenne-Twister draw per element, "
    "single-threaded on the CPU, the device's own on a GPU), or a counter-based hash (SplitMix64) seeded "
    "from torch's CPU generator: a SASRec CPU training step about 15% cheaper, the same masks on every "
    "device (another random stream, so another run than torch's)"
)


def procedure_of(name: str) -> str:
    """The training procedure model ``name`` needs: pairwise, sequential or gan."""
    return MODELS[name].info.get("procedure", "pairwise")


def reads_item_features(name: str) -> bool:
    return bool(MODELS[name].info.get("item_features", False))


@overload
def build_model(
    cfg: ModelConfig,
    train: Interactions,
    generator: torch.Generator,
    item_features: torch.Tensor | None = None,
) -> ScoringModel: ...


@overload
def build_model(
    cfg: ModelConfig,
    train: Interactions,
    generator: torch.Generator,
    item_features: torch.Tensor | None = None,
    *,
    kind: type[M],
) -> M: ...


def build_model(
    cfg: ModelConfig,
    train: Interactions,
    generator: torch.Generator,
    item_features: torch.Tensor | None = None,
    *,
    kind: type[ScoringModel] = ScoringModel,
) -> ScoringModel:
    """The model ``cfg`` names, for the users and items of ``train``, its weights drawn from ``generator``
    (``item_features``: [n_items, d] rows aligned to ``train``'s items, for models that read them).
    ``kind``: the model class the caller's procedure drives (a user-id ``Recommender``, a
    ``SequentialRecommender``); a model of another kind is a registration error."""
    entry = MODELS[cfg.name]
    if entry.info.get("item_features") and item_features is None:
        raise ConfigError(
            f"model.name {cfg.name!r} reads item features: set data.item_features or data.item_text"
        )
    if item_features is not None and not entry.info.get("item_features"):
        readers = [e.name for e in MODELS if e.info.get("item_features")]
        raise ConfigError(
            f"data.item_features is set but model {cfg.name!r} does not read features; models that do: "
            f"{', '.join(readers)} (or drop it: --set data.item_features=null)"
        )
    model = entry.build(cfg, train, generator, item_features)
    if not isinstance(model, kind):
        built, wanted = type(model).__name__, kind.__name__
        raise TypeError(f"model {cfg.name!r} builds a {built}, not the {wanted} its procedure drives")
    return model
