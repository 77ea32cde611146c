"""DLAttack: fake users built one at a time against a deep surrogate, filler items chosen by the
surrogate's predictions for the fake user after it is tuned toward the attack goal (Huang, Mu, Gong,
Li, Liu & Xu, "Data Poisoning Attacks to Deep Learning Based Recommender Systems", NDSS 2021).

Surrogate: NeuMF (the paper's NCF) trained pointwise, binary cross-entropy on each positive and
``negatives`` sampled unrated items, Adam. For each fake user v in turn:

1. v is added to the training data holding the targets only, and the surrogate is trained
   ``inner_epochs`` more epochs on the data so far (the real users and the fake users built before v);
2. a copy of it is tuned ``tune_epochs`` epochs on the sum of that recommendation loss and ``weight``
   times the attack loss: over real users u who lack the target t, with L_u the ``k`` unrated items u
   ranks highest when v's tuning starts, l_u = max(log max_{i∈L_u} ŷ_ui - log ŷ_ut, -κ), ŷ the
   predicted probability (the paper's loss: it falls as t climbs into u's top-k);
3. v's filler items are the ``filler`` non-target items with the largest ŷ_vj · p_j in the tuned copy,
   where p_j, the selection weight of item j, starts at 1 and is multiplied by ``decay`` each time j is
   chosen (so the fake users do not all pick the same items); once every weight is below 1 they reset.

Departures, and why: the paper trains the surrogate afresh on the poisoned data for each fake user;
here it continues from the previous fake user's surrogate for ``inner_epochs`` epochs (the data differ
by one profile), which makes the attack feasible on a CPU. ``weight``, ``decay``, the epochs and the
surrogate's size are chosen here for that budget (the paper tunes its trade-off on its data); ``kappa``
defaults to 0 (a target already above the list stops counting). L_u is taken once per fake user, not
per step (NeuMF's full scores are the costliest part). ARLib's version (a BPR surrogate, a margin loss
on embeddings) left 27 of 28 fake users with the targets only on its ML-100K split; here every fake user
gets exactly the budget's filler.
"""

from __future__ import annotations

import copy
from typing import Literal

import numpy as np
import torch
from pydantic import Field
from torch.nn.functional import binary_cross_entropy_with_logits, logsigmoid

from advrec.attack.base import AttackSpec, FakeProfiles
from advrec.attack.optimised import with_average_ratings
from advrec.attack.profiles import check_room
from advrec.attack.registry import ATTACKS, AttackConfig
from advrec.data.interactions import Interactions
from advrec.models.neumf import NeuMF


class DlAttackSettings(AttackConfig):
    """Fake users one at a time, filler by a NeuMF surrogate tuned toward the targets (Huang et al. 2021)."""

    name: Literal["dl-attack"] = "dl-attack"
    dim: int = Field(32, ge=1, description="the NeuMF surrogate's GMF factors")
    mlp_layers: list[int] = Field(
        default_factory=lambda: [64, 32, 16], min_length=1, description="the surrogate's MLP tower widths"
    )
    epochs: int = Field(20, ge=1, description="surrogate training on the clean data")
    inner_epochs: int = Field(1, ge=0, description="further training after each fake user is added")
    tune_epochs: int = Field(2, ge=1, description="epochs of the copy tuned with the attack loss")
    negatives: int = Field(4, ge=1, description="sampled unrated items per positive (pointwise BCE)")
    lr: float = Field(0.001, gt=0, description="Adam learning rate of the surrogate")
    batch: int = Field(1024, ge=1, description="positives per batch")
    weight: float = Field(1.0, gt=0, description="weight of the attack loss while tuning (the paper's λ)")
    kappa: float = Field(0.0, ge=0, description="the attack loss's floor -κ")
    k: int = Field(10, ge=1, description="L_u: the user's top-k unrated items in the attack loss")
    attack_users: int = Field(256, ge=1, description="real users sampled per batch for the attack loss")
    decay: float = Field(0.9, gt=0, lt=1, description="an item's selection weight after each pick")


def _fit(
    model: NeuMF,
    opt: torch.optim.Optimizer,
    users: np.ndarray,
    items: np.ndarray,
    rated: np.ndarray,
    epochs: int,
    s: DlAttackSettings,
    gen: torch.Generator,
    attack: tuple[np.ndarray, torch.Tensor, np.ndarray, torch.Tensor] | None = None,
) -> None:
    """``epochs`` epochs of pointwise BCE on the positives (users, items) with sampled negatives not in
    ``rated`` (a [n_users, n_items] bool matrix); with ``attack`` = (real users' rated mask, targets,
    eligible real users, their top lists L_u) each batch adds ``s.weight`` times the attack loss."""
    n_items = rated.shape[1]
    pos_u, pos_i = torch.from_numpy(users), torch.from_numpy(items)
    for _ in range(epochs):
        order = torch.randperm(len(pos_u), generator=gen)
        for start in range(0, len(order), s.batch):
            idx = order[start : start + s.batch]
            u = pos_u[idx].repeat_interleave(1 + s.negatives)
            i = pos_i[idx].repeat_interleave(1 + s.negatives).view(-1, 1 + s.negatives)
            i[:, 1:] = _negatives(rated, pos_u[idx], s.negatives, n_items, gen)
            labels = torch.zeros_like(i, dtype=torch.float32)
            labels[:, 0] = 1.0
            loss = binary_cross_entropy_with_logits(model.score(u, i.reshape(-1)), labels.reshape(-1))
            if attack is not None:
                loss = loss + s.weight * _attack_loss(model, attack, s, gen)
            opt.zero_grad()
            loss.backward()
            opt.step()


