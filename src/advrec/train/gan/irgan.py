"""IRGAN (Wang et al., SIGIR 2017) for item recommendation: two biased-MF players.

Generator: p_θ(i | u) = softmax_i(g(u, i) / τ) over all items. Discriminator: D(i | u) = σ(f(u, i)).
A discriminator pass pairs every training interaction (u, i) with an item drawn from p_θ(· | u) and
minimises the configured GAN loss on (f(u, i), f(u, j)) plus L2 (the reference: log loss, i.e. minimax).
A generator pass learns by policy gradient: for each user it draws ``samples_per_positive`` · |I_u| items
from the mixture p_n = (1 − λ) p_θ + λ · uniform(I_u) (importance sampling towards the user's positives,
as in the reference code) and minimises −mean[log p_θ(j | u) · R(u, j) · p_θ(j | u) / p_n(j | u)] with the
discriminator's reward R = 2(σ(f) − ½) or log(1 + exp f), held fixed. Generator pre-training is BPR with
uniform negatives (the reference starts from a pre-trained MF). Either player can recommend.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from advrec.data.interactions import Interactions
from advrec.data.sampler import NegativeSampler
from advrec.models.irgan import IRGAN, IRGANConfig
from advrec.objectives.losses import bpr_loss
from advrec.train.gan.game import Game
from advrec.train.gan.losses import GanLoss
from advrec.train.gan.monitor import RunningMeans
from advrec.train.gan.players import Player
from advrec.train.gan.registry import GAMES, MakePlayer


class IRGANGame(Game):
    def __init__(
        self,
        model: IRGAN,
        train: Interactions,
        generator: Player,
        discriminator: Player,
        loss: GanLoss,
        *,
        temperature: float = 0.2,
        sample_lambda: float = 0.2,
        samples_per_positive: int = 2,
        reward: str = "sigmoid",
        g_l2: float = 0.0,
        d_l2: float = 0.0,
        g_batch: int = 64,
        d_batch: int = 64,
        pretrain_batch: int = 2048,
        **game_kw,
    ) -> None:
        super().__init__(generator, discriminator, **game_kw)
        if loss.needs_gradient_penalty:
            raise ValueError("IRGAN's discriminator sees discrete items: a gradient penalty does not apply")
        self.model, self.loss = model, loss
        self.temperature, self.sample_lambda = temperature, sample_lambda
        self.samples_per_positive, self.reward = samples_per_positive, reward
        self.g_l2, self.d_l2 = g_l2, d_l2
        self.g_batch, self.d_batch, self.pretrain_batch = g_batch, d_batch, pretrain_batch
        order = np.lexsort((train.items, train.users))
        self.pair_users = torch.from_numpy(train.users[order].astype(np.int64))
        self.pair_items = torch.from_numpy(train.items[order].astype(np.int64))
        # Bookkeeping and every draw stay on the CPU (the game's generator is a CPU one, so a GPU run
        # draws what a CPU run draws); what the players compute with moves to the model's device.
        self.n_pos = model.positives.sum(1).cpu()
        self.users = torch.nonzero(self.n_pos > 0).squeeze(1)
        self.sampler = NegativeSampler(train, 1)

    @property
    def device(self) -> torch.device:
        return self.model.positives.device

    # -- sampling ----------------------------------------------------------------------------
    def generator_log_probs(self, users: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.model.generator_mf.full_scores(users) / self.temperature, dim=1)

    @torch.no_grad()
    def sample_for_discriminator(self) -> torch.Tensor:
        """One item from p_θ(· | u) for every training pair (u, i), in the pairs' order (sorted by user)."""
        out = torch.empty_like(self.pair_items)
        starts = torch.cumsum(self.n_pos, 0) - self.n_pos
        for chunk in self.users.split(256):
            probs = self.generator_log_probs(chunk.to(self.device)).exp().cpu()
            counts = self.n_pos[chunk]
            draws = torch.multinomial(probs, int(counts.max()), replacement=True, generator=self.gen)
            keep = torch.arange(draws.shape[1]) < counts.unsqueeze(1)
            lo, hi = int(starts[chunk[0]]), int(starts[chunk[-1]] + counts[-1])
            out[lo:hi] = draws[keep]  # row-major: each user's draws, users in order, as the pairs are
        return out

    # -- passes ----------------------------------------------------------------------------------
    def discriminator_loss(
        self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(loss, real logits, fake logits) of (user, positive) against (user, generated item) pairs."""
        dis = self.model.discriminator_mf
        real, fake = dis.score(users, pos), dis.score(users, neg)
        loss = self.loss.discriminator(real, fake)
        if self.d_l2:
            loss = loss + self.d_l2 * dis.reg_loss(users, torch.cat([pos, neg])) / len(users)
        return loss, real, fake

    def discriminator_pass(self, epoch: int, stats: RunningMeans, rng: np.random.Generator) -> None:
        negatives = self.sample_for_discriminator()
        order = torch.randperm(len(self.pair_users), generator=self.gen)
        for idx in order.split(self.d_batch):
            loss, real, fake = self.discriminator_loss(
                *(t[idx].to(self.device) for t in (self.pair_users, self.pair_items, negatives))
            )
            norm = self.discriminator.update(loss, epoch)
            stats.add(
                len(idx),
                d_loss=loss.item(),
                d_real=torch.sigmoid(real).mean().item(),
                d_fake=torch.sigmoid(fake).mean().item(),
                d_grad_norm=norm,
            )

    def generator_loss(self, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(policy-gradient loss, mean raw reward) for a batch of users."""
        n_pos = self.n_pos[users.cpu()].to(self.device)
        users = users.to(self.device)
        log_prob = self.generator_log_probs(users)
        prob = log_prob.detach().exp()
        pos = self.model.positives[users].float()
        mixture = (1 - self.sample_lambda) * prob + self.sample_lambda * pos / n_pos.unsqueeze(1)
        n_samples = self.samples_per_positive * n_pos
        draws = torch.multinomial(mixture.cpu(), int(n_samples.max()), replacement=True, generator=self.gen)
        samples = draws.to(self.device)
        valid = (torch.arange(samples.shape[1], device=self.device) < n_samples.unsqueeze(1)).float()
        with torch.no_grad():
            logits = self.model.discriminator_mf.score(users, samples)
            raw = 2 * (torch.sigmoid(logits) - 0.5) if self.reward == "sigmoid" else F.softplus(logits)
            reward = raw * prob.gather(1, samples) / mixture.gather(1, samples)
        per_user = (log_prob.gather(1, samples) * reward * valid).sum(1) / valid.sum(1)
        loss = -per_user.mean()
        if self.g_l2:
            loss = loss + self.g_l2 * self.model.generator_mf.reg_loss(users, samples) / len(users)
        return loss, (raw * valid).sum() / valid.sum()

    def generator_pass(self, epoch: int, stats: RunningMeans, rng: np.random.Generator) -> None:
        order = self.users[torch.randperm(len(self.users), generator=self.gen)]
        for users in order.split(self.g_batch):
            loss, reward = self.generator_loss(users)
            norm = self.generator.update(loss, epoch)
            stats.add(len(users), g_loss=loss.item(), g_reward=reward.item(), g_grad_norm=norm)

    def pretrain_generator_pass(self, epoch: int, stats: RunningMeans, rng: np.random.Generator) -> None:
        gen = self.model.generator_mf
        triples = self.sampler.epoch(rng)
        for lo in range(0, len(triples), self.pretrain_batch):
            users, pos, neg = (
                t[lo : lo + self.pretrain_batch].to(self.device)
                for t in (triples.users, triples.pos, triples.neg)
            )
            loss = bpr_loss(gen.score(users, pos), gen.score(users, neg))
            norm = self.generator.update(loss, epoch)
            stats.add(len(users), g_loss=loss.item(), g_grad_norm=norm)

    def generator_scores(self) -> tuple[torch.Tensor, torch.Tensor]:
        users = torch.arange(self.model.n_users, device=self.device)
        return self.model.generator_mf.full_scores(users), self.model.positives


@GAMES.register(IRGANConfig)
def build_irgan_game(
    cfg: IRGANConfig, model: IRGAN, train: Interactions, make_player: MakePlayer, loss: GanLoss, **game_kw
) -> IRGANGame:
    return IRGANGame(
        model,
        train,
        make_player("generator", model.generator_mf, cfg.generator),
        make_player("discriminator", model.discriminator_mf, cfg.discriminator),
        loss,
        temperature=cfg.temperature,
        sample_lambda=cfg.sample_lambda,
        samples_per_positive=cfg.samples_per_positive,
        reward=cfg.reward,
        g_l2=cfg.generator.l2,
        d_l2=cfg.discriminator.l2,
        g_batch=cfg.generator.batch_size,
        d_batch=cfg.discriminator.batch_size,
        pretrain_batch=cfg.pretrain_batch_size,
        **game_kw,
    )
