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

from typing import Literal

import scipy.sparse as sp
import torch
from pydantic import Field, model_validator

from advrec.data.interactions import Interactions
from advrec.models.base import Deltas, Recommender, check_deltas, gather_rows
from advrec.models.gan import GanModelConfig
from advrec.models.nets import BiasedMF
from advrec.models.registry import MODELS


class IRGANConfig(GanModelConfig):
    """IRGAN (Wang et al., SIGIR 2017), item recommendation: two biased-MF players."""

    name: Literal["irgan"] = "irgan"
    recommend_with: Literal["generator", "discriminator"] = Field(
        "generator", description="the player whose scores rank the items"
    )

    dim: int = Field(64, ge=1, description="embedding size of both players' biased MF")
    init_std: float = Field(0.01, gt=0, description="std of the normal initialisation of both players")
    temperature: float = Field(0.2, gt=0, description="generator softmax temperature")
    sample_lambda: float = Field(
        0.2, ge=0, le=1, description="importance sampling: mass moved onto the user's positives"
    )
    samples_per_positive: int = Field(2, ge=1, description="generator samples per positive, per user")
    reward: Literal["sigmoid", "softplus"] = Field(
        "sigmoid", description="2(σ(f) - 0.5) as in the reference code, or log(1 + exp(f))"
    )
    pretrain_batch_size: int = Field(2048, ge=1, description="BPR pre-training of the generator")

    @model_validator(mode="after")
    def _discrete_inputs(self) -> IRGANConfig:
        if self.loss == "wgan_gp":
            raise ValueError("loss 'wgan_gp' needs continuous inputs; IRGAN's discriminator sees items")
        return self


class IRGAN(Recommender):
    positives: torch.Tensor  # a buffer: the training matrix as booleans

    def __init__(
        self,
        train: sp.csr_matrix,
        *,
        dim: int = 64,
        init_std: float = 0.01,
        recommend_with: str = "generator",
        generator: torch.Generator | None = None,
    ) -> None:
        n_users, n_items = train.shape
        super().__init__(n_users, n_items)
        if recommend_with not in ("generator", "discriminator"):
            raise ValueError(f"recommend_with must be 'generator' or 'discriminator', not {recommend_with!r}")
        self.recommend_with = recommend_with
        self.generator_mf = BiasedMF(n_users, n_items, dim, init_std, generator)
        self.discriminator_mf = BiasedMF(n_users, n_items, dim, init_std, generator)
        self.register_buffer("positives", torch.from_numpy(train.toarray() > 0), persistent=False)

    def _recommender(self) -> BiasedMF:
        return self.generator_mf if self.recommend_with == "generator" else self.discriminator_mf

    def embedding_tables(self) -> dict[str, torch.Tensor]:
        """The recommending player's embeddings, named as MF's: what the robustness probe perturbs."""
        mf = self._recommender()
        return {"user": mf.user_embedding.weight, "item": mf.item_embedding.weight}

    def score(self, users: torch.Tensor, items: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        check_deltas(self, deltas)
        if not deltas:
            return self._recommender().score(users, items)
        u = gather_rows(self.table("user", deltas), users)
        i = gather_rows(self.table("item", deltas), items)
        if items.dim() == 2:
            u = u.unsqueeze(1)
        return (u * i).sum(-1) + self._recommender().item_bias[items]

    def full_scores(self, users: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        check_deltas(self, deltas)
        if not deltas:
            return self._recommender().full_scores(users)
        u = gather_rows(self.table("user", deltas), users)
        return u @ self.table("item", deltas).T + self._recommender().item_bias

    def reg_loss(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self._recommender().reg_loss(users, items)


@MODELS.register(IRGANConfig, procedure="gan")
def build_irgan(
    cfg: IRGANConfig, train: Interactions, generator: torch.Generator, item_features=None
) -> IRGAN:
    return IRGAN(
        train.csr(),
        dim=cfg.dim,
        init_std=cfg.init_std,
        recommend_with=cfg.recommend_with,
        generator=generator,
    )
