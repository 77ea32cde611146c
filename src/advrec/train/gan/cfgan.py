"""CFGAN (Chae et al., CIKM 2018): a conditional GAN over whole purchase vectors.

Rows are users' purchase vectors over items (``variant: user``) or items' vectors over users
(``variant: item``, the authors' choice on ML-100K). The generator maps a row's real vector c (the
condition), optionally with noise z, to a vector r̂ of purchase scores; the discriminator scores
(vector, condition) pairs. What the discriminator sees of r̂ is r̂ ⊙ (e + k): the real purchases e plus a
partial-masking (PM) set k of sampled negatives, so that it can push those negatives towards 0.
Zero-reconstruction (ZR) adds α · Σ_{j ∈ ZR set} r̂_j² to the generator's loss, with its own negative set.
Both sets are drawn afresh for every row at the start of every epoch, each an exact share of the row's
negatives, and shared by all passes of the epoch (as in the authors' code).

With ``use_discriminator: false`` (the ablation) the generator minimises ‖r̂ ⊙ (e + k) − e‖² + the ZR term:
the squared distance to the real vector on exactly the entries the discriminator would see.
Recommendations are the generator's output at zero noise (the mode of the noise), train items masked.
"""

from __future__ import annotations

import numpy as np
import torch

from advrec.models.cfgan import CFGAN, CFGANConfig
from advrec.train.gan.game import Game
from advrec.train.gan.losses import GanLoss, gradient_penalty
from advrec.train.gan.monitor import RunningMeans
from advrec.train.gan.players import Player
from advrec.train.gan.registry import GAMES, MakePlayer


