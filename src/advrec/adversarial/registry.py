"""Explicit name -> adversary registry: the ``adversary`` config section becomes trainer hooks."""

from __future__ import annotations

from collections.abc import Callable

from advrec.adversarial.apr import APRHook
from advrec.adversarial.builder import PerturbationBuilder
from advrec.config.schema import RunConfig
from advrec.errors import ConfigError
from advrec.training.hooks import TrainHook
from advrec.training.objectives import PairwiseObjective
from advrec.utils.seeding import torch_generator


def _none(config: RunConfig, objective: PairwiseObjective) -> list[TrainHook]:
    return []


def _apr(config: RunConfig, objective: PairwiseObjective) -> list[TrainHook]:
    adv = config.adversary
    if adv.start_epoch >= config.train.epochs:
        raise ConfigError(
            f"adversary.start_epoch: {adv.start_epoch} >= train.epochs ({config.train.epochs}); "
            "the adversary would never switch on"
        )
    builder = PerturbationBuilder(
        method=adv.method,
        eps=adv.eps,
        eps_mode=adv.eps_mode,
        pgd_steps=adv.pgd_steps,
        pgd_alpha=adv.pgd_alpha,
        generator=torch_generator(config.seed, "adversary"),
    )
    return [
        APRHook(
            objective,
            builder,
            adv.reg_adv,
            adv.start_epoch,
            adv.eps_ramp_epochs,
            adv.targets,
            start_after_plateau=adv.start_after_plateau,
            select_metric=config.eval.select_metric,
        )
    ]


ADVERSARIES: dict[str, Callable[[RunConfig, PairwiseObjective], list[TrainHook]]] = {
    "none": _none,
    "apr": _apr,
}


def build_adversary(config: RunConfig, objective: PairwiseObjective) -> list[TrainHook]:
    """The hooks of the configured adversary (none for ``name: none``)."""
    try:
        builder = ADVERSARIES[config.adversary.name]
    except KeyError:
        raise ConfigError(
            f"adversary.name: unknown adversary {config.adversary.name!r}; valid: {', '.join(ADVERSARIES)}"
        ) from None
    return builder(config, objective)
