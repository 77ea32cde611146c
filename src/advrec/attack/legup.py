"""Leg-UP-style attack: a generator turns sampled real users ("templates") into discrete fake profiles,
trained to raise the targets in a surrogate recommender and to fool a discriminator of real profiles
(after Lin, Chen, Zeng, Zhang, Gao & Li, "Shilling Black-box Recommender Systems by Learning to Generate
Fake User Profiles", IEEE TNNLS 2022; its predecessor AUSH is advrec's ``gan``).

The paper's three parts, as built here:

* templates and a generator: each fake user starts from a sampled real user's row; an MLP maps it to a
  score per item, and the profile is the ``filler`` highest-scored items plus the targets, a discrete
  profile in the forward pass (the paper's generator outputs discrete ratings), with the gradient passed
  to the scores through a sigmoid relaxation (straight-through);
* transferability by a surrogate: the generator's loss includes the targets' top-k exposure loss of the
  ALS surrogate of ``advrec.attack.optimised`` after one unrolled refit on the data plus the generated
  profiles (a differentiable stand-in for retraining the surrogate on the poisoned data);
* invisibility by a discriminator: an MLP that tells real rows from generated ones, trained against the
  generator with a GAN loss of ``advrec.train.gan.losses``.

Departures, and why: the surrogate and its one-step unroll are advrec's ALS ones (cheap and exactly
differentiable on a CPU); the paper's discretisation of ratings is replaced by the top-``filler``
selection of implicit feedback, which also fixes the budget (filler: the run's ``--filler``, by default
the mean real profile length, the paper's and ARLib's default). The nets' sizes, steps and learning rate
are advrec's choices, checked on small data (the paper's own code was not run here). ARLib's LegUP
differs: its generator sees a random fifth of the items plus the targets, and each of its 50 bi-level
epochs retrains a LightGCN surrogate on the poisoned data (about 12,500 LightGCN trainings for one
attack on ML-100K, about 20 h on a 2-core CPU), so it was not run to completion beside this one.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from advrec.attack.base import AttackSpec, FakeProfiles
from advrec.attack.optimised import exposure_loss, fit_als, poisoned_scores, with_average_ratings
from advrec.attack.profiles import check_room
from advrec.attack.registry import ATTACKS, AttackConfig
from advrec.data.interactions import Interactions
from advrec.train.gan.losses import get_gan_loss


class LegUpSettings(AttackConfig):
    """Templates -> generator -> discrete profiles, trained on an ALS surrogate's exposure loss and
    against a discriminator."""

    name: Literal["legup"] = "legup"
    hidden: int = Field(128, ge=1, description="width of the generator's and discriminator's hidden layer")
    steps: int = Field(150, ge=1, description="training steps (one discriminator and one generator step)")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate of both nets")
    attack_weight: float = Field(1.0, ge=0, description="weight of the surrogate's exposure loss")
    gan_weight: float = Field(0.1, ge=0, description="weight of the generator's adversarial loss")
    loss: str = Field("non_saturating", description="GAN loss (advrec.train.gan.losses)")
    temperature: float = Field(
        1.0, gt=0, description="the sigmoid relaxation's width around the k-th score, in score std units"
    )
    dim: int = Field(64, ge=1, description="the ALS surrogate's factors")
    reg: float = Field(10.0, gt=0, description="the ALS surrogate's ridge λ")
    als_iters: int = Field(15, ge=1, description="ALS iterations fitting the surrogate")
    k: int = Field(50, ge=1, description="the exposure the surrogate loss aims at: each real user's top-k")


class LegUpNets(nn.Module):
    def __init__(self, n_items: int, hidden: int):
        super().__init__()
        self.generator = nn.Sequential(nn.Linear(n_items, hidden), nn.ReLU(), nn.Linear(hidden, n_items))
        self.discriminator = nn.Sequential(
            nn.Linear(n_items, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1)
        )

    def profiles(self, templates: torch.Tensor, targets: torch.Tensor, filler: int, temperature: float):
        """Rows [n, n_items]: 1 on the ``filler`` highest-scored non-target items and on the targets; the
        gradient flows to the scores through σ((score - k-th score) / (temperature · score std))."""
        scores = self.generator(templates).masked_fill(_mask(targets, templates.shape[1]), float("-inf"))
        kth = torch.topk(scores, filler, dim=1).values[:, -1:]
        finite = scores.masked_fill(torch.isinf(scores), 0.0)
        soft = torch.sigmoid((finite - kth) / (temperature * finite.std().clamp_min(1e-6)))
        hard = (scores >= kth).to(soft.dtype)
        rows = hard + (soft - soft.detach())  # straight-through: exactly hard forward, relaxed backward
        return rows.masked_fill(_mask(targets, templates.shape[1]), 1.0)

    def logits(self, rows: torch.Tensor) -> torch.Tensor:
        return self.discriminator(rows).squeeze(-1)


def _mask(targets: torch.Tensor, n_items: int) -> torch.Tensor:
    mask = torch.zeros(n_items, dtype=torch.bool)
    mask[targets] = True
    return mask


def train_legup(
    spec: AttackSpec, train: Interactions, rng: np.random.Generator, s: LegUpSettings
) -> tuple[np.ndarray, dict[str, list[float]]]:
    """The fake users' filler items [n_fake, filler] and the per-step losses."""
    gan = get_gan_loss(s.loss)
    r = torch.from_numpy((train.csr().toarray() > 0).astype(np.float32))
    targets = torch.from_numpy(spec.targets)
    history: dict[str, list[float]] = {"d_loss": [], "g_loss": [], "exposure": []}
    with torch.random.fork_rng():  # seeded init without touching the caller's global torch state
        torch.manual_seed(int(rng.integers(2**62)))
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        p, q = fit_als(r.double(), s.dim, s.reg, s.als_iters, gen)
        p, q = p.float(), q.float()
        nets = LegUpNets(train.n_items, s.hidden)
        opt_d = torch.optim.Adam(nets.discriminator.parameters(), lr=s.lr, betas=(0.5, 0.999))
        opt_g = torch.optim.Adam(nets.generator.parameters(), lr=s.lr, betas=(0.5, 0.999))
        n_users = r.shape[0]
        for _ in range(s.steps):
            templates = r[torch.from_numpy(rng.integers(0, n_users, spec.n_fake))]
            real = r[torch.from_numpy(rng.integers(0, n_users, spec.n_fake))]
            with torch.no_grad():
                fake = nets.profiles(templates, targets, spec.filler, s.temperature)
            d_loss = gan.discriminator(nets.logits(real), nets.logits(fake))
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            fake = nets.profiles(templates, targets, spec.filler, s.temperature)
            exposure = exposure_loss(poisoned_scores(r, fake, p, q, s.reg), r, targets, s.k)
            g_loss = s.attack_weight * exposure + s.gan_weight * gan.generator(nets.logits(fake))
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            for key, value in (("d_loss", d_loss), ("g_loss", g_loss), ("exposure", exposure)):
                history[key].append(value.item())
        templates = r[torch.from_numpy(rng.integers(0, n_users, spec.n_fake))]
        with torch.no_grad():
            scores = nets.generator(templates)
    scores[:, targets] = float("-inf")
    fillers = torch.topk(scores, spec.filler, dim=1).indices.numpy()
    return fillers, history


def legup_attack(
    spec: AttackSpec, train: Interactions, rng: np.random.Generator, settings: LegUpSettings | None = None
) -> FakeProfiles:
    s = settings or LegUpSettings()
    check_room(spec, train.n_items)
    fillers, _ = train_legup(spec, train, rng, s)
    return with_average_ratings(spec, train, fillers, rng)


ATTACKS.register(LegUpSettings)(lambda cfg, spec, train, rng: legup_attack(spec, train, rng, cfg))
