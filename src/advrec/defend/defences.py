"""Defences against poisoning: a registry of (how to change the victim's training data, how to change
the victim's training) pairs, each judged with the same probe as the attack.

* ``none``       -- the poisoned victim itself (the 'after' column);
* ``apr``        -- adversarial training of the victim (APR, He et al. 2018): the victim's config plus the
                    ``adversary`` section of ``examples/adversarial/ml100k_apr_mf.yaml`` (FGSM, ε = 0.5,
                    λ = 1,
                    after a plateau of plain training of min(10, train.patience) evaluations);
* ``filter``     -- detect, drop the flagged users' training rows, retrain;
* ``filter+apr`` -- both.

The filter defences need a *detector*: a callable from the poisoned TRAIN interactions to a boolean
mask over its users (True = flagged as fake), e.g. a fitted ``advrec.defend`` model thresholded.
Pass it as ``build_defence("filter", detector=...)``; without one they cannot be built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from advrec.config.schema import AdversaryConfig, RunConfig
from advrec.data.interactions import Interactions
from advrec.data.split import Split
from advrec.errors import ConfigError

Detector = Callable[[Interactions], np.ndarray]

APR_ADVERSARY = AdversaryConfig(
    name="apr", method="fgsm", eps=0.5, eps_mode="absolute", reg_adv=1.0, start_after_plateau=10
)


@dataclass(frozen=True)
class Defence:
    name: str
    adversarial: bool = False
    detector: Detector | None = None

    def victim_config(self, config: RunConfig) -> RunConfig:
        if not self.adversarial:
            return config
        # pre-train until the victim's own early stopping would call it converged (at most the
        # example's 10 evaluations), so a victim with a short patience still reaches its APR epochs
        plateau = min(APR_ADVERSARY.start_after_plateau, config.train.patience)
        adversary = APR_ADVERSARY.model_copy(update={"start_after_plateau": plateau})
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


DEFENCES: dict[str, tuple[bool, bool]] = {  # name -> (adversarial training, filter)
    "none": (False, False),
    "apr": (True, False),
    "filter": (False, True),
    "filter+apr": (True, True),
}


def build_defence(name: str, detector: Detector | None = None) -> Defence:
    if name not in DEFENCES:
        raise ConfigError(f"--defence {name!r}: unknown defence; valid: {', '.join(DEFENCES)}")
    adversarial, filters = DEFENCES[name]
    if filters and detector is None:
        raise ConfigError(
            f"defence {name!r} needs a fake-profile detector: pass detector= (see "
            f"advrec.defend.filters); advrec attack's default is simulated_filter"
        )
    return Defence(name, adversarial, detector if filters else None)
