"""Next-item models of histories on the leave-one-out protocol: windows of each user's sequence, the
next-item objective, the adversary's hooks; ``train.init_from`` starts from another run's model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch

from advrec.config.base import Component
from advrec.data.sequences import check_leave_one_out
from advrec.data.split import Split
from advrec.errors import ConfigError
from advrec.measure.robustness import validation_under_attack
from advrec.measure.sequential import SequentialProtocol
from advrec.models.base import SequentialRecommender
from advrec.models.registry import build_model
from advrec.objectives.sequential import SequentialObjective, probe_batches, sequence_windows, window_settings
from advrec.runs.config import RunConfig
from advrec.runs.setup import FULL_DATA_BATCH, PROCEDURES, adversary_context
from advrec.train.adversaries.registry import build_adversary
from advrec.train.distributed import DistContext
from advrec.train.hooks import TrainHook
from advrec.train.optim import LRSchedule, build_optimizer
from advrec.train.procedure import TrainingSetup, Validate
from advrec.train.sequential import SequentialProcedure, init_from_run
from advrec.utils.seeding import child_seed, torch_generator


class Sequential(Component):
    """Histories: every position of each training window predicts the next item (causal)."""

    name: Literal["sequential"] = "sequential"


def sequential_protocol(config: RunConfig, split: Split) -> SequentialProtocol:
    return SequentialProtocol.from_split(
        split, config.eval, window_settings(config.model).max_len, config.device
    )


@PROCEDURES.register(Sequential, protocol=sequential_protocol)
def setup_sequential(
    config: RunConfig,
    split: Split,
    run_dir: Path | None,
    item_features: torch.Tensor | None,
    ctx: DistContext,
    hooks: Sequence[TrainHook] = (),
    show_progress: bool = False,
) -> TrainingSetup:
    """A next-item model on the leave-one-out protocol (``train.init_from`` loads another run folder's
    best model, checked to share ``run_dir``'s split)."""
    check_leave_one_out(split)
    if split.train.n_items < 2:
        raise ConfigError("data: a sequential model needs at least two items")
    cfg = window_settings(config.model)
    protocol = sequential_protocol(config, split)
    model = build_model(
        config.model,
        split.train,
        torch_generator(config.seed, "init"),
        item_features,
        kind=SequentialRecommender,
    )
    if config.train.init_from is not None:
        if run_dir is None:
            raise ConfigError("train.init_from: needs a run folder to check the split against")
        init_from_run(model, Path(config.train.init_from), run_dir / "split")
    model = model.to(config.device)
    torch.manual_seed(child_seed(config.seed, "dropout"))
    tc = config.train
    objective = SequentialObjective(cfg.loss, cfg.span)
    optimizer = build_optimizer(model.parameters(), tc.optimizer)

    def full_data() -> list[dict[str, torch.Tensor]]:  # the probe's windows, in larger batches
        return probe_batches(cfg, split, config.seed, config.device, FULL_DATA_BATCH["sequential"])

    adversary = build_adversary(config.adversary, adversary_context(config, model, objective, full_data, ctx))
    all_hooks = [*adversary, *hooks]  # the adversary first: hook states are checkpointed in this order
    procedure = SequentialProcedure(
        model,
        objective,
        optimizer,
        LRSchedule(optimizer, tc.schedule, tc.epochs),
        sequence_windows(cfg, split),
        tc,
        hooks=all_hooks,
        dist_ctx=ctx,
        device=config.device,
        show_progress=show_progress,
    )
    validate: Validate = protocol.validate
    if config.eval.adversarial_valid is not None:
        batches = probe_batches(cfg, split, config.seed, config.device, tc.batch_size)
        validate = validation_under_attack(
            config.eval.adversarial_valid, config.seed, model, protocol, objective, batches
        )
    return TrainingSetup(model, procedure, protocol, validate, all_hooks)
