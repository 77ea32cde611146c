"""A template attack aimed at the users a target can most cheaply reach: each fake user copies the
profile of a real *light* user (few training interactions), is topped up with the items light users
like, and adds the targets.

Why light users. In a BPR-MF victim a target's embedding is pulled toward the users who have it (the
fakes among them) and pushed away from the users who sample it as a negative, most often the heavy
users, who draw most of the negatives; a light user's top-k list is the blockbusters it has not seen,
a bar that a target pulled toward light users' taste can clear. Measured on ML-100K with the MF-BPR
victim (docs/notes/2026-11-poisoning-attacks.md, tuning seeds 2025-2029, mid targets): after the
ALS-gradient attack
most new hits are light users; fakes cloned from the 28 heaviest users *lower* target exposure, cloned
from light users they raise it more than the gradient attack; filler drawn by popularity among light
users lifts Hit@50 about 6x, by popularity among all users 2.6x, among heavy users 1.3x.

Template profiles as in AUSH / Leg-UP (real users as templates), so the fakes also look like real
users: each fake takes up to ``filler`` items of one template (a distinct light user, drawn at random
from the users whose profile length is at most the ``quantile`` of lengths); a shorter template is
topped up with items drawn in proportion to their popularity among the light users. Ratings: targets
max, template items the template's own rating, topped-up items ~ N(item mean, item std).

``template-surrogate`` chooses the templates instead of drawing them: every light user's profile (built as
above) is scored alone by the optimised attack's exposure loss in its ALS surrogate (the real users'
scores after refitting with that one fake added; ``advrec.attack.optimised``), and the ``n_fake`` best
are kept. The surrogate is trained on the data, not on the victim.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field

from advrec.attack.optimised import OptimisedSettings, exposure_loss, fit_als, poisoned_scores
from advrec.attack.profiles import AttackSpec, FakeProfiles, RatingStats, assemble, check_room
from advrec.attack.registry import ATTACKS, AttackConfig
from advrec.data.interactions import Interactions
from advrec.errors import ConfigError


class TemplateSettings(AttackConfig):
    """Real light users' profiles copied, topped up with the items light users like, plus the targets."""

    name: Literal["template"] = "template"
    quantile: float = Field(
        0.25, description="templates: users whose profile length is at most this quantile"
    )
    choose: Literal["random", "surrogate"] = Field(
        "random", description="'random' templates, or the 'surrogate''s best (see the module doc)"
    )
    balance: bool = Field(
        False, description="surrogate: the best templates for each target in turn, not for all at once"
    )


def light_users(train: Interactions, quantile: float) -> np.ndarray:
    """Indices of the users whose training-profile length is at most the ``quantile`` of lengths."""
    if not 0 < quantile <= 1:
        raise ConfigError(f"template quantile {quantile}: expected a share in (0, 1]")
    lengths = np.diff(train.csr().indptr)
    active = lengths > 0
    return np.flatnonzero(active & (lengths <= np.quantile(lengths[active], quantile)))


def _rating_rows(train: Interactions, mat: sp.csr_matrix) -> np.ndarray:
    """The rating of each entry of ``mat`` (``train.csr()`` in canonical form), in ``mat.data`` order
    (a repeated pair: its mean rating); all ones without ratings."""
    if train.ratings is None:
        return np.ones(len(mat.data), dtype=np.float32)
    pairs = (train.users, train.items)
    sums = sp.csr_matrix((train.ratings.astype(np.float64), pairs), shape=mat.shape)
    counts = sp.csr_matrix((np.ones(len(train)), pairs), shape=mat.shape)
    sums.sum_duplicates()  # canonical: sorted indices, one entry per pair, as mat
    counts.sum_duplicates()
    return (sums.data / counts.data).astype(np.float32)