def _negatives(rated: np.ndarray, users: torch.Tensor, m: int, n_items: int, gen: torch.Generator):
    """[len(users), m] items each user has not rated (rejection sampling, a few redraws)."""
    neg = torch.randint(0, n_items, (len(users), m), generator=gen)
    for _ in range(5):
        bad = torch.from_numpy(rated[users.numpy()[:, None], neg.numpy()])
        if not bad.any():
            break
        neg = torch.where(bad, torch.randint(0, n_items, neg.shape, generator=gen), neg)
    return neg


def _top_unrated(model: NeuMF, real_rated: np.ndarray, k: int, chunk: int = 128) -> torch.Tensor:
    """Each real user's ``k`` highest-scored unrated items [n_real, k] under the model now (users in
    chunks: NeuMF's full scores hold a [users, items, width] tensor)."""
    out = []
    with torch.no_grad():
        for start in range(0, real_rated.shape[0], chunk):
            users = torch.arange(start, min(start + chunk, real_rated.shape[0]))
            scores = model.full_scores(users)
            scores[torch.from_numpy(real_rated[start : start + chunk])] = float("-inf")
            out.append(torch.topk(scores, min(k, scores.shape[1]), dim=1).indices)
    return torch.cat(out)


def _attack_loss(model: NeuMF, attack, s: DlAttackSettings, gen: torch.Generator):
    """Mean over sampled (real user, target) pairs with the user lacking the target of
    max(log max_{i∈L_u} ŷ_ui - log ŷ_ut, -κ), ŷ = σ(score)."""
    real_rated, targets, eligible, top = attack
    pick = torch.randint(0, len(eligible), (s.attack_users,), generator=gen)
    users = torch.from_numpy(eligible[pick.numpy()])
    top_log = logsigmoid(model.score(users, top[users])).max(dim=1).values  # [b]
    target_log = logsigmoid(model.score(users, targets.expand(len(users), -1)))  # [b, t]
    lacks = torch.from_numpy(~real_rated[users.numpy()][:, targets.numpy()])
    gap = (top_log[:, None] - target_log).clamp_min(-s.kappa)
    return (gap * lacks).sum() / lacks.sum().clamp_min(1)


def dl_attack_fillers(
    spec: AttackSpec, train: Interactions, rng: np.random.Generator, s: DlAttackSettings
) -> np.ndarray:
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    n_real, n_items = train.n_users, train.n_items
    mat = train.csr()
    rated = np.zeros((n_real + spec.n_fake, n_items), dtype=bool)
    rated[:n_real] = mat.toarray() > 0
    real_rated = rated[:n_real]
    users, items = (a.astype(np.int64) for a in mat.nonzero())
    model = NeuMF(n_real + spec.n_fake, n_items, s.dim, s.mlp_layers, 0.0, 0.01, gen)
    opt = torch.optim.Adam(model.parameters(), lr=s.lr)
    _fit(model, opt, users, items, rated, s.epochs, s, gen)
    targets = torch.from_numpy(spec.targets)
    eligible = np.flatnonzero(~real_rated[:, spec.targets].all(axis=1))
    weights = np.ones(n_items)
    fillers = np.empty((spec.n_fake, spec.filler), dtype=np.int64)
    for v in range(spec.n_fake):
        fake = n_real + v
        rated[fake, spec.targets] = True
        users = np.concatenate([users, np.full(len(spec.targets), fake)])
        items = np.concatenate([items, spec.targets])
        _fit(model, opt, users, items, rated, s.inner_epochs, s, gen)
        top = _top_unrated(model, real_rated, s.k)
        tuned = copy.deepcopy(model)
        tuned_opt = torch.optim.Adam(tuned.parameters(), lr=s.lr)
        attack = (real_rated, targets, eligible, top)
        _fit(tuned, tuned_opt, users, items, rated, s.tune_epochs, s, gen, attack)
        with torch.no_grad():
            prob = torch.sigmoid(tuned.full_scores(torch.tensor([fake])))[0].numpy().astype(np.float64)
        key = prob * weights
        key[spec.targets] = -np.inf
        chosen = np.argsort(-key, kind="stable")[: spec.filler]
        fillers[v] = chosen
        weights[chosen] *= s.decay
        if weights.max() < 1.0:
            weights[:] = 1.0
        rated[fake, chosen] = True
        users = np.concatenate([users, np.full(len(chosen), fake)])
        items = np.concatenate([items, chosen])
    return fillers


def dl_attack(
    spec: AttackSpec, train: Interactions, rng: np.random.Generator, settings: DlAttackSettings | None = None
) -> FakeProfiles:
    s = settings or DlAttackSettings()
    check_room(spec, train.n_items)
    fillers = dl_attack_fillers(spec, train, rng, s)
    return with_average_ratings(spec, train, fillers, rng)


ATTACKS.register(DlAttackSettings)(lambda cfg, spec, train, rng: dl_attack(spec, train, rng, cfg))
