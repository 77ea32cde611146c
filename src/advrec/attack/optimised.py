"""An optimisation-based attack: fake users' items chosen by the gradient of target exposure in a
surrogate recommender trained on the clean data (the spirit of PGA, Li et al. 2016; DL-Attack and
RevAdv, Huang et al. 2021 / Tang et al. 2020).

Surrogate: matrix factorisation fitted by alternating least squares on the binary training matrix R
(real users). ALS makes the attacker's bi-level problem cheap and exactly differentiable: given the
fake users' relaxed interaction rows X (values in [0, 1]),

1. the fake users' factors are the ridge solution  P_f = X Q (QᵀQ + λI)⁻¹;
2. the item factors are refitted on [R; X]:       Q' = [R; X]ᵀ [P; P_f] ([P; P_f]ᵀ[P; P_f] + λI)⁻¹;
3. the real users' factors are refitted on Q':     P' = R Q' (Q'ᵀQ' + λI)⁻¹,

i.e. one step of the victim's retraining on the poisoned data, unrolled. The attack loss asks each
real user who lacks a target to score it above the user's current 50th-best candidate (a smooth
log-sigmoid margin). Each round takes the gradient of that loss with respect to X and gives every fake
user the ``filler`` items whose gradient promises the largest gain (projected gradient in the discrete
set of profiles of that size); the best round's profiles are kept. Ratings: targets max, filler items
~ N(item mean, item std) as in the average attack, so the profiles look like ordinary ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from advrec.attack.profiles import AttackSpec, FakeProfiles, RatingStats, assemble, check_room, random_items
from advrec.attack.registry import ATTACKS, AttackConfig
from advrec.data.interactions import Interactions


class OptimisedSettings(AttackConfig):
    """Each fake user's items chosen by the gradient of the targets' top-k exposure through one unrolled
    ALS refit of a surrogate MF."""

    name: Literal["optimised"] = "optimised"
    dim: int = Field(64, description="the ALS surrogate's factors")
    reg: float = Field(10.0, description="λ of the ridge solves")
    als_iters: int = Field(15, description="ALS iterations fitting the surrogate")
    rounds: int = Field(8, description="rounds of choosing each fake user's items by the gradient")
    k: int = Field(50, description="the exposure the loss aims at: top-k of each real user")
    explore: float = Field(
        0.0, description="share of each profile's filler drawn from the next-best items (diversity)"
    )
    loss: Literal["sigmoid", "logsigmoid"] = Field(
        "sigmoid", description="'sigmoid': a smooth hit count; 'logsigmoid': a smooth mean margin"
    )
    temperature: float = Field(
        0.2, description="margin scale in units of the score spread (0.05-0.35 tried: 0.2 best)"
    )
    unroll: int = Field(
        1, description="alternations of the retraining unrolled (each: fake users, items, real users)"
    )


def _ridge(a: torch.Tensor, basis: torch.Tensor, reg: float) -> torch.Tensor:
    """a @ basis @ (basisᵀ basis + reg I)⁻¹: least-squares factors of the rows of ``a``."""
    gram = basis.T @ basis + reg * torch.eye(basis.shape[1], dtype=basis.dtype)
    return torch.linalg.solve(gram, (a @ basis).T).T


def fit_als(r: torch.Tensor, dim: int, reg: float, iters: int, gen: torch.Generator):
    """P, Q with R ≈ P Qᵀ by alternating ridge regressions (deterministic given ``gen``)."""
    q = torch.randn(r.shape[1], dim, generator=gen, dtype=r.dtype) * 0.1
    p = _ridge(r, q, reg)
    for _ in range(iters):
        q = _ridge(r.T, p, reg)
        p = _ridge(r, q, reg)
    return p, q


def poisoned_scores(
    r: torch.Tensor, x: torch.Tensor, p: torch.Tensor, q: torch.Tensor, reg: float, unroll: int = 1
):
    """Real users' scores after ``unroll`` ALS refits on [R; X] (see the module doc)."""
    for _ in range(unroll):
        p_fake = _ridge(x, q, reg)
        q = _ridge(torch.cat([r, x]).T, torch.cat([p, p_fake]), reg)
        p = _ridge(r, q, reg)
    return p @ q.T


