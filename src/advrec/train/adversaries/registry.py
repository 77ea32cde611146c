"""The adversary registry: the ``adversary`` config section becomes trainer hooks.

Each adversarial-training method (``apr``, ``simgcl``, ``xsimgcl``, ...) declares its settings as an
``AdversaryConfig`` and registers a builder ``(settings, context) -> hooks``; ``context`` says what the
method may need of the run (the built model, its objective, the training data as the robustness probe
reads it, seed, epochs, selection metric, world size), so a builder can refuse a run it cannot train.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch

from advrec.config.base import Component, Registry
from advrec.models.base import ScoringModel
from advrec.train.hooks import TrainHook

# The training data as the robustness probe reads it (every example once), built only when asked for.
FullData = Callable[[], list[dict[str, torch.Tensor]]]


class AdversaryConfig(Component):
    """Adversarial training; ``name`` picks the method (``none``: plain training)."""


@dataclass(frozen=True)
class AdversaryContext:
    """What an adversary may need of the run it trains in."""

    model: ScoringModel
    objective: Any  # the run's objective: its loss and ``pair_loss`` at perturbed tables
    seed: int
    epochs: int
    select_metric: str = "ndcg@10"
    full_data: FullData | None = None
    world_size: int = 1


Builder = Callable[[Any, AdversaryContext], list[TrainHook]]
ADVERSARIES: Registry[Builder] = Registry(
    "adversary", "adversary.name", "advrec.train.adversaries", default="none"
)


class NoAdversary(AdversaryConfig):
    """Plain training."""

    name: Literal["none"] = "none"


@ADVERSARIES.register(NoAdversary)
def no_adversary(cfg: NoAdversary, ctx: AdversaryContext) -> list[TrainHook]:
    return []


def build_adversary(cfg: AdversaryConfig, ctx: AdversaryContext) -> list[TrainHook]:
    """The hooks of the adversary ``cfg`` names (none for ``none``)."""
    return ADVERSARIES[cfg.name].build(cfg, ctx)


AdversaryConfig.registry = ADVERSARIES
