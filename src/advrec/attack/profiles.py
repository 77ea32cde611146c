"""Fake user profiles and the classic shilling generators (random, average, bandwagon, segment).

A profile is (selected items I_S, filler items I_F, targets I_T) with ratings, as in the shilling
literature (Lam & Riedl 2004; Mobasher et al. 2007): targets always get the maximum rating; the
``filler`` count is |I_F| per profile; selected items exist only in bandwagon and segment. Ratings are
on the data's own scale (its observed min and max); on data without ratings every rating is 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from advrec.attack.base import AttackSpec, FakeProfiles
from advrec.attack.registry import ATTACKS, AttackConfig
from advrec.data.interactions import Interactions


@dataclass(frozen=True)
class RatingStats:
    """The data's rating scale and the global and per-item rating statistics of TRAIN."""

    low: float
    high: float
    mean: float
    std: float
    item_mean: np.ndarray
    item_std: np.ndarray

    @classmethod
    def of(cls, train: Interactions) -> RatingStats:
        if train.ratings is None or len(train) == 0:
            ones = np.ones(train.n_items)
            return cls(1.0, 1.0, 1.0, 0.0, ones, np.zeros(train.n_items))
        r = train.ratings.astype(np.float64)
        n = np.bincount(train.items, minlength=train.n_items)
        s = np.bincount(train.items, r, minlength=train.n_items)
        s2 = np.bincount(train.items, r * r, minlength=train.n_items)
        mean, std = float(r.mean()), float(r.std())
        with np.errstate(invalid="ignore", divide="ignore"):
            item_mean = np.where(n > 0, s / n, mean)
            item_var = np.where(n > 1, s2 / n - item_mean**2, std**2)
        return cls(float(r.min()), float(r.max()), mean, std, item_mean, np.sqrt(np.maximum(item_var, 0)))

    def draw(self, mean: np.ndarray | float, std: np.ndarray | float, rng: np.random.Generator, n: int):
        """Normal draws rounded to the scale's integers and clipped to it."""
        values = rng.normal(mean, std, size=n)
        return np.clip(np.round(values), self.low, self.high).astype(np.float32)


Generator = Callable[[AttackSpec, Interactions, np.random.Generator], FakeProfiles]


def item_popularity(train: Interactions) -> np.ndarray:
    return np.bincount(train.items, minlength=train.n_items)


