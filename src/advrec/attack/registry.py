"""The attack registry: fake-user generators by name, each with its own settings.

A generator turns a budget (``AttackSpec``: how many fake users, filler items per profile, which
targets) and the TRAIN interactions into fake profiles, drawing from the given generator. Each attack
module declares its settings (an ``AttackConfig``) and registers ``(settings, spec, train, rng) ->
FakeProfiles``; an unknown name lists the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from advrec.attack.base import AttackSpec, FakeProfiles
from advrec.config.base import Component, Registry
from advrec.data.interactions import Interactions

Generate = Callable[[Any, AttackSpec, Interactions, np.random.Generator], FakeProfiles]
ATTACKS: Registry[Generate] = Registry("attack", "--attack", "advrec.attack")


class AttackConfig(Component):
    """A fake-user attack's settings; ``name`` picks the generator. Its budget (share of fake users,
    filler size, targets) belongs to the poisoning experiment, not to the attack."""


AttackConfig.registry = ATTACKS


def generate(
    cfg: AttackConfig, spec: AttackSpec, train: Interactions, rng: np.random.Generator
) -> FakeProfiles:
    """The fake profiles of the attack ``cfg`` names, for the budget ``spec``."""
    return ATTACKS[cfg.name].build(cfg, spec, train, rng)


def get_attack(name: str) -> Callable[[AttackSpec, Interactions, np.random.Generator], FakeProfiles]:
    """The generator ``name`` with its default settings, as ``(spec, train, rng) -> profiles``."""
    entry = ATTACKS[name]
    cfg = entry.config.model_validate({})
    return lambda spec, train, rng: entry.build(cfg, spec, train, rng)
