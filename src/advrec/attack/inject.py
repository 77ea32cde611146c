"""Injection: fake users appended to the TRAIN split only, with new original-id-like user ids.

Fake users get ids after every real id: ``max + 1, max + 2, ...`` for integer ids, ``~fake000001, ...``
for string ids ('~' sorts after digits and letters), so the dense indices of real users do not move
and fake users take the indices after them. Their items are existing items; valid and test are
returned untouched, so fake users are never evaluated and never leak into them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from advrec.attack.profiles import FakeProfiles
from advrec.data.interactions import Interactions, RawInteractions
from advrec.data.split import Split, load_saved_split, save_split
from advrec.runs.fingerprint import write_fingerprint
from advrec.utils.files import atomic_write_text

FAKE_USERS_FILE = "fake_users.txt"


def fake_user_ids(real_ids: np.ndarray, n_fake: int) -> np.ndarray:
    if real_ids.dtype.kind in "iu":
        start = int(real_ids.max()) + 1 if len(real_ids) else 1
        return np.arange(start, start + n_fake, dtype=np.int64)
    return np.asarray([f"~fake{i:06d}" for i in range(1, n_fake + 1)])


def _raw(part: Interactions, source: str) -> RawInteractions:
    return RawInteractions(
        part.user_map.raw[part.users], part.item_map.raw[part.items], part.ratings, part.timestamps, source
    )


def inject(split: Split, profiles: FakeProfiles) -> tuple[Split, np.ndarray]:
    """The poisoned split (train + fake rows; valid, test as given) and the fake users' original ids."""
    train = split.train
    if len(profiles) and (profiles.items.min() < 0 or profiles.items.max() >= train.n_items):
        raise ValueError("fake profiles reference an item outside the catalogue")
    ids = fake_user_ids(train.user_map.raw, profiles.n_fake)
    ratings = None if train.ratings is None else profiles.ratings.astype(np.float32)
    stamps = None
    if train.timestamps is not None:  # one instant after the last real interaction
        last = int(train.timestamps.max()) if len(train) else 0
        stamps = np.full(len(profiles), last + 1, dtype=np.int64)
    fake = RawInteractions(ids[profiles.users], train.item_map.raw[profiles.items], ratings, stamps, "<fake>")
    parts = [_raw(train, "train"), _raw(split.valid, "valid"), _raw(split.test, "test")]
    merged = RawInteractions(
        np.concatenate([parts[0].users, fake.users]),
        np.concatenate([parts[0].items, fake.items]),
        None if ratings is None else np.concatenate([train.ratings, ratings]),
        None if stamps is None else np.concatenate([train.timestamps, stamps]),
        "train+fake",
    )
    poisoned = Split(*Interactions.encode_together([merged, parts[1], parts[2]]))
    return poisoned, ids


def write_poisoned_split(folder: str | Path, split: Split, fake_ids: np.ndarray) -> None:
    """``train.tsv`` (with the fake rows), ``valid.tsv``, ``test.tsv`` and ``fake_users.txt`` (one
    original id a line): a run folder whose ``split/`` this is retrains on exactly this data."""
    folder = Path(folder)
    atomic_write_text(folder / FAKE_USERS_FILE, "".join(f"{u}\n" for u in fake_ids.tolist()))
    save_split(split, folder)
    # written last, the fingerprint marks a complete folder, which a run then trains on as given
    write_fingerprint(folder, given={"poisoned": f"{len(fake_ids)} fake users"})


def read_fake_users(folder: str | Path) -> list[str]:
    return (Path(folder) / FAKE_USERS_FILE).read_text(encoding="utf-8").split()


def load_poisoned_split(folder: str | Path) -> Split:
    return load_saved_split(folder)