def random_items(
    n_rows: int, k: int, n_items: int, banned: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """``k`` distinct items per row, uniformly from the items not banned: [n_rows, k]."""
    keys = rng.random((n_rows, n_items))
    keys[:, banned] = np.inf
    return np.argsort(keys, axis=1)[:, :k]


def assemble(
    spec: AttackSpec,
    stats: RatingStats,
    parts: list[tuple[np.ndarray, np.ndarray]],
) -> FakeProfiles:
    """Profiles from blocks of (items [n_fake, m], ratings [n_fake, m]) plus the max-rated targets."""
    n = spec.n_fake
    t = len(spec.targets)
    blocks = [(np.tile(spec.targets, (n, 1)), np.full((n, t), stats.high, dtype=np.float32)), *parts]
    items = np.concatenate([b[0] for b in blocks], axis=1)
    ratings = np.concatenate([b[1] for b in blocks], axis=1).astype(np.float32)
    users = np.repeat(np.arange(n), items.shape[1])
    return FakeProfiles(users, items.reshape(-1).astype(np.int64), ratings.reshape(-1), n)


def check_room(spec: AttackSpec, n_items: int, n_selected: int = 0) -> None:
    from advrec.errors import ConfigError

    need = len(spec.targets) + n_selected + spec.filler
    if need > n_items:
        raise ConfigError(
            f"--filler {spec.filler}: targets + selected + filler = {need} items per profile, "
            f"but the data has only {n_items} items"
        )


def random_attack(spec: AttackSpec, train: Interactions, rng: np.random.Generator) -> FakeProfiles:
    """Filler uniform over the catalogue, rated ~ N(global mean, global std)."""
    check_room(spec, train.n_items)
    stats = RatingStats.of(train)
    filler = random_items(spec.n_fake, spec.filler, train.n_items, spec.targets, rng)
    ratings = stats.draw(stats.mean, stats.std, rng, filler.size).reshape(filler.shape)
    return assemble(spec, stats, [(filler, ratings)])


def average_attack(spec: AttackSpec, train: Interactions, rng: np.random.Generator) -> FakeProfiles:
    """Filler uniform over the catalogue, each item rated ~ N(its mean, its std) in TRAIN."""
    check_room(spec, train.n_items)
    stats = RatingStats.of(train)
    filler = random_items(spec.n_fake, spec.filler, train.n_items, spec.targets, rng)
    flat = filler.reshape(-1)
    ratings = stats.draw(stats.item_mean[flat], stats.item_std[flat], rng, flat.size).reshape(filler.shape)
    return assemble(spec, stats, [(filler, ratings)])


def _with_selected(
    spec: AttackSpec, train: Interactions, rng: np.random.Generator, selected: np.ndarray, filler_low: bool
) -> FakeProfiles:
    stats = RatingStats.of(train)
    n = spec.n_fake
    sel = np.tile(selected, (n, 1))
    sel_r = np.full(sel.shape, stats.high, dtype=np.float32)
    banned = np.concatenate([spec.targets, selected])
    filler = random_items(n, spec.filler, train.n_items, banned, rng)
    if filler_low:
        fill_r = np.full(filler.shape, stats.low, dtype=np.float32)
    else:
        fill_r = stats.draw(stats.mean, stats.std, rng, filler.size).reshape(filler.shape)
    return assemble(spec, stats, [(sel, sel_r), (filler, fill_r)])


def bandwagon_attack(spec: AttackSpec, train: Interactions, rng: np.random.Generator) -> FakeProfiles:
    """Selected = the ``n_selected`` most popular items of TRAIN, max-rated; filler as the random attack."""
    check_room(spec, train.n_items, spec.n_selected)
    pop = item_popularity(train).astype(np.float64)
    pop[spec.targets] = -1
    selected = np.argsort(-pop, kind="stable")[: spec.n_selected]
    return _with_selected(spec, train, rng, selected, filler_low=False)


def segment_attack(spec: AttackSpec, train: Interactions, rng: np.random.Generator) -> FakeProfiles:
    """Selected = the ``n_selected`` items most co-rated with the targets (the users who like the
    targets' segment), max-rated; filler rated the scale's minimum (segment users dislike the rest).

    Co-rating: the number of training users who have both the item and a target (summed over targets);
    cold targets with no co-rated items fall back to popularity, which ranks the ties.
    """
    check_room(spec, train.n_items, spec.n_selected)
    mat = train.csr()
    have_target = np.asarray(mat[:, spec.targets].sum(axis=1)).reshape(-1)
    co = np.asarray(mat.T @ have_target).reshape(-1).astype(np.float64)
    pop = item_popularity(train).astype(np.float64)
    key = co + pop / (pop.max() + 1.0)  # popularity only breaks ties
    key[spec.targets] = -1
    selected = np.argsort(-key, kind="stable")[: spec.n_selected]
    return _with_selected(spec, train, rng, selected, filler_low=True)


class RandomAttack(AttackConfig):
    """Filler uniform over the catalogue, rated ~ N(global mean, global std); targets max-rated."""

    name: Literal["random"] = "random"


class AverageAttack(AttackConfig):
    """Filler uniform over the catalogue, each item rated ~ N(its mean, its std) in TRAIN."""

    name: Literal["average"] = "average"


class BandwagonAttack(AttackConfig):
    """The budget's ``n_selected`` most popular items max-rated, filler as the random attack."""

    name: Literal["bandwagon"] = "bandwagon"


class SegmentAttack(AttackConfig):
    """The budget's ``n_selected`` items most co-rated with the targets max-rated, filler rated the
    scale's minimum."""

    name: Literal["segment"] = "segment"


ATTACKS.register(RandomAttack)(lambda cfg, spec, train, rng: random_attack(spec, train, rng))
ATTACKS.register(AverageAttack)(lambda cfg, spec, train, rng: average_attack(spec, train, rng))
ATTACKS.register(BandwagonAttack)(lambda cfg, spec, train, rng: bandwagon_attack(spec, train, rng))
ATTACKS.register(SegmentAttack)(lambda cfg, spec, train, rng: segment_attack(spec, train, rng))
