"""Settings of training (``train``): objective, epochs, batches, optimizer and schedule, early stopping,
kernels, divergence guard, weight averaging."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from advrec.config.base import Strict
from advrec.config.optim import OptimizerConfig, ScheduleConfig


class TrainConfig(Strict):
    """How a model is trained: objective, epochs, batches, optimizer and schedule, early stopping, kernels."""

    objective: Literal["bpr", "bce"] = Field(
        "bpr",
        description="pairwise models: bpr (pairwise ranking) or bce (pointwise log loss on sampled "
        "negatives)",
    )
    epochs: int = Field(300, ge=1, description="at most this many epochs (early stopping may end sooner)")
    batch_size: int = Field(
        2048, ge=1, description="training examples per batch (pairs; windows for sequential models)"
    )
    n_negatives: int = Field(1, ge=1, description="sampled negatives per positive")
    l2: float = Field(0.0, ge=0, description="L2 on the batch's embeddings, scaled by 1/batch")
    optimizer: OptimizerConfig = Field(
        default_factory=OptimizerConfig,
        description="the optimizer (GAN recommenders have one per player instead)",
    )
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig, description="the learning-rate schedule")
    patience: int = Field(10, ge=1, description="early stopping: epochs without valid improvement")
    eval_every: int = Field(1, ge=1, description="validate every this many epochs (and at the last)")
    grad_clip: float | None = Field(None, gt=0, description="clip the gradient norm of each step to this")
    max_loss_growth: float | None = Field(
        1e4,
        gt=1,
        description="stop as diverged when an epoch's mean loss exceeds this many times (|first epoch's "
        "loss| + 1): a finite loss that explodes is as lost as a NaN; null: never",
    )
    init_from: str | None = Field(
        None,
        description="sasrec: a finished run folder (same data, split and model) whose best model starts "
        "this run, e.g. adversarial training after plain pre-training, as the APR paper does",
    )
    average_from: int | None = Field(
        None,
        ge=0,
        description="weight averaging (SWA): from this epoch on, the model evaluated, selected and kept is "
        "the mean of the weights at the end of every epoch so far; training goes on from the raw weights; "
        "earlier epochs are neither candidates nor count for early stopping",
    )
    kernel: Literal["auto", "fused", "autograd", "fused_epoch"] = Field(
        "auto",
        description="gradients from the fused BPR-MF kernel (numba) or autograd; auto = fused wherever "
        "it is exact (MF, BPR, no adversary, one process, CPU); fused = fail where it is not; "
        "fused_epoch = sampling, gradients and a touched-rows update for the whole epoch in numba "
        "(optimizer sgd or sparse_adam only; auto picks it for sparse_adam)",
    )