def exposure_loss(
    scores: torch.Tensor,
    r: torch.Tensor,
    targets: torch.Tensor,
    k: int,
    kind: str = "sigmoid",
    temperature: float = 0.2,
) -> torch.Tensor:
    """Mean over (real user without the target, target) of -log σ((s_ut - s_u,(k)) / τ), with s_u,(k)
    the user's k-th best candidate score (held fixed) and τ the score spread (scale-free margin)."""
    cand = scores.detach().masked_fill(r > 0, float("-inf"))
    kth = torch.topk(cand, min(k, cand.shape[1]), dim=1).values[:, -1:]  # k > catalogue: the last one
    tau = temperature * scores.detach().std().clamp_min(1e-8)
    margin = (scores[:, targets] - kth) / tau
    eligible = r[:, targets] == 0
    # sigmoid: the gradient sits on users near their top-k boundary, the ones a push can flip into a
    # hit; logsigmoid weighs every user's margin (a mean-rank objective that moves few into the top-k)
    gain = torch.sigmoid(margin) if kind == "sigmoid" else torch.nn.functional.logsigmoid(margin)
    return -(gain * eligible).sum() / eligible.sum().clamp_min(1)


def optimised_attack(
    spec: AttackSpec,
    train: Interactions,
    rng: np.random.Generator,
    settings: OptimisedSettings | None = None,
) -> FakeProfiles:
    s = settings or OptimisedSettings()
    check_room(spec, train.n_items)
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    r = torch.from_numpy(train.csr().toarray().astype(np.float64))
    p, q = fit_als(r, s.dim, s.reg, s.als_iters, gen)
    targets = torch.from_numpy(spec.targets)

    def loss_of(x: torch.Tensor) -> torch.Tensor:
        scores = poisoned_scores(r, x, p, q, s.reg, s.unroll)
        return exposure_loss(scores, r, targets, s.k, s.loss, s.temperature)

    fillers = search_fillers(spec, train.n_items, loss_of, s.rounds, s.explore, rng, r.dtype)
    return with_average_ratings(spec, train, fillers, rng)


def search_fillers(
    spec: AttackSpec,
    n_items: int,
    loss_of: Callable[[torch.Tensor], torch.Tensor],
    rounds: int,
    explore: float,
    rng: np.random.Generator,
    dtype: torch.dtype,
) -> np.ndarray:
    """Projected gradient in the discrete set of profiles: from a random attack, each round scores the
    fake users' relaxed rows X (fillers and targets 1) with ``loss_of`` and gives every fake user the
    ``spec.filler`` items whose gradient promises the largest gain; returns the best round's fillers."""
    targets = torch.from_numpy(spec.targets)
    n = spec.n_fake
    filler = random_items(n, spec.filler, n_items, spec.targets, rng)  # the start: a random attack
    best_filler, best_loss = filler, float("inf")
    for round_ in range(rounds + 1):  # the last round only scores the last pick
        x = torch.zeros(n, n_items, dtype=dtype)
        x[torch.arange(n)[:, None], torch.from_numpy(filler)] = 1.0
        x[:, targets] = 1.0
        x.requires_grad_(True)
        loss = loss_of(x)
        (grad,) = torch.autograd.grad(loss, x)
        if loss.item() < best_loss:
            best_loss, best_filler = loss.item(), filler
        if round_ == rounds:
            break
        gain = -grad.numpy().astype(np.float64)
        gain[:, spec.targets] = -np.inf
        filler = _pick(gain, spec.filler, explore, rng)
    return best_filler


def with_average_ratings(
    spec: AttackSpec, train: Interactions, fillers: np.ndarray, rng: np.random.Generator
) -> FakeProfiles:
    """The profiles with filler ratings ~ N(item mean, item std), as the average attack rates them."""
    stats = RatingStats.of(train)
    flat = fillers.reshape(-1)
    ratings = stats.draw(stats.item_mean[flat], stats.item_std[flat], rng, flat.size).reshape(fillers.shape)
    return assemble(spec, stats, [(fillers, ratings)])


def _pick(gain: np.ndarray, m: int, explore: float, rng: np.random.Generator) -> np.ndarray:
    """Each row's m highest-gain items; with ``explore`` > 0 that share is drawn at random from the
    next 2m best, so fake users differ (identical profiles are trivial to detect)."""
    order = np.argsort(-gain, axis=1, kind="stable")
    n_explore = int(round(explore * m))
    if n_explore == 0:
        return order[:, :m]
    keep = order[:, : m - n_explore]
    pool = order[:, m - n_explore : m + 2 * m]
    pick = np.argsort(rng.random(pool.shape), axis=1)[:, :n_explore]
    return np.concatenate([keep, np.take_along_axis(pool, pick, axis=1)], axis=1)


ATTACKS.register(OptimisedSettings)(lambda cfg, spec, train, rng: optimised_attack(spec, train, rng, cfg))
