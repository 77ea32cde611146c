"""What every attack works with: the budget it is given (``AttackSpec``) and the fake profiles it makes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FakeProfiles:
    """``n_fake`` fake users as parallel arrays; ``users`` index the fake users 0..n_fake-1."""

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    n_fake: int

    def __len__(self) -> int:
        return len(self.users)


@dataclass(frozen=True)
class AttackSpec:
    """What every generator is asked for: how many users, how many filler items, which targets."""

    n_fake: int
    filler: int
    targets: np.ndarray
    n_selected: int = 10
