"""Defences against poisoning: a registry of (how to change the victim's training data, how to change the
victim's training) pairs, each judged with the same probe as the attack, each with its own settings.

* ``none``       -- the poisoned victim itself (the 'after' column);
* ``apr``        -- adversarial training of the victim (APR, He et al. 2018): the victim's config plus an
                    ``adversary`` (default: FGSM, ε = 0.5 absolute, λ = 1, after a plateau of plain training
                    of min(10, train.patience) evaluations), every key settable;
* ``vat``, ``pamacf`` -- the same with a personal radius per user (``advrec.defend.vat``,
                    ``advrec.defend.pamacf``);
* ``filter``     -- detect, drop the flagged users' training rows, retrain (``detector``: see
                    ``advrec.defend.filters.FILTER_DETECTORS``);
* ``filter+apr`` -- both.

A filter's detector is a callable from the poisoned TRAIN interactions to a boolean mask over its users
(True = flagged as fake), e.g. a fitted ``advrec.defend`` detector thresholded; ``build_defence`` makes
the one its settings name, or takes the caller's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from advrec.config.base import Component, Registry
from advrec.data.split import Split
from advrec.defend.base import Detector
from advrec.defend.filters import FILTER_DETECTORS, filter_detector
from advrec.runs.config import RunConfig
from advrec.train.adversaries.apr import APRConfig, PerturbationAdversaryConfig

FilterDetectorName = Literal[FILTER_DETECTORS]  # type: ignore[valid-type]


class DefenceConfig(Component):
    """A defence against poisoning; ``name`` picks it."""


Build = Callable[[Any, float, int, Detector | None], "Defence"]
DEFENCES: Registry[Build] = Registry("defence", "--defence", "advrec.defend", default="none")
DefenceConfig.registry = DEFENCES


PLATEAU = 10
"""Evaluations without improvement of plain training before an adversarial-training defence switches on
(capped at the victim's patience), unless its settings say otherwise."""


def _example_adversary() -> APRConfig:
    return APRConfig(method="fgsm", eps=0.5, eps_mode="absolute", reg_adv=1.0, start_after_plateau=PLATEAU)


def pretrained_first(value: Any) -> Any:
    """A defence's ``adversary`` settings as given, with the defence's plateau unless they set one: a
    partial section (``--defence-set adversary.eps=0.25``) keeps the defence's other defaults."""
    if isinstance(value, dict) and "start_after_plateau" not in value:
        return {**value, "start_after_plateau": PLATEAU}
    return value


class NoDefence(DefenceConfig):
    """The poisoned victim as it is."""

    name: Literal["none"] = "none"


class APRDefence(DefenceConfig):
    """Adversarial training of the victim (its config plus this adversary)."""

    name: Literal["apr"] = "apr"
    adversary: APRConfig = Field(default_factory=_example_adversary, description="the victim's APR settings")

    _plateau = field_validator("adversary", mode="before")(pretrained_first)


class FilterDefence(DefenceConfig):
    """Detect fake users in the poisoned TRAIN, drop their rows, retrain."""

    name: Literal["filter"] = "filter"
    detector: FilterDetectorName = Field("simulated", description="the detector that flags the users")


class FilterAPRDefence(DefenceConfig):
    """The filter, then adversarial training of the victim on what is left."""

    name: Literal["filter+apr"] = "filter+apr"
    detector: FilterDetectorName = Field("simulated", description="the detector that flags the users")
    adversary: APRConfig = Field(default_factory=_example_adversary, description="the victim's APR settings")

    _plateau = field_validator("adversary", mode="before")(pretrained_first)


@dataclass(frozen=True)
class Defence:
    name: str
    adversary: PerturbationAdversaryConfig | None = None
    detector: Detector | None = None

    @property
    def adversarial(self) -> bool:
        return self.adversary is not None

    def victim_config(self, config: RunConfig) -> RunConfig:
        if self.adversary is None:
            return config
        # pre-train until the victim's own early stopping would call it converged (at most the
        # adversary's plateau), so a victim with a short patience still reaches its APR epochs
        plateau = min(self.adversary.start_after_plateau, config.train.patience)
        adversary = self.adversary.model_copy(update={"start_after_plateau": plateau})
        return config.model_copy(update={"adversary": adversary})

    def train_split(self, split: Split) -> tuple[Split, dict[str, Any]]:
        """The split the defended victim trains on, and what the filter did (empty without one)."""
        if self.detector is None:
            return split, {}
        train = split.train
        flagged = np.asarray(self.detector(train), dtype=bool).reshape(-1)
        if flagged.shape != (train.n_users,):
            raise ValueError(f"detector returned {flagged.shape[0]} flags for {train.n_users} users")
        keep = ~flagged[train.users]
        # an item left with no row anywhere would vanish from the saved split, and runs are compared
        # item by item: its flagged training rows stay (flagged real users can be its only raters)
        left = np.bincount(train.items[keep], minlength=train.n_items)
        left += np.bincount(split.valid.items, minlength=train.n_items)
        left += np.bincount(split.test.items, minlength=train.n_items)
        kept = train.select(keep | (left == 0)[train.items])
        report = {
            "flagged_users": int(flagged.sum()),
            "dropped_interactions": len(train) - len(kept),
            "flagged_ids": train.user_map.raw[flagged].tolist(),  # original ids, to count fakes caught
        }
        return Split(kept, split.valid, split.test), report


def adversarial_training(name: str) -> Build:
    """The builder of a defence that only trains the victim with its settings' ``adversary``."""
    return lambda cfg, size, seed, detector: Defence(name, adversary=cfg.adversary)


def _detector(cfg: Any, size: float, seed: int, detector: Detector | None) -> Detector:
    return detector if detector is not None else filter_detector(cfg.detector, size, seed)


DEFENCES.register(NoDefence)(lambda cfg, size, seed, detector: Defence("none"))
DEFENCES.register(APRDefence)(adversarial_training("apr"))
DEFENCES.register(FilterDefence)(
    lambda cfg, size, seed, detector: Defence("filter", detector=_detector(cfg, size, seed, detector))
)
DEFENCES.register(FilterAPRDefence)(
    lambda cfg, size, seed, detector: Defence(
        "filter+apr", adversary=cfg.adversary, detector=_detector(cfg, size, seed, detector)
    )
)


def build_defence(
    cfg: DefenceConfig | str, size: float = 0.03, seed: int = 0, detector: Detector | None = None
) -> Defence:
    """The defence ``cfg`` names (or the defence of that name with its default settings), against an
    attack of ``size`` (the filters' expected share of fakes); ``detector`` replaces the filter's named
    one (e.g. a supervised detector the caller fitted)."""
    settings = DEFENCES[cfg].config.model_validate({}) if isinstance(cfg, str) else cfg
    return DEFENCES[settings.name].build(settings, size, seed, detector)