def template_attack(
    spec: AttackSpec,
    train: Interactions,
    rng: np.random.Generator,
    settings: TemplateSettings | None = None,
) -> FakeProfiles:
    s = settings or TemplateSettings()
    check_room(spec, train.n_items)
    mat = train.csr()  # canonical: sorted indices, one entry per pair
    pool = light_users(train, s.quantile)
    if s.choose == "random":
        # more fakes than templates: templates repeat (each round of the pool is a fresh permutation)
        rounds = -(-spec.n_fake // len(pool))
        templates = np.concatenate([rng.permutation(pool) for _ in range(rounds)])[: spec.n_fake]
    else:
        templates = pool
    light_pop = np.bincount(mat[pool].indices, minlength=train.n_items).astype(np.float64) + 1e-3
    light_pop[spec.targets] = 0.0
    stats = RatingStats.of(train)
    ratings_of = _rating_rows(train, mat)
    items = np.empty((len(templates), spec.filler), dtype=np.int64)
    ratings = np.empty((len(templates), spec.filler), dtype=np.float32)
    for row, user in enumerate(templates):
        lo, hi = mat.indptr[user], mat.indptr[user + 1]
        own, own_r = mat.indices[lo:hi], ratings_of[lo:hi]
        keep = ~np.isin(own, spec.targets)
        own, own_r = own[keep], own_r[keep]
        take = rng.permutation(len(own))[: spec.filler]
        chosen, chosen_r = own[take], own_r[take]
        missing = spec.filler - len(chosen)
        if missing > 0:
            weights = light_pop.copy()
            weights[chosen] = 0.0
            extra = rng.choice(train.n_items, size=missing, replace=False, p=weights / weights.sum())
            extra_r = stats.draw(stats.item_mean[extra], stats.item_std[extra], rng, missing)
            chosen, chosen_r = np.concatenate([chosen, extra]), np.concatenate([chosen_r, extra_r])
        items[row], ratings[row] = chosen, np.clip(chosen_r, stats.low, stats.high)
    if s.choose == "surrogate":
        best = _surrogate_best(spec, train, items, rng, s.balance)
        items, ratings = items[best], ratings[best]
    return assemble(spec, stats, [(items, ratings)])


def _surrogate_best(
    spec: AttackSpec, train: Interactions, items: np.ndarray, rng: np.random.Generator, balance: bool = False
):
    """Rows of ``items`` (one candidate profile each, targets added) whose fake alone most lowers the ALS
    surrogate's exposure loss; the ``n_fake`` best, in order (templates repeat if there are fewer).
    ``balance``: the loss of each target on its own, and the best remaining candidate of each target in
    turn (a target whose audience differs from the others' still gets fakes that look like it)."""
    o = OptimisedSettings()
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    r = torch.from_numpy(train.csr().toarray().astype(np.float64))
    p, q = fit_als(r, o.dim, o.reg, o.als_iters, gen)
    targets = torch.from_numpy(spec.targets)
    groups = [targets[i : i + 1] for i in range(len(targets))] if balance else [targets]
    losses = np.empty((len(groups), len(items)))
    for row, profile in enumerate(items):
        x = torch.zeros(1, train.n_items, dtype=r.dtype)
        x[0, torch.from_numpy(profile)] = 1.0
        x[0, targets] = 1.0
        scores = poisoned_scores(r, x, p, q, o.reg, o.unroll)
        for g, group in enumerate(groups):
            losses[g, row] = float(exposure_loss(scores, r, group, o.k, o.loss, o.temperature))
    orders = [iter(np.argsort(row_losses, kind="stable")) for row_losses in losses]
    limit = min(spec.n_fake, len(items))
    chosen: list[int] = []
    while len(chosen) < limit:
        for order in orders:  # round robin over the targets, skipping templates already taken
            chosen.append(int(next(c for c in order if c not in chosen)))
            if len(chosen) == limit:
                break
    return np.resize(np.array(chosen), spec.n_fake)


class TemplateSurrogateSettings(TemplateSettings):
    """``template`` with the templates chosen by the ALS surrogate's exposure loss (all targets at once)."""

    name: Literal["template-surrogate"] = "template-surrogate"  # type: ignore[assignment]
    choose: Literal["random", "surrogate"] = Field(
        "surrogate", description="the templates: chosen by the ALS surrogate's exposure loss"
    )


class TemplateBalancedSettings(TemplateSettings):
    """``template`` with the surrogate's best templates for each target in turn."""

    name: Literal["template-balanced"] = "template-balanced"  # type: ignore[assignment]
    choose: Literal["random", "surrogate"] = Field(
        "surrogate", description="the templates: chosen by the ALS surrogate's exposure loss"
    )
    balance: bool = Field(True, description="the best templates for each target in turn")


for _settings in (TemplateSettings, TemplateSurrogateSettings, TemplateBalancedSettings):
    ATTACKS.register(_settings)(lambda cfg, spec, train, rng: template_attack(spec, train, rng, cfg))
