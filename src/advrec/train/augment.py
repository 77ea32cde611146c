"""Input-level augmentation: random noise on item feature inputs (a trainer hook) and interaction
dropping/adding (done by the sampler, see ``NegativeSampler``); the ``augment`` config section.

Feature noise: for each training batch, every item row the batch uses (positives and negatives) gets
fresh i.i.d. noise of standard deviation ``level`` per coordinate, Gaussian N(0, level²) or uniform
U(-√3·level, √3·level); the same item twice in one batch gets the same noise. The noise is a delta on the
``item_features`` table, so the model sees f_i + noise in the plain loss term; an adversary's term
(APR/AMR) is computed at the clean features. Noise is drawn on the CPU from a generator seeded per batch
from the run's ``augment`` stream and the batch's step number (the only state, checkpointed with the
hook): a resumed run draws exactly the same noise, on every rank under DDP too.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field

from advrec.config.base import Strict
from advrec.errors import ConfigError
from advrec.models.base import Deltas
from advrec.train.hooks import TrainHook
from advrec.utils.seeding import child_seed


class FeatureNoiseConfig(Strict):
    """Random noise on the item feature inputs of each training batch (std ``level`` per coordinate)."""

    kind: Literal["gaussian", "uniform"] = Field(
        "gaussian", description="gaussian: N(0, level^2); uniform: U(-a, a) with a = sqrt(3) * level"
    )
    level: float = Field(
        gt=0, description="std per coordinate: N(0, level^2), or U(-a, a) with a = sqrt(3) * level"
    )


class AugmentConfig(Strict):
    """Input-level augmentation during training; every draw comes from the run's seed streams."""

    feature_noise: FeatureNoiseConfig | None = Field(None, description="mf_features only")
    drop_interactions: float = Field(
        0.0, ge=0, lt=1, description="each epoch, leave out exactly round(p * n_train) training rows"
    )
    add_interactions: float = Field(
        0.0, ge=0, le=1, description="each epoch, add round(q * n_train) random unobserved pairs as positives"
    )


NOISE_KINDS = ("gaussian", "uniform")


class FeatureNoiseHook(TrainHook):
    def __init__(self, kind: str, level: float, seed: int, table: str = "item_features") -> None:
        if kind not in NOISE_KINDS:
            raise ValueError(f"unknown noise kind {kind!r}; valid: {', '.join(NOISE_KINDS)}")
        if level <= 0:
            raise ValueError(f"noise level must be positive, got {level}")
        self.kind = kind
        self.level = level
        self.seed = seed
        self.table = table
        self.step = 0

    def noise(self, n: int, d: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """[n, d] draws with standard deviation ``level`` from this step's generator (advances the step)."""
        state = np.random.SeedSequence(self.seed, spawn_key=(self.step,)).generate_state(1, dtype=np.uint64)
        generator = torch.Generator().manual_seed(int(state[0] & 0x7FFF_FFFF_FFFF_FFFF))
        self.step += 1
        if self.kind == "gaussian":
            return torch.randn((n, d), generator=generator, dtype=dtype) * self.level
        half_width = math.sqrt(3.0) * self.level
        return (torch.rand((n, d), generator=generator, dtype=dtype) * 2.0 - 1.0) * half_width

    def input_deltas(self, model: Any, batch: dict[str, torch.Tensor]) -> Deltas:
        tables = model.embedding_tables()
        if self.table not in tables:
            raise ConfigError(
                f"augment.feature_noise: the model has no {self.table!r} table (its tables: "
                f"{', '.join(tables)}); it needs a model that reads item features (model.name: mf_features)"
            )
        features = tables[self.table]
        rows = torch.unique(torch.cat([batch["pos"].reshape(-1), batch["neg"].reshape(-1)]))
        delta = torch.zeros_like(features.detach())
        noise = self.noise(len(rows), features.shape[1], features.dtype).to(features.device)
        delta[rows] = noise
        return {self.table: delta}

    def on_epoch_end(self, epoch: int, log: dict[str, Any]) -> None:
        log["feature_noise"] = self.level

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])


def build_augmentation(config: AugmentConfig, seed: int) -> list[TrainHook]:
    """The hooks of the ``augment`` section (dropping/adding interactions is the sampler's job)."""
    noise = config.feature_noise
    if noise is None:
        return []
    return [FeatureNoiseHook(noise.kind, noise.level, child_seed(seed, "augment"))]
