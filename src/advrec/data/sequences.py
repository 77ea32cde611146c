"""Per-user item sequences for sequential recommenders, and the leave-one-out split given as files.

Order: within a user, by timestamp, ties (and data without timestamps) in row order. A split keeps its
rows in file order and ``leave_one_out_split`` breaks time ties by file order too, so the training
sequence read here is the prefix the split cut. RecBole's saved split (``loo_files``) lists each user's
train rows in sequence order with non-decreasing timestamps, which this order reproduces.

Item indices in padded arrays are shifted by one: 0 is padding, item ``i`` is ``i + 1``. Sequences are
left-padded, so a history's most recent item is always in the last column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from advrec.data.interactions import Interactions, RawInteractions
from advrec.data.split import Split
from advrec.errors import ConfigError, DataError, plain

PAD = 0


@dataclass(frozen=True)
class Sequences:
    """Every user's items in order, CSR-style: user ``u``'s are ``items[indptr[u]:indptr[u + 1]]``."""

    indptr: np.ndarray
    items: np.ndarray

    @property
    def n_users(self) -> int:
        return len(self.indptr) - 1

    def lengths(self) -> np.ndarray:
        return np.diff(self.indptr)

    def of(self, user: int) -> np.ndarray:
        return self.items[self.indptr[user] : self.indptr[user + 1]]


def user_sequences(data: Interactions) -> Sequences:
    """The time-ordered item sequence of every user of the catalogue (empty for users without rows)."""
    keys = np.arange(len(data)) if data.timestamps is None else data.timestamps
    order = np.lexsort((np.arange(len(data)), keys, data.users))
    counts = np.bincount(data.users, minlength=data.n_users)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return Sequences(indptr, data.items[order].astype(np.int64))


def append_targets(seqs: Sequences, extra: Interactions) -> Sequences:
    """Each user's sequence followed by that user's row of ``extra`` (train + valid = the test history)."""
    more = user_sequences(extra)
    lengths = seqs.lengths() + more.lengths()
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    items = np.empty(indptr[-1], dtype=np.int64)
    # positions of each sequence's own items and of the appended ones, without a loop over users
    own = np.repeat(indptr[:-1] - seqs.indptr[:-1], seqs.lengths()) + np.arange(len(seqs.items))
    items[own] = seqs.items
    mask = np.ones(len(items), dtype=bool)
    mask[own] = False
    items[mask] = more.items
    return Sequences(indptr, items)


def padded_histories(seqs: Sequences, max_len: int) -> np.ndarray:
    """[n_users, max_len]: each user's last ``max_len`` items shifted by one, left-padded with 0."""
    out = np.zeros((seqs.n_users, max_len), dtype=np.int64)
    lengths = seqs.lengths()
    take = np.minimum(lengths, max_len)
    rows = np.repeat(np.arange(seqs.n_users), take)
    # the j-th kept item of a user sits in column max_len - take + j
    within = np.arange(int(take.sum())) - np.repeat(np.cumsum(take) - take, take)
    cols = np.repeat(max_len - take, take) + within
    src = np.repeat(seqs.indptr[1:] - take, take) + within
    out[rows, cols] = seqs.items[src] + 1
    return out


