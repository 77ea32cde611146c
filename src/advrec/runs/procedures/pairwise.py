"""Models of user ids trained on sampled (user, positive, negatives) triples: BPR or BCE, with the
adversary's and augmentation's hooks, by autograd or the fused BPR-MF kernels."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch

from advrec.config.base import Component
from advrec.data.sampler import NegativeSampler
from advrec.data.split import Split
from advrec.measure.protocol import Protocol
from advrec.measure.robustness import training_batches, validation_under_attack
from advrec.models.base import Recommender, ShardedRecommender
from advrec.models.registry import build_model
from advrec.objectives.pairwise import build_objective
from advrec.runs.config import RunConfig
from advrec.runs.setup import FULL_DATA_BATCH, PROCEDURES, adversary_context
from advrec.train.adversaries.registry import build_adversary
from advrec.train.augment import build_augmentation
from advrec.train.distributed import DistContext
from advrec.train.hooks import TrainHook
from advrec.train.optim import LRSchedule, build_optimizer
from advrec.train.pairwise import PairwiseProcedure
from advrec.train.procedure import TrainingSetup, Validate
from advrec.utils.seeding import child_seed, torch_generator


class Pairwise(Component):
    """Sampled pairs: the objective (BPR or BCE) on each user's positives against sampled negatives."""

    name: Literal["pairwise"] = "pairwise"


def pairwise_protocol(config: RunConfig, split: Split) -> Protocol:
    return Protocol.from_split(split, config.eval, config.device)


@PROCEDURES.register(Pairwise, protocol=pairwise_protocol)
def setup_pairwise(
    config: RunConfig,
    split: Split,
    run_dir: Path | None,
    item_features: torch.Tensor | None,
    ctx: DistContext,
    hooks: Sequence[TrainHook] = (),
    show_progress: bool = False,
) -> TrainingSetup:
    """A model of user ids trained on sampled pairs, with its adversary and augmentation hooks."""
    protocol = pairwise_protocol(config, split)
    model = build_model(
        config.model, split.train, torch_generator(config.seed, "init"), item_features, kind=Recommender
    )
    model = model.to(config.device)
    torch.manual_seed(child_seed(config.seed, "dropout"))
    tc = config.train
    if isinstance(model, ShardedRecommender):  # its tables update in the lookup's backward, on their ranks
        optimizer = model.shard(tc.optimizer, torch.device(config.device))
    else:
        optimizer = build_optimizer(model.parameters(), tc.optimizer)
    objective = build_objective(tc.objective, tc.l2)

    def full_data() -> list[dict[str, torch.Tensor]]:  # the training data as the robustness probe reads it
        return training_batches(
            split.train, config.seed, FULL_DATA_BATCH["pairwise"], torch.device(config.device)
        )

    adversary = build_adversary(config.adversary, adversary_context(config, model, objective, full_data, ctx))
    # Augmentation and adversary hooks go first: hook states are checkpointed as a list in this order,
    # and a caller's extra hooks (monitors, a simulated crash) may differ between a run and its resume.
    all_hooks = [*build_augmentation(config.augment, config.seed), *adversary, *hooks]
    validate: Validate = protocol.validate
    if config.eval.adversarial_valid is not None:
        batches = training_batches(split.train, config.seed, tc.batch_size, torch.device(config.device))
        validate = validation_under_attack(
            config.eval.adversarial_valid, config.seed, model, protocol, objective, batches
        )
    aug = config.augment
    procedure = PairwiseProcedure(
        model,
        objective,
        NegativeSampler(split.train, tc.n_negatives, aug.drop_interactions, aug.add_interactions),
        optimizer,
        LRSchedule(optimizer, tc.schedule, tc.epochs),
        tc,
        hooks=all_hooks,
        dist_ctx=ctx,
        device=config.device,
        show_progress=show_progress,
    )
    return TrainingSetup(model, procedure, protocol, validate, all_hooks)