def sample_negatives(real: torch.Tensor, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """A 0/1 mask of floor(ratio · #negatives) negatives per row, uniformly without replacement."""
    n_neg = (real == 0).sum(1)
    k = torch.floor(ratio * n_neg).long()
    # drawn on the CPU generator whatever the device, so that a GPU run draws what a CPU run draws;
    # positives get 2.0 and sort last
    noise = torch.rand(real.shape, generator=generator).to(real.device).masked_fill(real > 0, 2.0)
    kth = noise.sort(dim=1).values.gather(1, (k - 1).clamp(min=0).unsqueeze(1))
    return ((noise <= kth) & (k > 0).unsqueeze(1)).float()


class CFGANGame(Game):
    def __init__(
        self,
        model: CFGAN,
        generator: Player,
        discriminator: Player,
        loss: GanLoss,
        *,
        scheme: str = "zp",
        zr_ratio: float = 0.7,
        pm_ratio: float = 0.7,
        zr_coefficient: float = 0.03,
        use_discriminator: bool = True,
        gp_weight: float = 10.0,
        g_batch: int = 32,
        d_batch: int = 64,
        **game_kw,
    ) -> None:
        super().__init__(generator, discriminator, **game_kw)
        self.model = model
        self.loss = loss
        self.use_pm, self.use_zr = scheme in ("pm", "zp"), scheme in ("zr", "zp")
        self.zr_ratio, self.pm_ratio, self.zr_coefficient = zr_ratio, pm_ratio, zr_coefficient
        self.use_discriminator = use_discriminator
        self.gp_weight = gp_weight
        self.g_batch, self.d_batch = g_batch, d_batch
        # Rows without a single training purchase teach nothing but ZR; they are left out of training.
        self.rows = torch.nonzero(model.purchases.sum(1) > 0).squeeze(1).cpu()
        self._pm_set: torch.Tensor | None = None  # this epoch's negative sets, [n_rows, n_cols] each
        self._zr_set: torch.Tensor | None = None

    def begin_epoch(self, epoch: int) -> None:
        """This epoch's PM and ZR sets for every row, drawn once: one sort of the whole matrix per set
        instead of one per batch and pass."""
        real = self.model.purchases
        self._pm_set = sample_negatives(real, self.pm_ratio, self.gen) if self.use_pm else None
        self._zr_set = sample_negatives(real, self.zr_ratio, self.gen) if self.use_zr else None

    # Every draw comes from the game's CPU generator and moves to the model's device afterwards.
    @property
    def device(self) -> torch.device:
        return self.model.purchases.device

    def _batches(self, size: int):
        order = self.rows[torch.randperm(len(self.rows), generator=self.gen)]
        return order.to(self.device).split(size)

    def _noise(self, n: int) -> torch.Tensor | None:
        if not self.model.noise_dim:
            return None
        return torch.randn(n, self.model.noise_dim, generator=self.gen).to(self.device)

    def _negative_sets(self) -> None:
        if (self.use_pm and self._pm_set is None) or (self.use_zr and self._zr_set is None):
            self.begin_epoch(-1)  # a loss asked for outside an epoch (a test, a probe): draw now

    def _pm(self, rows: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        self._negative_sets()
        return self._pm_set[rows] if self._pm_set is not None else torch.zeros_like(real)

    def _zr(self, rows: torch.Tensor) -> torch.Tensor:
        self._negative_sets()
        assert self._zr_set is not None
        return self._zr_set[rows]

    def discriminator_loss(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(loss, real logits, fake logits) for a batch of rows, the generator held fixed."""
        model = self.model
        real = model.purchases[rows]
        with torch.no_grad():
            fake = model.generate(rows, self._noise(len(rows))) * (real + self._pm(rows, real))
        real_logit, fake_logit = model.discriminate(real, rows), model.discriminate(fake, rows)
        loss = self.loss.discriminator(real_logit, fake_logit)
        if self.loss.needs_gradient_penalty:
            weight = torch.rand(len(rows), 1, generator=self.gen).to(self.device)
            critic = lambda x: model.discriminate(x, rows)  # noqa: E731
            loss = loss + self.gp_weight * gradient_penalty(critic, real, fake, weight)
        return loss, real_logit, fake_logit

    def discriminator_pass(self, epoch: int, stats: RunningMeans, rng: np.random.Generator) -> None:
        for rows in self._batches(self.d_batch):
            loss, real_logit, fake_logit = self.discriminator_loss(rows)
            norm = self.discriminator.update(loss, epoch)
            stats.add(
                len(rows),
                d_loss=loss.item(),
                d_real=torch.sigmoid(real_logit).mean().item(),
                d_fake=torch.sigmoid(fake_logit).mean().item(),
                d_grad_norm=norm,
            )

    def generator_loss(
        self, rows: torch.Tensor, adversarial: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(total, adversarial or reconstruction term, ZR term) for a batch of rows."""
        model = self.model
        real = model.purchases[rows]
        generated = model.generate(rows, self._noise(len(rows)))
        shown = generated * (real + self._pm(rows, real))
        if adversarial:
            main = self.loss.generator(model.discriminate(shown, rows))
        else:
            main = (shown - real).pow(2).sum(1).mean()
        zr = generated.new_zeros(())
        if self.use_zr:
            zr = self.zr_coefficient * (generated.pow(2) * self._zr(rows)).sum(1).mean()
        return main + zr, main, zr

    def generator_pass(self, epoch: int, stats: RunningMeans, rng: np.random.Generator) -> None:
        self._generator_pass(epoch, stats, adversarial=self.use_discriminator)

    def pretrain_generator_pass(self, epoch: int, stats: RunningMeans, rng: np.random.Generator) -> None:
        self._generator_pass(epoch, stats, adversarial=False)

    def _generator_pass(self, epoch: int, stats: RunningMeans, adversarial: bool) -> None:
        term = "g_adv" if adversarial else "g_recon"
        for rows in self._batches(self.g_batch):
            total, main, zr = self.generator_loss(rows, adversarial)
            norm = self.generator.update(total, epoch)
            stats.add(len(rows), g_loss=total.item(), **{term: main.item()}, g_zr=zr.item(), g_grad_norm=norm)

    def generator_scores(self) -> tuple[torch.Tensor, torch.Tensor]:
        seen = self.model.purchases > 0
        return self.model.user_item_scores(), seen if self.model.variant == "user" else seen.T


@GAMES.register(CFGANConfig)
def build_cfgan_game(
    cfg: CFGANConfig, model: CFGAN, train, make_player: MakePlayer, loss: GanLoss, **game_kw
) -> CFGANGame:
    if not cfg.use_discriminator:
        game_kw["d_steps"] = 0  # the ablation: the discriminator never trains and is never consulted
    return CFGANGame(
        model,
        make_player("generator", model.generator_net, cfg.generator),
        make_player("discriminator", model.discriminator_net, cfg.discriminator),
        loss,
        scheme=cfg.scheme,
        zr_ratio=cfg.zr_ratio,
        pm_ratio=cfg.pm_ratio,
        zr_coefficient=cfg.zr_coefficient,
        use_discriminator=cfg.use_discriminator,
        gp_weight=cfg.gp_weight,
        g_batch=cfg.generator.batch_size,
        d_batch=cfg.discriminator.batch_size,
        **game_kw,
    )
