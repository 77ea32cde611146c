"""Small hand-made interaction sets for the attack tests."""

import numpy as np
import pytest

from advrec.data.interactions import Interactions
from advrec.data.split import ratio_split


@pytest.fixture
def toy_train() -> Interactions:
    """6 users, 8 items (ids 10..17), ratings 1..5. Item 10 is in every profile (the most popular);
    items 16 and 17 in one each; 11 and 12 co-occur with 16 (user 6)."""
    rows = [
        (1, 10, 5), (1, 11, 4), (1, 13, 3),
        (2, 10, 4), (2, 13, 2), (2, 14, 1),
        (3, 10, 3), (3, 14, 5), (3, 15, 4),
        (4, 10, 5), (4, 13, 4), (4, 15, 2),
        (5, 10, 2), (5, 11, 3), (5, 14, 3),
        (6, 10, 1), (6, 11, 5), (6, 12, 4), (6, 16, 5), (2, 17, 3),
    ]  # fmt: skip
    u, i, r = (np.array(c) for c in zip(*rows))
    return Interactions.from_raw(u, i, r.astype(np.float32), np.arange(len(u)))


@pytest.fixture
def synthetic_split():
    from advrec.data.config import SyntheticConfig
    from advrec.data.synthetic import make_synthetic

    raw = make_synthetic(SyntheticConfig(n_users=80, n_items=120, interactions_per_user=20, seed=3))
    data = Interactions.from_raw(raw.users, raw.items, raw.ratings, raw.timestamps)
    return ratio_split(data, (0.8, 0.1, 0.1), np.random.default_rng(0))


@pytest.fixture
def rare_targets(synthetic_split) -> np.ndarray:
    """Two items of the synthetic split's TRAIN with exactly 2 interactions: targets with room to rise."""
    counts = np.bincount(synthetic_split.train.items, minlength=synthetic_split.train.n_items)
    return np.flatnonzero(counts == 2)[:2]


@pytest.fixture
def random_rows():
    """``(targets, n_fake, filler, n_items, seed) -> [targets + random filler per fake user]``: the
    random profiles of the same shape that a paper's attack must beat."""
    from advrec.attack.profiles import random_items

    def rows(targets, n_fake, filler, n_items, seed):
        fillers = random_items(n_fake, filler, n_items, targets, np.random.default_rng(seed))
        return [np.concatenate([targets, row]) for row in fillers]

    return rows


@pytest.fixture
def als_score_vs_random(random_rows):
    """``(profiles, targets, r, p, q, reg) -> (attack's score, best of 5 random profiles' score)``: the
    targets' mean score over the real users who lack them once the ALS surrogate (P, Q fitted on R) is
    refitted with the fake users; random profiles of the same shape from seeds 0-4."""
    import torch

    from advrec.attack.optimised import poisoned_scores
    from advrec.attack.pga import integrity_utility

    def compare(profiles, targets, r, p, q, reg):
        def score(rows) -> float:
            x = torch.zeros(len(rows), r.shape[1], dtype=r.dtype)
            for u, items in enumerate(rows):
                x[u, items] = 1.0
            return integrity_utility(poisoned_scores(r, x, p, q, reg), r, torch.from_numpy(targets)).item()

        rows = [profiles.items[profiles.users == u] for u in range(profiles.n_fake)]
        filler = len(rows[0]) - len(targets)
        randoms = [score(random_rows(targets, profiles.n_fake, filler, r.shape[1], k)) for k in range(5)]
        return score(rows), max(randoms)

    return compare
