"""A seeded synthetic implicit-feedback dataset: the embedded default for the demo and the tests.

Users and items get latent factors; each user picks items with probability proportional to
``popularity_j * exp(<u, v_j> / temperature)`` (Gumbel top-k, so no Python loop per user), where item
popularity follows a power law. Profile lengths are geometric-like around the configured mean. The
result has the structure recommenders exploit (taste + popularity) and a long tail, like real data.
"""

from __future__ import annotations

import numpy as np

from advrec.data.config import SyntheticConfig
from advrec.data.interactions import RawInteractions
from advrec.errors import ConfigError

MIN_PROFILE = 3  # interactions of the shortest synthetic profile


def make_synthetic(config: SyntheticConfig | None = None) -> RawInteractions:
    cfg = config or SyntheticConfig()
    if cfg.interactions_per_user < MIN_PROFILE:  # lengths are MIN_PROFILE plus an exponential excess
        raise ConfigError(
            f"data.synthetic.interactions_per_user: every synthetic profile has at least {MIN_PROFILE} "
            f"interactions, so the mean must be at least {MIN_PROFILE}; got {cfg.interactions_per_user}"
        )
    rng = np.random.default_rng(cfg.seed)
    users = rng.normal(size=(cfg.n_users, cfg.dim)) / np.sqrt(cfg.dim)
    items = rng.normal(size=(cfg.n_items, cfg.dim))
    log_pop = -cfg.popularity_exponent * np.log1p(rng.permutation(cfg.n_items))
    logits = users @ items.T / cfg.temperature + log_pop
    gumbel = -np.log(-np.log(rng.uniform(1e-12, 1.0, size=logits.shape)))
    order = np.argsort(-(logits + gumbel), axis=1)
    max_len = max(MIN_PROFILE, cfg.n_items // 2)
    excess = rng.exponential(cfg.interactions_per_user - MIN_PROFILE, size=cfg.n_users)
    lengths = np.clip(excess + MIN_PROFILE, MIN_PROFILE, max_len)
    lengths = lengths.astype(np.int64)
    taken = np.arange(cfg.n_items)[None, :] < lengths[:, None]
    user_idx, rank = np.nonzero(taken)
    item_idx = order[user_idx, rank]
    affinity = logits[user_idx, item_idx]
    ratings = 1 + np.searchsorted(np.quantile(affinity, [0.1, 0.3, 0.6, 0.85]), affinity)
    # Each user's choices arrive over time in preference order plus noise, starting at a random day.
    start = rng.integers(880_000_000, 890_000_000, size=cfg.n_users)
    stamps = start[user_idx] + rank * 3600 + rng.integers(0, 3600, size=len(rank))
    return RawInteractions(
        users=user_idx.astype(np.int64) + 1,
        items=item_idx.astype(np.int64) + 1,
        ratings=ratings.astype(np.float32),
        timestamps=stamps.astype(np.int64),
        source=f"<synthetic seed={cfg.seed}>",
    )
