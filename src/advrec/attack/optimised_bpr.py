"""An optimisation-based attack with a BPR-MF surrogate: the fake users' items are chosen by the
gradient of target exposure through an unrolled stretch of BPR retraining on the poisoned data (the
DL-Attack / RevAdv recipe, Huang et al. 2021; Tang et al. 2020, with the victim's own model class).

Why not the ALS surrogate of ``advrec.attack.optimised``: ALS fits every zero as a negative, BPR
only ranks each positive above sampled negatives and stops pushing once it does (the log-sigmoid
saturates). Which filler items make a fake user keep pulling a target's embedding, and in which
direction, is a property of that saturation, so the surrogate here is trained with the victim's loss.

1. Surrogate: MF (``dim``) trained with sampled BPR and Adam on the clean training matrix R.
2. Unrolled retraining: from the surrogate's parameters plus fake-user factors (init zero), ``steps``
   gradient steps on the BPR loss of [R; X], where X [n_fake, n_items] holds the fake users' relaxed
   interactions in [0, 1]: each fake positive (f, i) weighs x_fi, with ``negatives`` sampled items per
   fake user and step; real users' pairs are sampled (``real_pairs`` per step). Negatives and pairs are
   drawn once per round, so the unrolled map X -> scores is deterministic and differentiable.
3. Loss: the smooth top-k hit count of ``advrec.attack.optimised.exposure_loss`` on the real users'
   scores after the unroll. Each round gives every fake user the ``filler`` items with the most
   negative gradient; the best round's profiles are kept. Ratings as the average attack.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field
from torch.nn.functional import softplus

from advrec.attack.optimised import exposure_loss, search_fillers, with_average_ratings
from advrec.attack.profiles import AttackSpec, FakeProfiles, check_room
from advrec.attack.registry import ATTACKS, AttackConfig
from advrec.data.interactions import Interactions


class BprAttackSettings(AttackConfig):
    """The gradient attack with a BPR-MF surrogate and unrolled BPR steps of the poisoned retraining."""

    name: Literal["optimised-bpr"] = "optimised-bpr"
    dim: int = Field(64, description="the BPR-MF surrogate's factors")
    epochs: int = Field(40, description="surrogate training (sampled BPR, Adam)")
    lr: float = Field(0.01, description="Adam learning rate of the surrogate")
    batch: int = Field(4096, description="pairs per surrogate batch")
    l2: float = Field(
        1e-4, description="per-pair L2 of the surrogate's factors (keeps the warm start's norms sane)"
    )
    steps: int = Field(30, description="unrolled gradient steps of the poisoned retraining")
    step_lr: float = Field(
        0.05, description="their step size (sum-of-pairs loss: an item moves by its pair count)"
    )
    negatives: int = Field(16, description="per fake user and step")
    real_pairs: int = Field(20000, description="real (user, positive, negative) triples per step")
    rounds: int = Field(6, description="rounds of choosing the fake users' items by the gradient")
    k: int = Field(50, description="the exposure the loss aims at: top-k of each real user")
    temperature: float = Field(0.2, description="margin scale in units of the score spread")
    explore: float = Field(
        0.0, description="share of each profile's filler drawn from the next-best items (diversity)"
    )


def train_surrogate(
    r: torch.Tensor, s: BprAttackSettings, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """P, Q of an MF trained with sampled BPR (one uniform negative per positive) and Adam."""
    n_users, n_items = r.shape
    users, items = torch.nonzero(r > 0, as_tuple=True)
    p = (torch.randn(n_users, s.dim, generator=gen) * 0.01).requires_grad_(True)
    q = (torch.randn(n_items, s.dim, generator=gen) * 0.01).requires_grad_(True)
    opt = torch.optim.Adam([p, q], lr=s.lr)
    for _ in range(s.epochs):
        order = torch.randperm(len(users), generator=gen)
        for start in range(0, len(order), s.batch):
            idx = order[start : start + s.batch]
            u, i = users[idx], items[idx]
            j = torch.randint(0, n_items, (len(idx),), generator=gen)
            loss = _bpr_pairs(p[u], q[i], q[j], s.l2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return p.detach(), q.detach()


def _bpr_pairs(pu: torch.Tensor, qi: torch.Tensor, qj: torch.Tensor, l2: float) -> torch.Tensor:
    diff = (pu * (qi - qj)).sum(-1)
    return softplus(-diff) + l2 * (pu.pow(2).sum(-1) + qi.pow(2).sum(-1) + qj.pow(2).sum(-1))


def unrolled_scores(
    x: torch.Tensor,
    p: torch.Tensor,
    q: torch.Tensor,
    real: tuple[torch.Tensor, ...],
    fake_neg: torch.Tensor,
    s: BprAttackSettings,
) -> torch.Tensor:
    """Real users' scores after ``s.steps`` gradient steps of BPR on [R; X] from (p, q) (module doc).

    ``real``: per step (users, positives, negatives) index tensors [steps, real_pairs] each;
    ``fake_neg``: [steps, n_fake, negatives] sampled items."""
    users, pos, neg = real
    p_fake = torch.zeros(x.shape[0], p.shape[1], dtype=p.dtype, requires_grad=True)
    for step in range(s.steps):
        real_loss = _bpr_pairs(p[users[step]], q[pos[step]], q[neg[step]], s.l2).sum()
        scores = p_fake @ q.T  # [n_fake, n_items]
        neg_scores = torch.gather(scores, 1, fake_neg[step])  # [n_fake, negatives]
        pair = softplus(neg_scores[:, None, :] - scores[:, :, None]).mean(-1)  # [n_fake, n_items]
        fake_loss = (x * pair).sum() + s.l2 * (x.sum(1) * p_fake.pow(2).sum(-1)).sum()
        gp, gq, gf = torch.autograd.grad(real_loss + fake_loss, (p, q, p_fake), create_graph=True)
        p, q, p_fake = p - s.step_lr * gp, q - s.step_lr * gq, p_fake - s.step_lr * gf
    return p @ q.T


def _draws(r: torch.Tensor, n_fake: int, s: BprAttackSettings, gen: torch.Generator):
    users, items = torch.nonzero(r > 0, as_tuple=True)
    pick = torch.randint(0, len(users), (s.steps, s.real_pairs), generator=gen)
    neg = torch.randint(0, r.shape[1], (s.steps, s.real_pairs), generator=gen)
    fake_neg = torch.randint(0, r.shape[1], (s.steps, n_fake, s.negatives), generator=gen)
    return (users[pick], items[pick], neg), fake_neg


def optimised_bpr_attack(
    spec: AttackSpec,
    train: Interactions,
    rng: np.random.Generator,
    settings: BprAttackSettings | None = None,
) -> FakeProfiles:
    s = settings or BprAttackSettings()
    check_room(spec, train.n_items)
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    r = torch.from_numpy(train.csr().toarray().astype(np.float32))
    p, q = train_surrogate(r, s, gen)
    p.requires_grad_(True)
    q.requires_grad_(True)
    targets = torch.from_numpy(spec.targets)

    def loss_of(x: torch.Tensor) -> torch.Tensor:
        real, fake_neg = _draws(r, spec.n_fake, s, gen)  # fresh draws each round, fixed within it
        scores = unrolled_scores(x, p, q, real, fake_neg, s)
        return exposure_loss(scores, r, targets, s.k, "sigmoid", s.temperature)

    fillers = search_fillers(spec, train.n_items, loss_of, s.rounds, s.explore, rng, r.dtype)
    return with_average_ratings(spec, train, fillers, rng)


ATTACKS.register(BprAttackSettings)(lambda cfg, spec, train, rng: optimised_bpr_attack(spec, train, rng, cfg))
