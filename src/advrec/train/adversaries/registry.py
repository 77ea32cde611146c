"""Explicit name -> adversary registry: the ``adversary`` config section becomes trainer hooks."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.distributed as dist

from advrec.config.schema import RunConfig
from advrec.errors import ConfigError
from advrec.objectives.pairwise import PairwiseObjective
from advrec.perturb.builder import PerturbationBuilder
from advrec.train.adversaries.apr import APRHook
from advrec.train.adversaries.simgcl import SimGCLHook, XSimGCLHook
from advrec.train.hooks import TrainHook
from advrec.utils.seeding import torch_generator

# The training data as the robustness probe reads it (every example once), built only when asked for.
FullData = Callable[[], list[dict[str, torch.Tensor]]]


def _none(config: RunConfig, objective: PairwiseObjective, full_data: FullData | None) -> list[TrainHook]:
    return []


def _apr(config: RunConfig, objective: PairwiseObjective, full_data: FullData | None) -> list[TrainHook]:
    adv = config.adversary
    if adv.start_epoch >= config.train.epochs:
        raise ConfigError(
            f"adversary.start_epoch: {adv.start_epoch} >= train.epochs ({config.train.epochs}); "
            "the adversary would never switch on"
        )
    if adv.start_epoch + adv.min_adv_epochs >= config.train.epochs:
        raise ConfigError(
            f"adversary.min_adv_epochs: start_epoch ({adv.start_epoch}) + min_adv_epochs "
            f"({adv.min_adv_epochs}) >= train.epochs ({config.train.epochs}); no epoch could be selected"
        )
    if adv.random_start and adv.method not in ("fgsm", "pgd"):
        raise ConfigError(f"adversary.random_start: applies to method fgsm or pgd; got method {adv.method!r}")
    if adv.random_start and adv.universal_step is not None:
        raise ConfigError("adversary.random_start: not with adversary.universal_step (the kept Δ starts it)")
    if adv.universal_step is not None and adv.method != "fgsm":
        raise ConfigError(
            f"adversary.universal_step: works with adversary.method fgsm only (one projected L2 step per "
            f"batch); got method {adv.method!r}"
        )
    if adv.full_data_every is not None:
        if adv.universal_step is not None:
            raise ConfigError("adversary.full_data_every: not with adversary.universal_step (two kept Δs)")
        if adv.method not in ("fgsm", "pgd"):
            raise ConfigError(
                f"adversary.full_data_every: needs method fgsm or pgd (the probe's); got {adv.method!r}"
            )
        if full_data is None:
            raise ConfigError("adversary.full_data_every: this run's training path has no full-data gradient")
        if _world_size() > 1:
            raise ConfigError(
                f"adversary.full_data_every: not under distributed training (world size {_world_size()}); "
                "every rank would repeat the same full pass: run it in one process"
            )
    # Both reuse the clean forward's hidden states, which must not depend on the perturbed table.
    reuses_states = {
        "adversary.method: worst_case": adv.method == "worst_case",
        "adversary.shared_forward:": adv.shared_forward,
    }
    for label in (k for k, on in reuses_states.items() if on):
        if config.model.name != "sasrec" or adv.targets != ["item_output"]:
            raise ConfigError(
                f"{label} needs model.name sasrec and adversary.targets [item_output] (the hidden states "
                f"must not depend on the perturbed table); got {config.model.name!r}, {adv.targets}"
            )
        if adv.universal_step is not None or adv.full_data_every is not None:
            raise ConfigError(f"{label} not with universal_step or full_data_every (a per-batch term only)")
    if all(reuses_states.values()):
        raise ConfigError(
            "adversary.method: worst_case builds no Δ; remove shared_forward (it reuses the states)"
        )
    builder = PerturbationBuilder(
        method=adv.method,
        eps=adv.eps,
        eps_mode=adv.eps_mode,
        pgd_steps=adv.pgd_steps,
        pgd_alpha=adv.pgd_alpha,
        generator=torch_generator(config.seed, "adversary"),
        random_start=adv.random_start,
    )
    hooks = [
        APRHook(
            objective,
            builder,
            adv.reg_adv,
            adv.start_epoch,
            adv.eps_ramp_epochs,
            adv.targets,
            start_after_plateau=adv.start_after_plateau,
            select_metric=config.eval.select_metric,
            min_adv_epochs=adv.min_adv_epochs,
            universal_step=adv.universal_step,
            full_data_every=adv.full_data_every,
            shared_forward=adv.shared_forward,
        )
    ]
    if adv.full_data_every is not None:
        hooks[0].use_full_data(full_data())
    return hooks


def _world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _contrastive(
    config: RunConfig, objective: PairwiseObjective, full_data: FullData | None
) -> list[TrainHook]:
    """SimGCL / XSimGCL: LightGCN only, single process only (see ``advrec.train.adversaries.simgcl``)."""
    adv, model = config.adversary, config.model
    if model.name != "lightgcn":
        raise ConfigError(
            f"adversary.name: {adv.name} works on model.name lightgcn only (it perturbs the propagation "
            f"layers); got model.name {model.name!r}"
        )
    if model.n_layers < 1:
        raise ConfigError(f"adversary.name: {adv.name} needs model.n_layers >= 1; got {model.n_layers}")
    if _world_size() > 1:
        raise ConfigError(
            f"adversary.name: {adv.name} does not support distributed training (world size {_world_size()}): "
            "each rank's in-batch InfoNCE would see only its slice of the batch; run it in one process"
        )
    if adv.min_adv_epochs:
        raise ConfigError(
            f"adversary.min_adv_epochs: only apr uses it (every {adv.name} epoch may be selected); remove it"
        )
    only_apr = {
        "universal_step": adv.universal_step,
        "full_data_every": adv.full_data_every,
        "random_start": adv.random_start or None,
        "shared_forward": adv.shared_forward or None,
    }
    if any(v is not None for v in only_apr.values()):
        key = next(k for k, v in only_apr.items() if v is not None)
        raise ConfigError(f"adversary.{key}: only apr uses it; remove it for {adv.name}")
    generator = torch_generator(config.seed, "adversary")
    if adv.name == "simgcl":
        if adv.cl_layer is not None:
            raise ConfigError("adversary.cl_layer: only xsimgcl uses it; remove it for simgcl")
        return [SimGCLHook(adv.cl_eps, adv.cl_weight, adv.cl_temperature, generator)]
    if adv.cl_layer > model.n_layers:
        raise ConfigError(f"adversary.cl_layer: {adv.cl_layer} > model.n_layers ({model.n_layers})")
    return [XSimGCLHook(objective, adv.cl_eps, adv.cl_weight, adv.cl_temperature, adv.cl_layer, generator)]


ADVERSARIES: dict[str, Callable[[RunConfig, PairwiseObjective, FullData | None], list[TrainHook]]] = {
    "none": _none,
    "apr": _apr,
    "simgcl": _contrastive,
    "xsimgcl": _contrastive,
}


def build_adversary(
    config: RunConfig, objective: PairwiseObjective, full_data: FullData | None = None
) -> list[TrainHook]:
    """The hooks of the configured adversary (none for ``name: none``). ``full_data``: the training
    data as the robustness probe reads it, for ``adversary.full_data_every``."""
    try:
        builder = ADVERSARIES[config.adversary.name]
    except KeyError:
        raise ConfigError(
            f"adversary.name: unknown adversary {config.adversary.name!r}; valid: {', '.join(ADVERSARIES)}"
        ) from None
    return builder(config, objective, full_data)
