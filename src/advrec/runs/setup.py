"""From a run's config to what trains it: the model, its training procedure, the evaluation protocol and
the hooks (adversary, augmentation, the caller's monitors). Each training procedure a model can need
(``advrec.models.registry``: ``procedure``) is one module of ``advrec.runs.procedures``, registered here
with how its runs are built and evaluated; a new family of models is one new module there."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from advrec.config.base import Registry
from advrec.data.split import Split
from advrec.measure.protocol import EvaluationProtocol
from advrec.models.registry import procedure_of
from advrec.runs.config import RunConfig
from advrec.train.adversaries.registry import AdversaryContext, FullData
from advrec.train.distributed import DistContext
from advrec.train.hooks import TrainHook
from advrec.train.procedure import TrainingSetup

# (config, split, run folder or None, item features or None, dist context, hooks, show progress) -> setup
Setup = Callable[..., TrainingSetup]
PROCEDURES: Registry[Setup] = Registry("training procedure", "procedure", "advrec.runs.procedures")

# the robustness probe's batch of training examples when an adversary needs the whole training data
FULL_DATA_BATCH = {"pairwise": 8192, "sequential": 256}


def build_protocol(config: RunConfig, split: Split) -> EvaluationProtocol:
    """The run's evaluation protocol, as its model's training procedure defines it."""
    return PROCEDURES[procedure_of(config.model.name)].info["protocol"](config, split)


def build_setup(
    config: RunConfig,
    split: Split,
    run_dir: Path | None,
    ctx: DistContext,
    *,
    item_features: torch.Tensor | None = None,
    hooks: Sequence[TrainHook] = (),
    show_progress: bool = False,
) -> TrainingSetup:
    """The model, procedure, protocol and hooks of ``config``'s run on ``split``. ``hooks`` (monitors,
    trackers) come after the method's own, whose states are checkpointed first."""
    setup = PROCEDURES[procedure_of(config.model.name)].build
    return setup(config, split, run_dir, item_features, ctx, hooks, show_progress)


def adversary_context(
    config: RunConfig, model: Any, objective: Any, full_data: FullData | None, ctx: DistContext
) -> AdversaryContext:
    """What the run's adversary may need of it (``advrec.train.adversaries.registry``)."""
    return AdversaryContext(
        model=model,
        objective=objective,
        seed=config.seed,
        epochs=config.train.epochs,
        select_metric=config.eval.select_metric,
        full_data=full_data,
        world_size=ctx.world_size,
    )
