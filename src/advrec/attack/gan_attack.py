"""A GAN-based shilling attack in the spirit of AUSH (Lin et al., CIKM 2020).

Each fake profile starts from a *template*: a sampled real user. Its items are the targets (max rating),
``n_selected`` *selected* items (the items most co-rated with the targets, the segment the attacker
wants to be associated with, as AUSH picks items similar to the target) and ``filler`` items sampled
from the template's own profile (topped up at random when the template is shorter). A generator (an
MLP from the template's rating row to a rating for every item) rates the selected and filler items; a
discriminator (an MLP on a whole rating row) learns to tell real rows from generated ones.

The generator's loss is the sum of
* the adversarial loss (``advrec.train.gan.losses``): fakes the discriminator takes for real;
* a reconstruction loss: filler ratings close to the template's own (AUSH's L_recon, keeps profiles
  plausible);
* the shilling loss: selected items rated the maximum (AUSH's L_shill: the fake users must look like
  fans of the targets' segment, which is what lets them pull the targets up in a neighbour/MF victim).

Ratings are rounded to the data's integer scale with a straight-through estimator, so the discriminator
sees the same discrete values real users give. Rows are scaled by the maximum rating (0 = unrated). The
trained discriminator is returned with the profiles (:class:`GanAttack`) and can serve as a detector
(:func:`discriminator_detector`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field
from torch import nn

from advrec.attack.profiles import AttackSpec, FakeProfiles, RatingStats, check_room
from advrec.attack.registry import ATTACKS, AttackConfig
from advrec.data.interactions import Interactions
from advrec.train.gan.losses import get_gan_loss


class GanAttackSettings(AttackConfig):
    """AUSH-style: a generator rates a sampled real user's items, trained against a real-vs-fake
    discriminator plus a shilling loss."""

    name: Literal["gan"] = "gan"
    hidden: int = Field(128, description="width of the generator's and discriminator's hidden layers")
    steps: int = Field(300, description="training steps of the attack GAN")
    batch: int = Field(64, description="rows per step")
    lr: float = Field(1e-3, description="Adam learning rate of both nets")
    loss: str = Field("non_saturating", description="GAN loss of the attack's game (advrec.train.gan.losses)")
    recon_weight: float = Field(1.0, description="weight of reconstructing the sampled real user's ratings")
    shill_weight: float = Field(
        1.0, description="weight of the shilling loss (targets rated at the top of the scale)"
    )


def rating_matrix(train: Interactions) -> sp.csr_matrix:
    """Users × items ratings (1 where the data has none), 0 = unrated; a repeated pair keeps one rating."""
    values = np.ones(len(train)) if train.ratings is None else train.ratings.astype(np.float64)
    mat = sp.coo_matrix((values, (train.users, train.items)), shape=(train.n_users, train.n_items))
    mat = mat.tocsr()
    counts = sp.coo_matrix((np.ones(len(train)), (train.users, train.items)), shape=mat.shape).tocsr()
    mat.data = mat.data / counts.data  # duplicates were summed: their mean, not their sum
    return mat


class AushNets(nn.Module):
    """Generator and discriminator over rating rows scaled to [0, 1] by the maximum rating."""

    def __init__(self, n_items: int, hidden: int, low: float, high: float):
        super().__init__()
        self.low, self.high = low, high
        self.generator = nn.Sequential(
            nn.Linear(n_items, hidden), nn.ReLU(), nn.Linear(hidden, n_items), nn.Sigmoid()
        )
        self.discriminator = nn.Sequential(
            nn.Linear(n_items, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1)
        )

    def ratings(self, templates: torch.Tensor) -> torch.Tensor:
        """Generated ratings on the data's scale, rounded (straight-through gradient)."""
        raw = self.low + self.generator(templates) * (self.high - self.low)
        return raw + (torch.round(raw) - raw).detach()

    def fake_rows(self, templates: torch.Tensor, rated: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Scaled rows: generated ratings on ``rated`` (selected + filler mask), 1 on the targets."""
        rows = self.ratings(templates) / self.high * rated
        return torch.where(targets, torch.ones_like(rows), rows)

    def logits(self, rows: torch.Tensor) -> torch.Tensor:
        return self.discriminator(rows).squeeze(-1)


@dataclass
class Batch:
    """One training batch: templates and real rows (scaled), masks of filler / selected / target items."""

    templates: torch.Tensor
    real: torch.Tensor
    filler: torch.Tensor
    selected: torch.Tensor
    targets: torch.Tensor


def d_loss(nets: AushNets, batch: Batch, loss: str) -> torch.Tensor:
    with torch.no_grad():
        fake = nets.fake_rows(batch.templates, batch.filler | batch.selected, batch.targets)
    return get_gan_loss(loss).discriminator(nets.logits(batch.real), nets.logits(fake))


def g_loss(nets: AushNets, batch: Batch, settings: GanAttackSettings) -> torch.Tensor:
    rated = batch.filler | batch.selected
    fake = nets.fake_rows(batch.templates, rated, batch.targets)
    adversarial = get_gan_loss(settings.loss).generator(nets.logits(fake))
    gen = nets.generator(batch.templates)  # unrounded, so both losses have a gradient everywhere
    lo, hi = nets.low / nets.high, 1.0
    scaled = lo + gen * (hi - lo)
    known = batch.filler & (batch.templates > 0)  # AUSH's reconstruction: only where the template rated
    recon = ((scaled - batch.templates) ** 2 * known).sum() / known.sum().clamp_min(1)
    shill = ((hi - scaled) ** 2 * batch.selected).sum() / batch.selected.sum().clamp_min(1)
    return adversarial + settings.recon_weight * recon + settings.shill_weight * shill


@dataclass
class GanAttack:
    """The profiles, the trained nets (``nets.discriminator`` = the detector) and the loss history."""

    profiles: FakeProfiles
    nets: AushNets
    history: dict[str, list[float]] = field(default_factory=dict)


def selected_items(spec: AttackSpec, train: Interactions) -> np.ndarray:
    """The ``n_selected`` items most co-rated with the targets (popularity breaks ties)."""
    mat = train.csr()
    have_target = np.asarray(mat[:, spec.targets].sum(axis=1)).reshape(-1)
    co = np.asarray(mat.T @ have_target).reshape(-1).astype(np.float64)
    pop = np.bincount(train.items, minlength=train.n_items).astype(np.float64)
    key = co + pop / (pop.max() + 1.0)
    key[spec.targets] = -1
    return np.argsort(-key, kind="stable")[: spec.n_selected]


def template_fillers(
    profiles: sp.csr_matrix, users: np.ndarray, k: int, banned: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """``k`` distinct filler items per template user: random items of their profile (not banned), topped
    up with random unbanned items when the profile is too short. [len(users), k]."""
    n_items = profiles.shape[1]
    keys = rng.random((len(users), n_items)) + 1.0  # items outside the profile sort after its items
    rows = profiles[users]
    keys[rows.nonzero()] -= 1.0
    keys[:, banned] = np.inf
    return np.argsort(keys, axis=1)[:, :k]


def _masks(n: int, n_items: int, filler: np.ndarray, selected: np.ndarray, targets: np.ndarray):
    fill = torch.zeros(n, n_items, dtype=torch.bool)
    fill[torch.arange(n)[:, None], torch.from_numpy(filler)] = True
    sel = torch.zeros(n, n_items, dtype=torch.bool)
    sel[:, torch.from_numpy(selected)] = True
    tgt = torch.zeros(n, n_items, dtype=torch.bool)
    tgt[:, torch.from_numpy(targets)] = True
    return fill, sel, tgt


def train_gan_attack(
    spec: AttackSpec,
    train: Interactions,
    rng: np.random.Generator,
    settings: GanAttackSettings | None = None,
) -> GanAttack:
    s = settings or GanAttackSettings()
    get_gan_loss(s.loss)  # an unknown loss fails before any work
    n_selected = min(spec.n_selected, train.n_items - len(spec.targets) - spec.filler)
    check_room(spec, train.n_items, max(n_selected, 0))
    stats = RatingStats.of(train)
    profiles = rating_matrix(train)
    scaled = torch.from_numpy((profiles / stats.high).toarray().astype(np.float32))
    selected = selected_items(spec, train)[: max(n_selected, 0)]
    banned = np.concatenate([spec.targets, selected])
    n_users, n_items = scaled.shape
    history: dict[str, list[float]] = {"d_loss": [], "g_loss": []}
    with torch.random.fork_rng():  # seeded init without touching the caller's global torch state
        torch.manual_seed(int(rng.integers(2**62)))
        nets = AushNets(n_items, s.hidden, stats.low, stats.high)
        opt_d = torch.optim.Adam(nets.discriminator.parameters(), lr=s.lr, betas=(0.5, 0.999))
        opt_g = torch.optim.Adam(nets.generator.parameters(), lr=s.lr, betas=(0.5, 0.999))
        for _ in range(s.steps):
            users = rng.integers(0, n_users, s.batch)
            filler = template_fillers(profiles, users, spec.filler, banned, rng)
            fill, sel, tgt = _masks(s.batch, n_items, filler, selected, spec.targets)
            real = scaled[torch.from_numpy(rng.integers(0, n_users, s.batch))]
            batch = Batch(scaled[torch.from_numpy(users)], real, fill, sel, tgt)
            loss = d_loss(nets, batch, s.loss)
            opt_d.zero_grad()
            loss.backward()
            opt_d.step()
            history["d_loss"].append(loss.item())
            loss = g_loss(nets, batch, s)
            opt_g.zero_grad()
            loss.backward()
            opt_g.step()
            history["g_loss"].append(loss.item())
        nets.eval()
        users = rng.integers(0, n_users, spec.n_fake)
        filler = template_fillers(profiles, users, spec.filler, banned, rng)
        with torch.no_grad():
            rated = nets.ratings(scaled[torch.from_numpy(users)]).numpy()
    n, t = spec.n_fake, len(spec.targets)
    items = np.concatenate([np.tile(spec.targets, (n, 1)), np.tile(selected, (n, 1)), filler], axis=1)
    ratings = np.concatenate(
        [np.full((n, t), stats.high), np.take_along_axis(rated, items[:, t:], axis=1)], axis=1
    ).astype(np.float32)
    fake = FakeProfiles(
        np.repeat(np.arange(n), items.shape[1]), items.reshape(-1).astype(np.int64), ratings.reshape(-1), n
    )
    return GanAttack(fake, nets, history)


def discriminator_scores(nets: AushNets, ratings: sp.spmatrix) -> np.ndarray:
    """Suspicion of each row of a users × items rating matrix (the attack's item order): minus the
    discriminator's 'real' logit."""
    if ratings.shape[1] != nets.discriminator[0].in_features:
        raise ValueError(
            f"rating matrix has {ratings.shape[1]} items, the discriminator "
            f"{nets.discriminator[0].in_features}"
        )
    rows = torch.from_numpy((sp.csr_matrix(ratings) / nets.high).toarray().astype(np.float32))
    with torch.no_grad():
        return -nets.logits(rows).numpy().astype(np.float64)


ATTACKS.register(GanAttackSettings)(
    lambda cfg, spec, train, rng: train_gan_attack(spec, train, rng, cfg).profiles
)
