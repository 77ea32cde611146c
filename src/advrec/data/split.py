"""Train/valid/test splits: seeded, pure (inputs are never modified) and persisted with each run.

Every strategy is vectorised: per-user operations use a stable sort by (user, key) and the rank of
each interaction within its user, never a Python loop over users.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from advrec.data.interactions import Interactions, RawInteractions
from advrec.errors import DataError, plain, warn


@dataclass(frozen=True)
class Split:
    train: Interactions
    valid: Interactions
    test: Interactions

    def parts(self) -> dict[str, Interactions]:
        return {"train": self.train, "valid": self.valid, "test": self.test}


def _rank_within_user(users: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order (by user, then key), each row's 0-based rank inside its user, and its user's size."""
    order = np.lexsort((keys, users))
    sorted_users = users[order]
    counts = np.bincount(users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(users)) - starts[sorted_users]
    return order, rank, counts[sorted_users]


def _assign(data: Interactions, order: np.ndarray, part: np.ndarray) -> Split:
    label = np.empty(len(data), dtype=np.int8)
    label[order] = part
    return Split(*(data.select(np.flatnonzero(label == p)) for p in range(3)))


def ratio_split(data: Interactions, ratios: tuple[float, float, float], rng: np.random.Generator) -> Split:
    """Per-user random split: each user's interactions are shuffled and cut at the ratios.

    A user keeps at least one training interaction; cut points are rounded, so a user with 10
    interactions at 0.8/0.1/0.1 gets exactly 8/1/1.
    """
    order, rank, size = _rank_within_user(data.users, rng.random(len(data)))
    cut_train = np.maximum(1, np.round(size * ratios[0]))
    cut_valid = np.maximum(cut_train, np.round(size * (ratios[0] + ratios[1])))
    part = np.where(rank < cut_train, 0, np.where(rank < cut_valid, 1, 2))
    return _assign(data, order, part)


def leave_one_out_split(data: Interactions) -> Split:
    """Per user by time: the last interaction is test, the second-to-last valid, the rest train.

    Ties in time keep file order. Users with fewer than 3 interactions stay entirely in train.
    """
    if data.timestamps is None:
        raise DataError("leave-one-out split needs timestamps, but the data has none")
    keys = data.timestamps.astype(np.float64) + np.arange(len(data)) / (len(data) + 1)
    order, rank, size = _rank_within_user(data.users, keys)
    from_end = size - rank
    part = np.where(size < 3, 0, np.where(from_end == 1, 2, np.where(from_end == 2, 1, 0)))
    return _assign(data, order, part)


def temporal_split(data: Interactions, ratios: tuple[float, float, float]) -> Split:
    """Global temporal split: the earliest share of all interactions trains, the latest tests."""
    if data.timestamps is None:
        raise DataError("temporal split needs timestamps, but the data has none")
    order = np.argsort(data.timestamps, kind="stable")
    n = len(data)
    cut_train = int(round(n * ratios[0]))
    cut_valid = int(round(n * (ratios[0] + ratios[1])))
    rank = np.arange(n)
    part = np.where(rank < cut_train, 0, np.where(rank < cut_valid, 1, 2))
    return _assign(data, order, part)


def given_split(
    train: Interactions,
    test: Interactions,
    valid: Interactions | None,
    valid_ratio_of_train: float,
    rng: np.random.Generator,
) -> Split:
    """A given train/test pair; without a valid file, valid is carved per user out of train."""
    if valid is not None:
        return Split(train, valid, test)
    carved = ratio_split(train, (1.0 - valid_ratio_of_train, valid_ratio_of_train, 0.0), rng)
    return Split(carved.train, carved.valid, test)


def check_split(split: Split, sources: dict[str, str] | None = None, repeats_allowed: bool = False) -> None:
    """Refuse a split whose test (or valid) pairs are also training pairs, and say aloud when test users
    have no training interactions.

    The protocol never ranks a user's training items (nor, at test, their valid items), so a test pair
    that is also a training pair can never be hit: a silent zero. With ``repeats_allowed`` (duplicates:
    keep_all, repeat consumption) such pairs are expected, and only said. ``sources`` names the file
    each part came from (a given split), for the message.
    """
    sources = sources or {}
    n_items = split.train.n_items
    train = _pair_keys(split.train, n_items)
    for name, part, seen in (
        ("test", split.test, np.union1d(train, _pair_keys(split.valid, n_items))),
        ("valid", split.valid, train),
    ):
        keys = _pair_keys(part, n_items)
        shared = np.isin(keys, seen)
        if not shared.any():
            continue
        row = int(np.flatnonzero(shared)[0])
        user, item = plain(part.user_map.raw[part.users[row]]), plain(part.item_map.raw[part.items[row]])
        where = "train" if name == "valid" else "train or valid"
        message = (
            f"{int(shared.sum())} of {len(part)} {sources.get(name, name)} interactions are also in "
            f"{where} (e.g. user {user}, item {item}); the protocol never ranks a user's {where} items, "
            "so they could never be hit"
        )
        if not repeats_allowed:
            raise DataError(f"{message}; remove them from one of the files")
        warn(message + " (data.duplicates keep_all: repeats expected)")
    in_train = np.zeros(split.train.n_users, dtype=bool)
    in_train[split.train.users] = True
    cold = np.unique(split.test.users[~in_train[split.test.users]])
    if len(cold):
        first = plain(split.test.user_map.raw[cold[0]])
        warn(
            f"{len(cold)} of {len(np.unique(split.test.users))} test users (e.g. user {first}) have no "
            "training interactions: they are scored from embeddings training never updated"
        )


def _pair_keys(part: Interactions, n_items: int) -> np.ndarray:
    return part.users.astype(np.int64) * n_items + part.items.astype(np.int64)


COLUMNS = ("user", "item", "rating", "timestamp")


def save_split(split: Split, folder: str | Path) -> None:
    """Write train/valid/test as TSV with the original ids, readable by any library.

    Reading the three files back with :func:`load_saved_split` reproduces the split exactly.
    """
    from advrec.utils.files import atomic_write_text

    folder = Path(folder)
    for name, part in split.parts().items():
        cols = [part.user_map.raw[part.users], part.item_map.raw[part.items]]
        header = ["user", "item"]
        if part.ratings is not None:
            cols.append(part.ratings)
            header.append("rating")
        if part.timestamps is not None:
            cols.append(part.timestamps)
            header.append("timestamp")
        lines = ["\t".join(header)]
        lines += ["\t".join(_fmt(v) for v in row) for row in zip(*(c.tolist() for c in cols))]
        atomic_write_text(folder / f"{name}.tsv", "\n".join(lines) + "\n")


def _fmt(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def load_saved_split(folder: str | Path) -> Split:
    from advrec.data.io import read_table

    folder = Path(folder)
    parts: list[RawInteractions] = []
    for name in ("train", "valid", "test"):
        path = folder / f"{name}.tsv"
        try:
            with open(path, encoding="utf-8") as fh:
                header = fh.readline().rstrip("\n").split("\t")
        except FileNotFoundError:
            raise DataError(
                "missing from the split folder (an interrupted or damaged run)", path=path
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read the saved split: {exc}", path=path) from None
        parts.append(read_table(path, columns={c: c for c in header}, sep="\t", header=True))
    return Split(*Interactions.encode_together(parts))