def training_windows(
    seqs: Sequences, max_len: int, windows: str, span: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs and next-item targets ([n_windows, max_len] each, shifted by one, 0 = padding) and the
    user of each window.

    ``last``: one window per user with at least two items, the last ``max_len + 1`` items (Kang's).
    ``all``: windows every ``span`` items from the sequence's end (``span`` defaults to ``max_len``);
    each window's input is the ``max_len`` items before its last target and only its last ``span``
    positions are targets, so every item after a user's first is a target once, and with a short span
    each target sees at least ``max_len - span`` items before it (span 1: RecBole's prefixes).
    """
    if windows not in ("last", "all"):
        raise ValueError(f"windows must be 'last' or 'all', got {windows!r}")
    span = max_len if span is None or windows == "last" else span
    if not 1 <= span <= max_len:
        raise ValueError(f"span must be in 1..max_len ({max_len}), got {span}")
    lengths = seqs.lengths()
    n_targets = np.maximum(lengths - 1, 0)
    per_user = np.minimum(n_targets, 1) if windows == "last" else -(-n_targets // span)
    users = np.repeat(np.arange(seqs.n_users), per_user)
    # window w (0 = the last) of a user ends at end = length - w * span; column c holds the target at
    # sequence position end - max_len + c and, as input, the item before it. Targets: positions
    # [end - span, end); inputs: [end - max_len, end); both clipped at 1 (position 0 is never a target).
    w = np.arange(len(users)) - np.repeat(np.cumsum(per_user) - per_user, per_user)
    end = lengths[users] - w * span
    inputs = _columns(seqs, users, end, np.maximum(end - max_len, 1), max_len, shift=1)
    targets = _columns(seqs, users, end, np.maximum(end - span, 1), max_len, shift=0)
    return inputs, targets, users


def _columns(
    seqs: Sequences, users: np.ndarray, end: np.ndarray, start: np.ndarray, max_len: int, shift: int
) -> np.ndarray:
    """[n_windows, max_len]: column max_len - (end - t) holds item t - shift (shifted by one) for each
    sequence position t in [start, end) of the window's user; other columns 0."""
    out = np.zeros((len(users), max_len), dtype=np.int64)
    width = end - start
    rows = np.repeat(np.arange(len(users)), width)
    within = np.arange(int(width.sum())) - np.repeat(np.cumsum(width) - width, width)
    cols = np.repeat(max_len - width, width) + within
    pos = np.repeat(seqs.indptr[users] + start, width) + within
    out[rows, cols] = seqs.items[pos - shift] + 1
    return out


def check_leave_one_out(split: Split, where: str = "split.method") -> None:
    """A sequential model needs at most one valid and one test item per user (leave-one-out)."""
    for name, part in (("valid", split.valid), ("test", split.test)):
        counts = part.user_counts()
        if counts.max(initial=0) > 1:
            user = int(np.argmax(counts))
            raise ConfigError(
                f"{where}: sequential models predict the next item, so {name} needs at most one item per "
                f"user (a leave-one-out split: split.method loo or loo_files); user "
                f"{plain(part.user_map.raw[user])!r} has {int(counts[user])}"
            )


LOO_FILES = ("train.tsv", "valid.tsv", "test.tsv")


def load_loo_files(folder: str | Path) -> Split:
    """RecBole's saved leave-one-out split: ``train.tsv`` (each user's items in sequence order),
    ``valid.tsv`` and ``test.tsv`` (one row per user), tab-separated ``user item timestamp``, no header.
    Every valid/test user must have train items, and no user two valid or two test rows."""
    from advrec.data.io import read_table

    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(
            "data.path: split.method loo_files needs a folder holding " + ", ".join(LOO_FILES), path=folder
        )
    parts: list[RawInteractions] = []
    for name in LOO_FILES:
        path = folder / name
        if not path.exists():
            raise DataError(
                f"split.method loo_files: {name} missing (expected {', '.join(LOO_FILES)})", path=path
            )
        raw = read_table(path, columns={"user": 0, "item": 1, "timestamp": 2}, sep="\t", header=False)
        if len(raw) == 0:
            raise DataError("no rows; expected tab-separated 'user item timestamp' lines", path=path)
        parts.append(raw)
    train_users = set(parts[0].users.tolist())
    for name, raw in zip(LOO_FILES[1:], parts[1:]):
        seen: set = set()
        for line, user in enumerate(raw.users.tolist(), start=1):
            if user in seen:
                raise DataError(
                    f"user {user!r} has a second row; leave-one-out has one per user",
                    path=folder / name,
                    line=line,
                )
            if user not in train_users:
                raise DataError(
                    f"user {user!r} has no train.tsv rows (no history to predict from)",
                    path=folder / name,
                    line=line,
                )
            seen.add(user)
    return Split(*Interactions.encode_together(parts))
