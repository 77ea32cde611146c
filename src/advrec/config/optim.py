"""Settings of an optimizer and a learning-rate schedule (``advrec.train.optim`` builds them): the run's
``train`` section and each GAN player use them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from advrec.config.base import Strict


class OptimizerConfig(Strict):
    """An optimizer: which, and its learning rate and decay."""

    name: Literal["adam", "adamw", "adagrad", "sgd", "sparse_adam"] = Field(
        "adam",
        description="sparse_adam: torch's SparseAdam (lazy Adam: only the rows a batch touches move); "
        "runs only with train.kernel fused_epoch (auto picks it)",
    )
    lr: float = Field(1e-3, gt=0, description="learning rate")
    weight_decay: float = Field(
        0.0, ge=0, description="the optimizer's decoupled (adamw) or L2 (others) weight decay"
    )
    momentum: float = Field(0.0, ge=0, description="SGD only")


class ScheduleConfig(Strict):
    """A learning-rate schedule over epochs, with an optional linear warm-up."""

    name: Literal["constant", "step", "exponential", "cosine", "plateau"] = Field(
        "constant",
        description="learning-rate schedule over epochs: constant, step, exponential, cosine (to min_lr "
        "at train.epochs) or plateau (on the valid selection metric)",
    )
    warmup_epochs: int = Field(0, ge=0, description="linear warm-up, combinable with any schedule")
    step_size: int = Field(10, ge=1, description="step: epochs between decays")
    gamma: float = Field(0.5, gt=0, le=1, description="step/exponential/plateau decay factor")
    min_lr: float = Field(0.0, ge=0, description="cosine floor")
    patience: int = Field(5, ge=0, description="plateau: epochs without improvement before decaying")
