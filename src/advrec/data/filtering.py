"""Pure filters on :class:`RawInteractions`: rating threshold, duplicate policy, k-core.

They work on *raw* interactions, before ids are encoded, on purpose: encoding builds the catalogue
(``n_users``/``n_items``) from whatever is left, so filtering first means users and items that a filter
removed do not linger in the id maps as empty rows/columns. Each function returns a new
``RawInteractions`` (same ``source``), keeps the file order of the rows it keeps, and never changes
its input. Everything is vectorised with numpy.

The usual order is ``apply_rating_threshold`` -> ``drop_duplicates`` -> ``k_core``: thresholding can
remove the later copy of a duplicate, and k-core counts rows, so duplicates must be gone before it.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from advrec.data.interactions import RawInteractions
from advrec.errors import ConfigError, DataError

DUPLICATE_POLICIES = ("keep_last", "keep_first", "error", "keep_all")


def apply_rating_threshold(raw: RawInteractions, threshold: float | None) -> RawInteractions:
    """Keep the interactions rated ``>= threshold`` (the usual explicit -> implicit conversion).

    ``threshold=None`` keeps everything. A threshold on a file without ratings is a DataError naming
    the file: silently keeping every row would make "ratings >= 4" experiments quietly wrong.
    """
    if threshold is None:
        return raw
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise ConfigError(f"rating threshold must be a finite number, got {threshold!r}")
    if raw.ratings is None:
        raise DataError(
            f"a rating threshold ({threshold}) was given but the file has no ratings", path=raw.source
        )
    return _take(raw, np.flatnonzero(raw.ratings >= threshold))


def drop_duplicates(raw: RawInteractions, policy: str = "keep_last") -> RawInteractions:
    """Resolve repeated (user, item) pairs according to ``policy``:

    * ``"keep_last"`` (default): keep the latest copy by timestamp; ties, or a file without
      timestamps, keep the copy that comes last in the file. This is the most recent opinion.
    * ``"keep_first"``: the mirror image: earliest timestamp, ties (or no timestamps) the first copy.
    * ``"error"``: a DataError naming the pair and the positions (1-based, in file order) of its first
      repeat and of the copy it repeats. (Positions are interaction numbers, which equal line numbers
      for one-interaction-per-line files without blank lines; ``RawInteractions`` keeps no line numbers.)
    * ``"keep_all"``: keep every copy (e.g. repeat-consumption data).

    The kept rows stay in file order.
    """
    if policy not in DUPLICATE_POLICIES:
        raise ConfigError(
            f"unknown duplicate policy {policy!r}; expected one of {', '.join(DUPLICATE_POLICIES)}"
        )
    if policy == "keep_all" or len(raw) == 0:
        return raw
    pairs = _pair_codes(raw)
    if policy == "error":
        _raise_on_first_duplicate(raw, pairs)
        return raw
    rows = np.arange(len(raw))
    stamps = raw.timestamps if raw.timestamps is not None else np.zeros(len(raw), dtype=np.int64)
    order = np.lexsort((rows, stamps, pairs))  # by pair, then time, then file position
    sorted_pairs = pairs[order]
    if policy == "keep_last":
        pick = np.append(sorted_pairs[1:] != sorted_pairs[:-1], True)  # last of each pair group
    else:
        pick = np.insert(sorted_pairs[1:] != sorted_pairs[:-1], 0, True)  # first of each pair group
    return _take(raw, np.sort(order[pick]))


def k_core(raw: RawInteractions, k: int) -> RawInteractions:
    """The k-core: repeatedly drop users and items with fewer than ``k`` interactions until none is left.

    One removal round can push others below ``k`` (dropping a user lowers its items' counts), hence
    the loop; each round is a couple of ``bincount`` calls over the surviving rows. Counts are rows,
    so run :func:`drop_duplicates` first if a repeated pair should count once. ``k <= 1`` is a no-op.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ConfigError(f"k-core k must be a non-negative integer, got {k!r}")
    if k <= 1 or len(raw) == 0:
        return raw
    users, items = _codes(raw.users), _codes(raw.items)
    keep = np.ones(len(raw), dtype=bool)
    while True:
        user_counts = np.bincount(users[keep], minlength=users.max() + 1)
        item_counts = np.bincount(items[keep], minlength=items.max() + 1)
        still = keep & (user_counts[users] >= k) & (item_counts[items] >= k)
        if np.array_equal(still, keep):
            return _take(raw, np.flatnonzero(keep))
        keep = still


def _pair_codes(raw: RawInteractions) -> np.ndarray:
    """One int64 per row that is equal exactly when the (user, item) pairs are equal."""
    users = _codes(raw.users)
    items = _codes(raw.items)
    return users * (int(items.max()) + 1) + items


def _codes(ids: np.ndarray) -> np.ndarray:
    """Dense int64 codes 0..n-1 of raw ids (int or str), so pairs and counts need no dict."""
    return np.unique(ids, return_inverse=True)[1].reshape(-1).astype(np.int64)


def _raise_on_first_duplicate(raw: RawInteractions, pairs: np.ndarray) -> None:
    _, first_seen = np.unique(pairs, return_index=True)
    is_repeat = np.ones(len(pairs), dtype=bool)
    is_repeat[first_seen] = False
    if not is_repeat.any():
        return
    row = int(np.flatnonzero(is_repeat)[0])
    original = int(np.flatnonzero(pairs == pairs[row])[0])
    raise DataError(
        f"duplicate interaction (user {raw.users[row]!s}, item {raw.items[row]!s}): interaction "
        f"#{row + 1} repeats #{original + 1} (counted in file order); choose a duplicate policy "
        f"other than 'error' to resolve it",
        path=raw.source,
    )


def _take(raw: RawInteractions, rows: np.ndarray) -> RawInteractions:
    """The rows ``rows`` of every array, same source."""
    return replace(
        raw,
        users=raw.users[rows],
        items=raw.items[rows],
        ratings=None if raw.ratings is None else raw.ratings[rows],
        timestamps=None if raw.timestamps is None else raw.timestamps[rows],
    )
