"""PGA: projected gradient ascent on the fake users' ratings through a matrix-factorisation surrogate
(Li, Wang, Singh & Vorobeychik, "Data Poisoning Attacks on Factorization-Based Collaborative Filtering",
NeurIPS 2016; the integrity attack on the alternating-minimisation learner).

The attacker knows the learner: an MF fitted by alternating minimisation (ridge regressions of user and
item factors in turn). Its variables are the fake users' ratings M̃ [n_fake, n_items], kept in a box (the
rating scale; here [0, 1] for implicit feedback). Its utility is the paper's integrity utility, the sum
of the target items' predicted scores over the real users (here: the mean over real users who lack each
target, so the utility does not grow with the users who already have it). Each step

1. differentiates the utility with respect to M̃ through the learner's response to M̃ -- the fake users'
   factors solved on the fitted item factors, the item factors refitted on [R; M̃], the real users'
   factors refitted on those (the first-order conditions of the alternating minimisation at the fitted
   point, the paper's KKT-based gradient; ``unroll`` > 1 repeats the alternation);
2. steps along the gradient, normalised per fake user (``step`` is the largest change of any rating in
   one step), and projects back onto the box, the targets held at the maximum.

After ``steps`` steps each fake user keeps the ``filler`` items with the largest values of M̃ (the
discrete profile of the budget) and rates them by those values on the data's scale.

Departures, and why:

* The learner is fitted to the whole 0/1 matrix (absent entries are zeros), as on implicit feedback;
  the paper fits the observed explicit ratings only, which on implicit data (every observed value 1)
  has no signal.
* ARLib's version differentiates through a graph adjacency (so it cannot run on an MF surrogate), and
  its projection keeps ``int(filler_share * n_items)`` items, which is 0 for its default budget: its fake
  users hold the targets only. Here the projection keeps exactly the budget's ``filler`` items.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field

from advrec.attack.base import AttackSpec, FakeProfiles
from advrec.attack.optimised import fit_als, poisoned_scores
from advrec.attack.profiles import RatingStats, assemble, check_room, random_items
from advrec.attack.registry import ATTACKS, AttackConfig
from advrec.data.interactions import Interactions


class PgaSettings(AttackConfig):
    """Projected gradient ascent on fake ratings through an alternating-minimisation MF (Li et al. 2016)."""

    name: Literal["pga"] = "pga"
    dim: int = Field(64, ge=1, description="the MF surrogate's factors")
    reg: float = Field(10.0, gt=0, description="λ of the surrogate's ridge regressions (users and items)")
    als_iters: int = Field(15, ge=1, description="alternations fitting the surrogate on the clean data")
    steps: int = Field(30, ge=1, description="projected gradient ascent steps on the fake ratings")
    step: float = Field(0.2, gt=0, description="largest change of one fake rating in one step (box [0, 1])")
    unroll: int = Field(1, ge=1, description="alternations of the learner's response differentiated through")
    init: Literal["random", "uniform"] = Field(
        "random",
        description="start: 'random' a random attack's profiles (filler items 1), 'uniform' every "
        "rating filler/n_items",
    )


def integrity_utility(scores: torch.Tensor, r: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean predicted score of each target over the real users who lack it, averaged over targets."""
    eligible = (r[:, targets] == 0).to(scores.dtype)
    per_target = (scores[:, targets] * eligible).sum(0) / eligible.sum(0).clamp_min(1)
    return per_target.mean()


def pga_ratings(spec: AttackSpec, r: torch.Tensor, s: PgaSettings, rng: np.random.Generator) -> torch.Tensor:
    """The relaxed fake ratings M̃ [n_fake, n_items] in [0, 1] after ``s.steps`` projected ascent steps."""
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    p, q = fit_als(r, s.dim, s.reg, s.als_iters, gen)
    targets = torch.from_numpy(spec.targets)
    n_items = r.shape[1]
    if s.init == "random":
        x = torch.zeros(spec.n_fake, n_items, dtype=r.dtype)
        start = random_items(spec.n_fake, spec.filler, n_items, spec.targets, rng)
        x[torch.arange(spec.n_fake)[:, None], torch.from_numpy(start)] = 1.0
    else:
        x = torch.full((spec.n_fake, n_items), spec.filler / n_items, dtype=r.dtype)
    x[:, targets] = 1.0
    for _ in range(s.steps):
        x.requires_grad_(True)
        utility = integrity_utility(poisoned_scores(r, x, p, q, s.reg, s.unroll), r, targets)
        (grad,) = torch.autograd.grad(utility, x)
        scale = grad.abs().amax(dim=1, keepdim=True).clamp_min(1e-12)
        with torch.no_grad():
            x = (x + s.step * grad / scale).clamp(0.0, 1.0)
            x[:, targets] = 1.0
    return x.detach()


def project_to_budget(x: np.ndarray, filler: int, targets: np.ndarray) -> np.ndarray:
    """Each row's ``filler`` largest entries outside the targets (ties: the lower item index)."""
    keyed = x.astype(np.float64).copy()
    keyed[:, targets] = -np.inf
    return np.argsort(-keyed, axis=1, kind="stable")[:, :filler]


def pga_attack(
    spec: AttackSpec, train: Interactions, rng: np.random.Generator, settings: PgaSettings | None = None
) -> FakeProfiles:
    s = settings or PgaSettings()
    check_room(spec, train.n_items)
    r = torch.from_numpy(train.csr().toarray().astype(np.float64))
    x = pga_ratings(spec, r, s, rng).numpy()
    filler = project_to_budget(x, spec.filler, spec.targets)
    stats = RatingStats.of(train)
    values = np.take_along_axis(x, filler, axis=1)
    ratings = np.clip(np.round(stats.low + values * (stats.high - stats.low)), stats.low, stats.high)
    return assemble(spec, stats, [(filler, ratings.astype(np.float32))])


ATTACKS.register(PgaSettings)(lambda cfg, spec, train, rng: pga_attack(spec, train, rng, cfg))
