"""What the defences share: a detector's type (poisoned TRAIN -> users flagged as fake) and the
defender's assumption about the attack's size, used by the filters that flag a fixed number."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from advrec.data.interactions import Interactions
from advrec.errors import ConfigError

Detector = Callable[[Interactions], np.ndarray]
"""Poisoned TRAIN interactions -> a boolean mask over its users (True = flagged as fake)."""


def expected_fakes(n_users: int, size: float) -> int:
    """Fake users among ``n_users`` poisoned-train users when fakes are ``size`` × the real users."""
    if not 0 < size <= 1:
        raise ConfigError(f"--size {size}: expected a share of real users in (0, 1]")
    return n_users - int(round(n_users / (1.0 + size)))
