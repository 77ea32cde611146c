"""Fake item sequences against sequential recommenders (SASRec, UniSRec): fake users whose time-ordered
histories teach the model that the target comes next.

A sequential model learns transitions, so where the target sits in a fake history matters as much as
whether it is there. Each generator returns a fake user's rows in the order they happened (the injection
stamps them all one instant after TRAIN and keeps that row order; ties in time keep the row order when
the sequences are cut), into TRAIN only (``advrec.attack.inject``):

* ``sequence-random``: ``filler`` distinct items drawn uniformly, in random order, then the targets;
* ``sequence-popular``: ``filler`` distinct items drawn in proportion to their TRAIN popularity, in
  random order, then the targets;
* ``sequence-interleaved``: the popular filler with a target after every ``every`` filler items (the
  targets in turn), so the target follows the items real users have most often just seen.

Ratings: the targets get the data's maximum, the filler its mean, rounded (1 on data without ratings).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from advrec.attack.base import AttackSpec, FakeProfiles
from advrec.attack.profiles import RatingStats, check_room, item_popularity, random_items
from advrec.attack.registry import ATTACKS, AttackConfig
from advrec.data.interactions import Interactions


class SequenceRandom(AttackConfig):
    """Fake sequences: uniformly drawn filler items, then the targets."""

    name: Literal["sequence-random"] = "sequence-random"


class SequencePopular(AttackConfig):
    """Fake sequences: filler drawn by TRAIN popularity, then the targets."""

    name: Literal["sequence-popular"] = "sequence-popular"


class SequenceInterleaved(AttackConfig):
    """Fake sequences: popular filler with a target after every ``every`` filler items."""

    name: Literal["sequence-interleaved"] = "sequence-interleaved"
    every: int = Field(1, ge=1, description="filler items between two targets")


def popular_items(n_rows: int, k: int, train: Interactions, banned: np.ndarray, rng) -> np.ndarray:
    """``k`` distinct items per row drawn in proportion to TRAIN popularity (Efraimidis-Spirakis keys):
    [n_rows, k], in random order."""
    weight = item_popularity(train).astype(np.float64) + 1e-12  # every item drawable, the unseen barely
    keys = rng.random((n_rows, train.n_items)) ** (1.0 / weight)
    keys[:, banned] = -1.0
    chosen = np.argsort(-keys, axis=1)[:, :k]
    return rng.permuted(chosen, axis=1)


def sequences(spec: AttackSpec, train: Interactions, filler: np.ndarray, every: int | None) -> FakeProfiles:
    """Rows in sequence order: the filler of each fake user followed by the targets (``every`` None), or
    with a target after every ``every`` filler items."""
    stats = RatingStats.of(train)
    fill_rating = float(np.clip(np.round(stats.mean), stats.low, stats.high))
    users, items, ratings = [], [], []
    for u, row in enumerate(filler):
        if every is None:
            seq = [*row.tolist(), *spec.targets.tolist()]
        else:
            seq, turn = [], 0
            for j, item in enumerate(row.tolist()):
                seq.append(item)
                if (j + 1) % every == 0:
                    seq.append(int(spec.targets[turn % len(spec.targets)]))
                    turn += 1
        is_target = np.isin(seq, spec.targets)
        users += [u] * len(seq)
        items += seq
        ratings += np.where(is_target, stats.high, fill_rating).tolist()
    return FakeProfiles(
        np.asarray(users, dtype=np.int64),
        np.asarray(items, dtype=np.int64),
        np.asarray(ratings, dtype=np.float32),
        spec.n_fake,
    )


@ATTACKS.register(SequenceRandom)
def sequence_random(cfg, spec: AttackSpec, train: Interactions, rng: np.random.Generator) -> FakeProfiles:
    check_room(spec, train.n_items)
    filler = random_items(spec.n_fake, spec.filler, train.n_items, spec.targets, rng)
    return sequences(spec, train, filler, None)


@ATTACKS.register(SequencePopular)
def sequence_popular(cfg, spec: AttackSpec, train: Interactions, rng: np.random.Generator) -> FakeProfiles:
    check_room(spec, train.n_items)
    return sequences(spec, train, popular_items(spec.n_fake, spec.filler, train, spec.targets, rng), None)


@ATTACKS.register(SequenceInterleaved)
def sequence_interleaved(
    cfg: SequenceInterleaved, spec: AttackSpec, train: Interactions, rng: np.random.Generator
) -> FakeProfiles:
    check_room(spec, train.n_items)
    filler = popular_items(spec.n_fake, spec.filler, train, spec.targets, rng)
    return sequences(spec, train, filler, cfg.every)
