"""Which procedure trains a run: the GAN game for a ``gan`` section, the sequential procedure for a
sequential model, the pairwise procedure otherwise."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from advrec.config.schema import RunConfig
from advrec.data.split import Split
from advrec.errors import ConfigError
from advrec.models.registry import SEQUENTIAL_MODELS
from advrec.train.distributed import DistContext
from advrec.train.gan.builder import setup_gan
from advrec.train.hooks import TrainHook
from advrec.train.pairwise import setup_pairwise
from advrec.train.procedure import TrainingSetup
from advrec.train.sequential import setup_sequential


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
    if config.model.name in SEQUENTIAL_MODELS:
        if run_dir is None and config.train.init_from is not None:
            raise ConfigError("train.init_from: needs a run folder to check the split against")
        return setup_sequential(config, split, run_dir or Path("."), ctx, hooks, show_progress)
    if config.train.init_from is not None:
        raise ConfigError("train.init_from: only sequential models (sasrec) start from another run")
    if config.gan.name != "none":
        return setup_gan(config, split, run_dir, ctx, hooks)
    return setup_pairwise(config, split, item_features, ctx, hooks, show_progress)
