"""What GAN recommenders share: two players, each with its own optimizer, schedule and pace, and the GAN
loss of their game (``advrec.train.gan`` trains them; ``train.epochs``, ``patience`` and ``eval_every``
still apply, the ``train`` section's optimizer, schedule and batches do not)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from advrec.config.base import Strict
from advrec.config.optim import OptimizerConfig, ScheduleConfig
from advrec.models.registry import ModelConfig

GanLossName = Literal["minimax", "non_saturating", "wgan_gp", "hinge", "least_squares"]


class GanPlayerConfig(Strict):
    """One player of a GAN (generator or discriminator): its own optimizer, schedule and pace."""

    optimizer: OptimizerConfig = Field(
        default_factory=lambda: OptimizerConfig(lr=1e-4), description="this player's optimizer"
    )
    schedule: ScheduleConfig = Field(
        default_factory=ScheduleConfig, description="this player's learning-rate schedule"
    )
    steps: int = Field(1, ge=1, description="passes per epoch (D:G ratio = discriminator : generator steps)")
    batch_size: int = Field(64, ge=1, description="rows (CFGAN) or users/pairs (IRGAN) per update")
    pretrain_epochs: int = Field(
        0, ge=0, description="epochs training this player alone first (generator first, then discriminator)"
    )
    grad_clip: float | None = Field(None, gt=0, description="clip this player's gradient norm")
    l2: float = Field(0.0, ge=0, description="IRGAN: L2 on the batch's rows, l2 * ||rows||^2 / 2 / batch")

    @field_validator("optimizer")
    @classmethod
    def _dense_optimizer(cls, v: OptimizerConfig) -> OptimizerConfig:
        if v.name == "sparse_adam":  # it needs the MF-BPR whole-epoch kernel; GAN players have dense grads
            raise ValueError("sparse_adam runs only in train.optimizer with the MF-BPR whole-epoch kernel")
        return v


class GanModelConfig(ModelConfig):
    """A GAN recommender: a generator/discriminator game instead of the pairwise objective."""

    loss: GanLossName = Field("minimax", description="the GAN loss of both players")
    gp_weight: float = Field(10.0, ge=0, description="wgan_gp: weight of the gradient penalty")
    generator: GanPlayerConfig = Field(default_factory=GanPlayerConfig, description="the generator player")
    discriminator: GanPlayerConfig = Field(
        default_factory=GanPlayerConfig, description="the discriminator player"
    )
    select_during_pretraining: bool = Field(
        False, description="whether pre-training epochs may be selected as best (and count for patience)"
    )
    monitor_k: int = Field(10, ge=1, description="top-k of the mode-collapse signal")
