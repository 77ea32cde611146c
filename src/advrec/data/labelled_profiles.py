"""Labelled profile sets: a ``user item rating`` file plus a ``user label`` file (1 = fake, 0 = genuine).

The format is SDLib's (``../shared/data/shilling-sdlib-averageattack``): whitespace-separated fields, ids
are any token without blanks (kept as strings, so ``007`` and ``7`` are different users), ratings are finite
positive numbers. Ratings must be positive because the profile matrix stores 0 as "unrated". With
``implicit=True`` every rating becomes 1 and a line may hold just ``user item``.

Files are parsed line by line (0.15 s for the 45k lines of the FilmTrust set): the point of this reader
is an exact error naming the file and line, and labelled sets are small. Bytes go through
:mod:`advrec.data.io`'s helpers, so a missing file, an empty file, a BOM or CRLF line ends behave as
everywhere else in advrec.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from advrec.data.io import normalise_text, read_bytes
from advrec.errors import DataError


@dataclass(frozen=True)
class LabelledProfiles:
    """Users × items rating matrix (CSR, float64, 0 = unrated) with one label per user (row)."""

    matrix: sp.csr_matrix
    labels: np.ndarray  # int8, 1 = fake, 0 = genuine
    user_ids: np.ndarray  # str, row order (first appearance in the ratings file)
    item_ids: np.ndarray  # str, column order (first appearance)
    implicit: bool = False

    @property
    def n_users(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_items(self) -> int:
        return self.matrix.shape[1]


def _lines(path: Path) -> list[tuple[int, str]]:
    """(1-based line number, text) of every non-blank line, or a DataError for undecodable bytes."""
    data = normalise_text(read_bytes(path))
    out = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if b"\x00" in raw:
            raise DataError("NUL byte; is this a binary file?", path=path, line=number)
        if b"\r" in raw:
            raise DataError("stray carriage return (\\r)", path=path, line=number)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(
                f"bytes are not valid UTF-8 text (column {exc.start + 1})", path=path, line=number
            ) from None
        if text.strip():
            out.append((number, text))
    if not out:
        raise DataError("file has only blank lines", path=path)
    return out


def read_profile_ratings(
    path: str | Path, implicit: bool = False
) -> tuple[list[str], list[str], np.ndarray, list[int]]:
    """Users, items, ratings and line numbers of a ``user item rating`` file."""
    path = Path(path)
    users: list[str] = []
    items: list[str] = []
    ratings: list[float] = []
    numbers: list[int] = []
    expected = "'user item' or 'user item rating'" if implicit else "'user item rating'"
    for number, text in _lines(path):
        fields = text.split()
        if len(fields) != 3 and not (implicit and len(fields) == 2):
            raise DataError(
                f"expected {expected} (whitespace-separated), got {len(fields)} field(s)",
                path=path,
                line=number,
            )
        if implicit:
            value = 1.0
        else:
            try:
                value = float(fields[2])
            except ValueError:
                raise DataError(f"rating {fields[2]!r} is not a number", path=path, line=number) from None
            if not math.isfinite(value) or value <= 0:
                raise DataError(
                    f"rating {fields[2]!r} must be a finite number > 0 (0 means unrated); "
                    "use implicit=True / --implicit for 0/1 data",
                    path=path,
                    line=number,
                )
        users.append(fields[0])
        items.append(fields[1])
        ratings.append(value)
        numbers.append(number)
    return users, items, np.asarray(ratings, dtype=np.float64), numbers


def read_profile_labels(path: str | Path) -> dict[str, tuple[int, int]]:
    """user id -> (label, line number) of a ``user label`` file; labels are 0 or 1, each user once."""
    path = Path(path)
    labels: dict[str, tuple[int, int]] = {}
    for number, text in _lines(path):
        fields = text.split()
        if len(fields) != 2:
            raise DataError(
                f"expected 'user label' (whitespace-separated), got {len(fields)} field(s)",
                path=path,
                line=number,
            )
        user, value = fields
        if value not in ("0", "1"):
            raise DataError(f"label {value!r} must be 0 (genuine) or 1 (fake)", path=path, line=number)
        if user in labels:
            raise DataError(
                f"user {user!r} is labelled twice (first on line {labels[user][1]})", path=path, line=number
            )
        labels[user] = (int(value), number)
    return labels


def load_labelled_profiles(
    ratings_path: str | Path, labels_path: str | Path, implicit: bool = False
) -> LabelledProfiles:
    """Read both files and check they agree: every rated user labelled, every labelled user rated,
    no (user, item) pair twice. Rows follow the users' first appearance in the ratings file."""
    ratings_path, labels_path = Path(ratings_path), Path(labels_path)
    users, items, values, numbers = read_profile_ratings(ratings_path, implicit)
    labels = read_profile_labels(labels_path)
    user_codes, user_ids = pd.factorize(np.asarray(users, dtype=object))
    item_codes, item_ids = pd.factorize(np.asarray(items, dtype=object))
    pair = user_codes.astype(np.int64) * len(item_ids) + item_codes
    _, first = np.unique(pair, return_index=True)
    if len(first) < len(pair):
        is_first = np.zeros(len(pair), dtype=bool)
        is_first[first] = True
        row = int(np.flatnonzero(~is_first)[0])  # the earliest line that repeats a pair
        earlier = int(np.flatnonzero(pair == pair[row])[0])
        raise DataError(
            f"user {users[row]!r} rates item {items[row]!r} twice (first on line {numbers[earlier]})",
            path=ratings_path,
            line=numbers[row],
        )
    rated = set(user_ids.tolist())
    for user, (_, number) in labels.items():
        if user not in rated:
            raise DataError(
                f"user {user!r} has a label but no rating in {ratings_path}", path=labels_path, line=number
            )
    user_labels = np.empty(len(user_ids), dtype=np.int8)
    for row, user in enumerate(user_ids.tolist()):
        if user not in labels:
            first_line = numbers[int(np.argmax(user_codes == row))]
            raise DataError(
                f"user {user!r} has ratings but no label in {labels_path}", path=ratings_path, line=first_line
            )
        user_labels[row] = labels[user][0]
    matrix = sp.csr_matrix(
        (values, (user_codes, item_codes)), shape=(len(user_ids), len(item_ids)), dtype=np.float64
    )
    matrix.sort_indices()
    return LabelledProfiles(
        matrix=matrix,
        labels=user_labels,
        user_ids=np.asarray(user_ids, dtype=str),
        item_ids=np.asarray(item_ids, dtype=str),
        implicit=implicit,
    )
