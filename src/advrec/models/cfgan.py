"""CFGAN (Chae et al., CIKM 2018): a conditional GAN over whole purchase vectors.

Rows are users' purchase vectors over items (``variant: user``) or items' vectors over users
(``variant: item``, the authors' choice on ML-100K). The generator maps a row's real vector c (the
condition), optionally with noise z, to a vector r̂ of purchase scores; the discriminator scores
(vector, condition) pairs. What the discriminator sees of r̂ is r̂ ⊙ (e + k): the real purchases e plus a
partial-masking (PM) set k of sampled negatives, so that it can push those negatives towards 0.
Zero-reconstruction (ZR) adds α · Σ_{j ∈ ZR set} r̂_j² to the generator's loss, with its own negative set.
Both sets are drawn once per epoch and shared by its D and G passes (the authors' procedure), each an
exact share of the row's negatives.

With ``use_discriminator: false`` (the ablation) the generator minimises ‖r̂ ⊙ (e + k) − e‖² + the ZR term:
the squared distance to the real vector on exactly the entries the discriminator would see.
Recommendations are the generator's output at zero noise (the mode of the noise), train items masked.

The authors' networks (their code, and the port of the ECIR 2022 reproducibility study): sigmoid hidden
layers, a linear output layer (``g_output: linear``: r̂ is a score, not squashed into (0, 1)), and the
non-saturating generator loss -log D(G(c)). ``g_output: sigmoid`` squashes r̂ into purchase probabilities.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator

from advrec.data.interactions import Interactions
from advrec.models.base import Deltas, Recommender, Scorer, check_deltas, gather_rows
from advrec.models.gan import GanLossName, GanModelConfig
from advrec.models.nets import mlp
from advrec.models.registry import MODELS


class CFGANConfig(GanModelConfig):
    """CFGAN (Chae et al., CIKM 2018). Defaults: the authors' ML-100K settings (ZP, 70%, hidden 400/125,
    linear generator output, non-saturating generator loss)."""

    name: Literal["cfgan"] = "cfgan"
    loss: GanLossName = Field("non_saturating", description="the GAN loss of both players")

    variant: Literal["user", "item"] = Field("item", description="rows are users' or items' purchase vectors")
    scheme: Literal["zr", "pm", "zp"] = Field("zp", description="zero-reconstruction, partial masking, both")
    zr_ratio: float = Field(0.7, ge=0, le=1, description="share of a row's negatives in its ZR set")
    pm_ratio: float = Field(0.7, ge=0, le=1, description="share of a row's negatives in its PM set")
    zr_coefficient: float = Field(0.03, ge=0, description="alpha, the weight of the ZR term")
    g_hidden: list[int] = Field(default_factory=lambda: [400], description="generator MLP hidden widths")
    d_hidden: list[int] = Field(default_factory=lambda: [125], description="discriminator MLP hidden widths")
    noise_dim: int = Field(0, ge=0, description="N(0, 1) noise inputs of the generator (0: none, the paper)")
    g_output: Literal["linear", "sigmoid"] = Field(
        "linear", description="the generator's output layer: linear (the authors' code) or sigmoid"
    )
    use_discriminator: bool = Field(
        True, description="false: the ablation, generator trained by masked reconstruction + ZR only"
    )

    @model_validator(mode="after")
    def _ablation_has_no_discriminator_to_pretrain(self) -> CFGANConfig:
        if not self.use_discriminator and self.discriminator.pretrain_epochs:
            raise ValueError("discriminator.pretrain_epochs must be 0 with use_discriminator false")
        return self


class CFGAN(Recommender):
    purchases: torch.Tensor  # a buffer: each row's purchase vector (the condition)

    def __init__(
        self,
        train: sp.csr_matrix,
        *,
        variant: str = "item",
        g_hidden: list[int] | None = None,
        d_hidden: list[int] | None = None,
        noise_dim: int = 0,
        g_output: str = "linear",
        generator: torch.Generator | None = None,
    ) -> None:
        n_users, n_items = train.shape
        super().__init__(n_users, n_items)
        if variant not in ("user", "item"):
            raise ValueError(f"variant must be 'user' or 'item', not {variant!r}")
        if g_output not in ("linear", "sigmoid"):
            raise ValueError(f"g_output must be 'linear' or 'sigmoid', not {g_output!r}")
        self.variant = variant
        self.noise_dim = noise_dim
        self.g_output = g_output
        rows = train if variant == "user" else train.T
        dense = torch.from_numpy((rows.toarray() > 0).astype(np.float32))
        # Rebuilt from the split, never saved: the checkpoint holds the two networks only.
        self.register_buffer("purchases", dense, persistent=False)
        n_cols = dense.shape[1]
        self.generator_net = mlp([n_cols + noise_dim, *(g_hidden or [400]), n_cols], generator)
        self.discriminator_net = mlp([2 * n_cols, *(d_hidden or [125]), 1], generator)

    # -- the players --------------------------------------------------------------------------
    def generate(
        self, rows: torch.Tensor, noise: torch.Tensor | None = None, deltas: Deltas | None = None
    ) -> torch.Tensor:
        """Generated vectors [B, n_cols] of the given rows (scores, or probabilities with a sigmoid
        output), conditioned on their real vectors."""
        cond = gather_rows(self.table("condition", deltas), rows)
        if self.noise_dim:
            if noise is None:
                noise = cond.new_zeros(len(rows), self.noise_dim)
            cond = torch.cat([cond, noise], dim=1)
        if deltas and "output_embedding" in deltas:
            out = F.linear(
                self.generator_net[:-1](cond), self.table("output_embedding", deltas), self._output_layer.bias
            )
        else:
            out = self.generator_net(cond)
        return torch.sigmoid(out) if self.g_output == "sigmoid" else out

    def discriminate(self, vectors: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Logits [B] that each (vector, condition of its row) pair is real."""
        return self.discriminator_net(torch.cat([vectors, self.purchases[rows]], dim=1)).squeeze(1)

    # -- the recommender --------------------------------------------------------------------------
    def embedding_tables(self) -> dict[str, torch.Tensor]:
        """What the robustness probe perturbs: each row's condition (its real purchase vector, the
        generator's input: a delta perturbs the input) and the generator's output vector of each column
        (the last layer's weight rows: users' vectors item-based, items' vectors user-based)."""
        return {"condition": self.purchases, "output_embedding": self._output_layer.weight}

    @property
    def _output_layer(self) -> torch.nn.Linear:
        """The generator's last layer (its weight rows are the output vectors)."""
        layer = self.generator_net[-1]
        assert isinstance(layer, torch.nn.Linear)  # mlp() ends in a Linear
        return layer

    def user_item_scores(self, deltas: Deltas | None = None) -> torch.Tensor:
        """The generator's [n_users, n_items] matrix at zero noise."""
        rows = torch.arange(self.purchases.shape[0], device=self.purchases.device)
        out = self.generate(rows, deltas=deltas)
        return out if self.variant == "user" else out.T

    def full_scores(self, users: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        check_deltas(self, deltas)
        if self.variant == "user":
            return self.generate(users, deltas=deltas)
        return self.user_item_scores(deltas)[users]

    def scorer(self, deltas: Deltas | None = None) -> Scorer:
        check_deltas(self, deltas)
        scores = self.user_item_scores(deltas)  # once per evaluation, not once per chunk of users
        return lambda users: scores[users]

    def score(self, users: torch.Tensor, items: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        full = self.full_scores(users, deltas)
        return full.gather(1, items if items.dim() == 2 else items.unsqueeze(1)).reshape(items.shape)

    def reg_loss(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.purchases.new_zeros(())


@MODELS.register(CFGANConfig, procedure="gan")
def build_cfgan(
    cfg: CFGANConfig, train: Interactions, generator: torch.Generator, item_features=None
) -> CFGAN:
    return CFGAN(
        train.csr(),
        variant=cfg.variant,
        g_hidden=cfg.g_hidden,
        d_hidden=cfg.d_hidden,
        noise_dim=cfg.noise_dim,
        g_output=cfg.g_output,
        generator=generator,
    )
