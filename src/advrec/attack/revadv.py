"""RevAdv: fake data learned by bi-level optimisation, the gradient taken through the surrogate's unrolled
training (Tang, Wen & Wang, "Revisiting Adversarially Learned Injection Attacks in Recommender Systems",
RecSys 2020).

Inner problem: a weighted MF surrogate (WMF: squared error over the whole 0/1 matrix, positives weighted
``weight``) trained from scratch on [R; X] by Adam (``epochs`` epochs of user mini-batches, L2 weight decay),
where X [n_fake, n_items] is the fake users' data. The last ``unroll`` epochs are differentiated through
(Adam's update written out), so the trained surrogate's predictions are a function of X.

Outer problem: the adversarial loss, the multinomial cross-entropy of the targets in each real user's
softmax over the surrogate's predictions (the paper's surrogate of "target in the top-k"), summed over
real users. Each outer epoch takes its gradient with respect to X, normalises it per fake user (L2),
takes an SGD step with momentum on X and projects X back onto valid profiles; the outer epoch whose
profiles give the surrogate the highest target Hit@k is kept (ties: the lower adversarial loss). The
surrogate starts from the same seeded initialisation every epoch. X starts from copies of real users
with at most ``max_template`` items.

Defaults are the paper's code's best setting (WMF trained by Adam: dim 128, lr 0.01, weight
decay 1e-5, positive weight 20, 50 epochs, 10 unrolled; outer: 30 epochs, lr 1.0, momentum 0.95).

Departure, and why: the paper projects X by a threshold (entries above 0.05 become 1), so a fake user's
profile length is whatever the threshold leaves. Here each fake user keeps the budget's ``filler`` items
with the largest values of X plus the targets (the targets are always in the profile), so the attack is
compared with the others at the same budget.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field

from advrec.attack.base import AttackSpec, FakeProfiles
from advrec.attack.optimised import with_average_ratings
from advrec.attack.pga import project_to_budget
from advrec.attack.profiles import check_room
from advrec.attack.registry import ATTACKS, AttackConfig
from advrec.data.interactions import Interactions


class RevAdvSettings(AttackConfig):
    """Fake data by gradient through the unrolled training of a WMF surrogate (Tang et al. 2020)."""

    name: Literal["revadv"] = "revadv"
    dim: int = Field(128, ge=1, description="the WMF surrogate's factors")
    epochs: int = Field(50, ge=1, description="surrogate training epochs (from scratch each outer epoch)")
    unroll: int = Field(10, ge=1, description="last surrogate epochs differentiated through")
    lr: float = Field(0.01, gt=0, description="the surrogate's Adam learning rate")
    weight_decay: float = Field(1e-5, ge=0, description="the surrogate's Adam weight decay")
    weight: float = Field(20.0, gt=0, description="WMF weight of a positive entry (zeros weigh 1)")
    batch: int = Field(2048, ge=1, description="users per surrogate mini-batch")
    init_std: float = Field(0.1, gt=0, description="std of the surrogate's initial factors")
    outer_epochs: int = Field(30, ge=1, description="outer (fake data) epochs")
    outer_lr: float = Field(1.0, gt=0, description="SGD learning rate of the fake data")
    momentum: float = Field(0.95, ge=0, lt=1, description="SGD momentum of the fake data")
    max_template: int = Field(
        100, ge=1, description="start: copies of real users with at most this many items"
    )
    k: int = Field(50, ge=1, description="the Hit@k of the surrogate that picks the best outer epoch")


def _adam_step(param, grad, m, v, t, s: RevAdvSettings):
    """One Adam step (torch's, with L2 weight decay) written out, so it can be differentiated through."""
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    grad = grad + s.weight_decay * param
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad * grad
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    # clamp: sqrt's derivative at 0 is infinite (a row no batch touched has v = 0)
    return param - s.lr * m_hat / (v_hat.clamp_min(1e-30).sqrt() + eps), m, v


def train_wmf(
    data: torch.Tensor, s: RevAdvSettings, seed: int, differentiable: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """P, Q of a WMF trained on ``data`` [users, items] from a fixed seed; the last ``s.unroll`` epochs
    keep the graph when ``differentiable`` (the data's gradient flows through them)."""
    gen = torch.Generator().manual_seed(seed)
    n_users, n_items = data.shape
    p = torch.randn(n_users, s.dim, generator=gen, dtype=data.dtype) * s.init_std
    q = torch.randn(n_items, s.dim, generator=gen, dtype=data.dtype) * s.init_std
    state = [torch.zeros_like(p), torch.zeros_like(p), torch.zeros_like(q), torch.zeros_like(q)]
    t = 0
    for epoch in range(s.epochs):
        unrolled = differentiable and epoch >= s.epochs - s.unroll
        order = torch.randperm(n_users, generator=gen)
        for start in range(0, n_users, s.batch):
            rows = order[start : start + s.batch]
            if not unrolled:  # plain training: each step starts from fresh leaves
                p, q = p.detach().requires_grad_(True), q.detach().requires_grad_(True)
                state = [x.detach() for x in state]
            elif not p.requires_grad:  # the first unrolled step: the graph starts here
                p, q = p.requires_grad_(True), q.requires_grad_(True)
            batch = data[rows] if unrolled else data[rows].detach()
            weights = torch.where(batch.detach() > 0, s.weight, 1.0)  # a mask: no gradient of its own
            loss = (weights * (batch - p[rows] @ q.T) ** 2).sum()
            gp, gq = torch.autograd.grad(loss, (p, q), create_graph=unrolled)
            t += 1
            p, state[0], state[1] = _adam_step(p, gp, state[0], state[1], t, s)
            q, state[2], state[3] = _adam_step(q, gq, state[2], state[3], t, s)
    if not differentiable:
        p, q = p.detach(), q.detach()
    return p, q


def adversarial_loss(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Σ over users of the mean over targets of -log softmax(scores_u)[target]."""
    return -torch.log_softmax(scores, dim=1)[:, targets].mean(1).sum()


def target_hit(scores: torch.Tensor, r: torch.Tensor, targets: torch.Tensor, k: int) -> float:
    """Target Hit@k over real users who lack each target, averaged over targets (rated items excluded)."""
    masked = scores.masked_fill(r > 0, float("-inf"))
    kth = torch.topk(masked, min(k, masked.shape[1]), dim=1).values[:, -1:]
    eligible = r[:, targets] == 0
    hits = (scores[:, targets] >= kth) & eligible
    return float((hits.sum(0) / eligible.sum(0).clamp_min(1)).mean())


def _profiles(x: torch.Tensor, spec: AttackSpec, noise: np.ndarray) -> torch.Tensor:
    """The budget's profiles from X: each row's ``filler`` largest entries (ties broken by ``noise``)
    and the targets set to 1, all else 0."""
    filler = project_to_budget(x.numpy() + noise, spec.filler, spec.targets)
    out = torch.zeros_like(x)
    out[torch.arange(len(x))[:, None], torch.from_numpy(filler)] = 1.0
    out[:, torch.from_numpy(spec.targets)] = 1.0
    return out


def revadv_fillers(
    spec: AttackSpec, train: Interactions, rng: np.random.Generator, s: RevAdvSettings
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """The kept profiles' filler items [n_fake, filler] and, per outer epoch, the surrogate's target
    Hit@k and adversarial loss with that epoch's profiles."""
    r = torch.from_numpy(train.csr().toarray().astype(np.float32)).clamp(max=1.0)
    targets = torch.from_numpy(spec.targets)
    seed = int(rng.integers(2**62))
    lengths = (r > 0).sum(1).numpy()
    pool = np.flatnonzero((lengths > 0) & (lengths <= s.max_template))
    if len(pool) == 0:
        pool = np.flatnonzero(lengths > 0)
    templates = rng.choice(pool, size=spec.n_fake, replace=len(pool) < spec.n_fake)
    noise = rng.random((spec.n_fake, train.n_items)) * 1e-6  # a fixed tie-break among equal entries
    x = _profiles(r[templates].clone(), spec, noise)
    velocity = torch.zeros_like(x)
    best, best_key = x, (-1.0, 0.0)
    trace: list[tuple[float, float]] = []
    for _ in range(s.outer_epochs):
        fake = x.clone().requires_grad_(True)
        p, q = train_wmf(torch.cat([r, fake]), s, seed, differentiable=True)
        scores = p[: r.shape[0]] @ q.T
        loss = adversarial_loss(scores, targets)
        key = (target_hit(scores.detach(), r, targets, s.k), -loss.item())
        trace.append((key[0], loss.item()))
        if key > best_key:
            best, best_key = x, key
        (grad,) = torch.autograd.grad(loss, fake)
        grad[:, targets] = 0.0
        grad = grad / grad.norm(dim=1, keepdim=True).clamp_min(1e-12)
        velocity = s.momentum * velocity + grad
        x = _profiles(x - s.outer_lr * velocity, spec, noise)
    p, q = train_wmf(torch.cat([r, x]), s, seed, differentiable=False)
    scores = p[: r.shape[0]] @ q.T
    key = (target_hit(scores, r, targets, s.k), -adversarial_loss(scores, targets).item())
    trace.append((key[0], -key[1]))
    if key > best_key:
        best = x
    return project_to_budget(best.numpy(), spec.filler, spec.targets), trace


def revadv_attack(
    spec: AttackSpec, train: Interactions, rng: np.random.Generator, settings: RevAdvSettings | None = None
) -> FakeProfiles:
    s = settings or RevAdvSettings()
    check_room(spec, train.n_items)
    fillers, _ = revadv_fillers(spec, train, rng, s)
    return with_average_ratings(spec, train, fillers, rng)


ATTACKS.register(RevAdvSettings)(lambda cfg, spec, train, rng: revadv_attack(spec, train, rng, cfg))
