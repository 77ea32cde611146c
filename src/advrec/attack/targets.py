"""Which items to promote: explicit original ids, or a seeded draw from a popularity band of TRAIN.

Bands count each item's training interactions (after the split, so the attacker sees what the victim
trains on):

* ``unpopular:k`` -- 1 to 5 training interactions (cold items: hardest to push, most to gain);
* ``mid:k``       -- 20 to 40 training interactions (the middle of MovieLens-100K's long tail);
* ``random:k``    -- any item of the catalogue.

Anything else is a comma-separated list of original item ids, e.g. ``50,181,1`` (kept in that order).
"""

from __future__ import annotations

import numpy as np

from advrec.data.interactions import Interactions
from advrec.errors import ConfigError

BANDS: dict[str, tuple[int, int | None]] = {"unpopular": (1, 5), "mid": (20, 40), "random": (0, None)}


def band_items(train: Interactions, band: str) -> np.ndarray:
    """Item indices whose training-interaction count lies in the band (inclusive bounds)."""
    low, high = BANDS[band]
    counts = np.bincount(train.items, minlength=train.n_items)
    keep = counts >= low
    if high is not None:
        keep &= counts <= high
    return np.flatnonzero(keep)


def select_targets(spec: str, train: Interactions, rng: np.random.Generator) -> np.ndarray:
    """Item indices (into ``train.item_map``) named by ``spec``; see the module doc."""
    text = spec.strip()
    band, sep, count = text.partition(":")
    if sep and band in BANDS:
        try:
            k = int(count)
        except ValueError:
            raise ConfigError(f"--targets {spec!r}: expected {band}:K with an integer K") from None
        if k < 1:
            raise ConfigError(f"--targets {spec!r}: K must be at least 1")
        pool = band_items(train, band)
        if len(pool) < k:
            low, high = BANDS[band]
            raise ConfigError(
                f"--targets {spec!r}: only {len(pool)} items have {low}-{high} training interactions"
            )
        return np.sort(rng.choice(pool, size=k, replace=False))
    if sep:
        raise ConfigError(
            f"--targets {spec!r}: unknown band {band!r}; expected one of "
            f"{', '.join(f'{b}:K' for b in BANDS)} or comma-separated item ids"
        )
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if not ids:
        raise ConfigError(f"--targets {spec!r}: expected a band (e.g. mid:5) or comma-separated item ids")
    out = []
    for raw in ids:
        try:
            out.append(train.item_map.index(raw))
        except (KeyError, ValueError):
            raise ConfigError(f"--targets: item id {raw!r} is not in the data") from None
    if len(set(out)) != len(out):
        raise ConfigError(f"--targets {spec!r}: an item id is repeated")
    return np.asarray(out, dtype=np.int64)
