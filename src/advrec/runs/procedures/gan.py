"""GAN recommenders trained by their game: both players, their own optimizers and schedules; ``gan.png``
drawn from the run's metrics once training ends."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch

from advrec.config.base import Component
from advrec.data.split import Split
from advrec.errors import ConfigError
from advrec.models.base import Recommender
from advrec.models.gan import GanModelConfig
from advrec.models.registry import build_model
from advrec.runs.config import RunConfig
from advrec.runs.procedures.pairwise import pairwise_protocol
from advrec.runs.setup import PROCEDURES
from advrec.train.distributed import DistContext
from advrec.train.gan.builder import build_game
from advrec.train.gan.plot import plot_gan_history
from advrec.train.hooks import TrainHook
from advrec.train.metrics_log import read_metrics_log
from advrec.train.procedure import TrainingSetup
from advrec.utils.seeding import torch_generator


class Gan(Component):
    """A generator/discriminator game instead of the pairwise objective."""

    name: Literal["gan"] = "gan"


@PROCEDURES.register(Gan, protocol=pairwise_protocol)  # ranked by user id as pairwise models are
def setup_gan(
    config: RunConfig,
    split: Split,
    run_dir: Path | None,
    item_features: torch.Tensor | None,
    ctx: DistContext,
    hooks: Sequence[TrainHook] = (),
    show_progress: bool = False,
) -> TrainingSetup:
    """A GAN recommender trained by its game; ``gan.png`` is drawn from ``metrics.jsonl`` once training
    ends (also after a divergence: the curves explain it)."""
    if ctx.enabled:
        raise ConfigError(f"model.name: {config.model.name} (a GAN) trains in a single process (no torchrun)")
    protocol = pairwise_protocol(config, split)
    settings = config.model
    if not isinstance(settings, GanModelConfig):
        raise TypeError(f"model {settings.name!r} registered the gan procedure without GAN settings")
    model = build_model(settings, split.train, torch_generator(config.seed, "init"), kind=Recommender)
    game = build_game(settings, model.to(config.device), split.train, config.train, config.seed)

    def plot() -> None:
        if run_dir is None:
            return
        metrics = run_dir / "metrics.jsonl"
        if metrics.exists() and metrics.stat().st_size:
            title = f"{config.model.name}, seed {config.seed}"
            plot_gan_history(read_metrics_log(metrics, timings=False), run_dir / "gan.png", title=title)

    return TrainingSetup(model, game, protocol, protocol.validate, list(hooks), after_fit=plot)
