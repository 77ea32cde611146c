"""Validated user-item interactions with id maps both ways (raw id <-> dense index)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class IdMap:
    """Dense index -> raw id (``raw[i]``) and raw id -> dense index (``index(raw_id)``).

    Raw ids keep their type: int64 when every id in the file was an integer, str otherwise.
    """

    raw: np.ndarray
    _lookup: dict = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.raw)

    def index(self, raw_id) -> int:
        if not self._lookup:
            self._lookup.update({self._key(r): i for i, r in enumerate(self.raw.tolist())})
        return self._lookup[self._key(raw_id)]

    def _key(self, raw_id):
        return int(raw_id) if self.raw.dtype.kind in "iu" else str(raw_id)

    @classmethod
    def encode(cls, raw_ids: np.ndarray) -> tuple[IdMap, np.ndarray]:
        """Sorted unique raw ids and the dense index of each element of ``raw_ids``."""
        uniques, codes = np.unique(raw_ids, return_inverse=True)
        return cls(uniques), codes.astype(np.int64).reshape(-1)


@dataclass(frozen=True)
class RawInteractions:
    """What a loader read from one file, ids still raw; ``source`` names the file for errors."""

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray | None = None
    timestamps: np.ndarray | None = None
    source: str = "<memory>"

    def __len__(self) -> int:
        return len(self.users)


@dataclass(frozen=True)
class Interactions:
    """Parallel arrays of (user, item[, rating][, timestamp]) as dense indices.

    All interaction sets of one dataset (and its train/valid/test parts) share the same maps, so
    ``n_users``/``n_items`` are the catalogue sizes, not the counts seen in this subset.
    """

    users: np.ndarray
    items: np.ndarray
    user_map: IdMap
    item_map: IdMap
    ratings: np.ndarray | None = None
    timestamps: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.users)
        for name in ("items", "ratings", "timestamps"):
            arr = getattr(self, name)
            if arr is not None and len(arr) != n:
                raise ValueError(f"Interactions.{name} has length {len(arr)}, expected {n}")

    @property
    def n_users(self) -> int:
        return len(self.user_map)

    @property
    def n_items(self) -> int:
        return len(self.item_map)

    def __len__(self) -> int:
        return len(self.users)

    @classmethod
    def from_raw(
        cls,
        users_raw: np.ndarray,
        items_raw: np.ndarray,
        ratings: np.ndarray | None = None,
        timestamps: np.ndarray | None = None,
    ) -> Interactions:
        user_map, users = IdMap.encode(np.asarray(users_raw))
        item_map, items = IdMap.encode(np.asarray(items_raw))
        return cls(
            users=users,
            items=items,
            user_map=user_map,
            item_map=item_map,
            ratings=None if ratings is None else np.asarray(ratings, dtype=np.float32),
            timestamps=None if timestamps is None else np.asarray(timestamps, dtype=np.int64),
        )

    @classmethod
    def encode_together(cls, parts: list[RawInteractions]) -> list[Interactions]:
        """Encode several raw files (e.g. train/valid/test) with one shared pair of id maps."""
        if not parts:
            raise ValueError("encode_together needs at least one part")
        both = lambda name: [getattr(p, name) for p in parts]  # noqa: E731
        ratings = None if any(r is None for r in both("ratings")) else np.concatenate(both("ratings"))
        stamps = None if any(t is None for t in both("timestamps")) else np.concatenate(both("timestamps"))
        whole = cls.from_raw(np.concatenate(both("users")), np.concatenate(both("items")), ratings, stamps)
        bounds = np.cumsum([0] + [len(p) for p in parts])
        return [whole.select(np.arange(a, b)) for a, b in zip(bounds[:-1], bounds[1:])]

    def select(self, rows: np.ndarray) -> Interactions:
        """The subset given by a boolean mask or an index array; maps are kept."""
        return Interactions(
            users=self.users[rows],
            items=self.items[rows],
            user_map=self.user_map,
            item_map=self.item_map,
            ratings=None if self.ratings is None else self.ratings[rows],
            timestamps=None if self.timestamps is None else self.timestamps[rows],
        )

    def csr(self) -> sp.csr_matrix:
        """Binary user x item matrix (duplicates collapse to 1)."""
        data = np.ones(len(self), dtype=np.float32)
        mat = sp.csr_matrix((data, (self.users, self.items)), shape=(self.n_users, self.n_items))
        mat.sum_duplicates()
        mat.data[:] = 1.0
        return mat

    def user_counts(self) -> np.ndarray:
        return np.bincount(self.users, minlength=self.n_users)
