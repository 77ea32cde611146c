"""MF with item content features (VBPR-like; the model AMR trains): score(u, i) = <p_u, q_i + E f_i>.

``f_i`` is a fixed feature vector of item i (genres, image embeddings...), ``E`` [dim, d] a learned
projection, ``p_u``/``q_i`` free embeddings (He & McAuley, AAAI 2016; Tang et al., TKDE 2019). With
``item_bias`` the score gains VBPR's two bias terms, ``b_i + <w, f_i>``.

The features are a buffer, not a parameter: training never changes them. They are exposed as a third
perturbable table, ``item_features``, next to ``user`` and ``item``, so a delta on them is an additive
perturbation of the inputs, f_i + Δ_i. That is what AMR's adversary (APRHook with
``targets: [item_features]``), the robustness probe and feature-noise augmentation use.

Two ways to make the content part carry the signal on its own, for items whose ID embedding is barely
trained (few interactions), both off by default:

* ``id_dropout`` p (DropoutNet, Volkovs et al., NeurIPS 2017): while training (``model.train()``), each
  item occurrence in a batch has its q_i replaced by 0 with probability p, so that occurrence is scored by
  the content alone, <p_u, E f_i>; E must then rank well without q_i. Draws come from torch's global RNG
  (seeded by the run, saved in checkpoints, like dropout), or with ``dropout_rng="counter"`` from a
  counter-based mask seeded by one draw of it (the same on every device). No rescaling: evaluation
  (``model.eval()``) scores with q_i + E f_i, as DropoutNet feeds the full input at inference. p = 1 never
  uses q at all.
* ``id_mask`` (the registry builds it from ``model.id_min_count`` n: 0 for the items with fewer than n
  TRAINING interactions): masked items have no ID embedding, in training and scoring alike (their q_i is
  multiplied by 0, so it never trains either): they are scored by the content alone.

The batch L2 term (``reg_loss``) covers the rows used (p_u, q_i, and b_i with ``item_bias``); the shared
projection E and w are not in it (use the optimizer's weight decay to shrink them).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from advrec.data.interactions import Interactions
from advrec.models.base import Deltas, Recommender, Scorer, check_deltas, gather_rows, init_embedding
from advrec.models.counter_dropout import check_dropout_rng, draw_seed, keep_mask
from advrec.models.registry import DROPOUT_RNG_DOC, MODELS, DropoutRng, EmbeddingConfig


class MFFeaturesConfig(EmbeddingConfig):
    """MF with item content features (``data.item_features`` or ``data.item_text``): <p_u, q_i + E f_i>."""

    name: Literal["mf_features"] = "mf_features"
    item_bias: bool = Field(False, description="add VBPR's item bias b_i + <w, f_i>")
    id_dropout: float = Field(
        0.0,
        ge=0,
        le=1,
        description="while training, score each item occurrence by its content alone (drop q_i) with this "
        "probability (DropoutNet); evaluation always uses q_i + E f_i",
    )
    id_min_count: int = Field(
        0,
        ge=0,
        description="items with fewer TRAINING interactions than this have no ID embedding (scored by their "
        "content alone, in training and evaluation); 0 = every item has one",
    )
    dropout_rng: DropoutRng = Field("torch", description="the id_dropout masks: " + DROPOUT_RNG_DOC)


class MFFeatures(Recommender):
    item_features: torch.Tensor  # a buffer: the fixed feature rows
    id_mask: torch.Tensor | None  # a buffer: 0 for items without an ID embedding

    def __init__(
        self,
        n_users: int,
        n_items: int,
        item_features: torch.Tensor,
        dim: int = 64,
        init_std: float = 0.1,
        item_bias: bool = False,
        generator=None,
        id_dropout: float = 0.0,
        id_mask: torch.Tensor | None = None,
        dropout_rng: str = "torch",
    ) -> None:
        super().__init__(n_users, n_items)
        if item_features.dim() != 2 or item_features.shape[0] != n_items:
            raise ValueError(
                f"item_features must be [n_items={n_items}, d], got shape {tuple(item_features.shape)}"
            )
        self.user_embedding = init_embedding(n_users, dim, init_std, generator)
        self.item_embedding = init_embedding(n_items, dim, init_std, generator)
        n_features = item_features.shape[1]
        self.projection = nn.Parameter(torch.empty(dim, n_features))
        with torch.no_grad():
            self.projection.normal_(0.0, init_std, generator=generator)
        if not 0.0 <= id_dropout <= 1.0:
            raise ValueError(f"id_dropout must be in [0, 1], got {id_dropout}")
        if id_mask is not None and tuple(id_mask.shape) != (n_items,):
            raise ValueError(f"id_mask must be [n_items={n_items}], got shape {tuple(id_mask.shape)}")
        self.id_dropout = float(id_dropout)
        self.dropout_rng = check_dropout_rng(dropout_rng)
        self.item_bias = item_bias
        if item_bias:
            self.bias = nn.Parameter(torch.zeros(n_items))
            self.feature_bias = nn.Parameter(torch.zeros(n_features))
        # Not saved with the model: a run keeps the aligned matrix in its split folder and rebuilds from it.
        self.register_buffer("item_features", item_features.detach().float().clone(), persistent=False)
        # 1 where an item keeps its ID embedding, 0 where the content alone scores it (rebuilt from the
        # train split like the features, so not saved either); None: every item keeps it.
        mask = None if id_mask is None else id_mask.detach().float().clone().unsqueeze(1)
        self.register_buffer("id_mask", mask, persistent=False)

    def embedding_tables(self) -> dict[str, torch.Tensor]:
        return {
            "user": self.user_embedding.weight,
            "item": self.item_embedding.weight,
            "item_features": self.item_features,
        }

    def _item_vectors(self, items: torch.Tensor | None, deltas: Deltas | None):
        """(q_i + E f_i, bias_i) for the given items (all items for None); bias is None without item_bias."""
        q, f = self.table("item", deltas), self.table("item_features", deltas)
        mask = self.id_mask
        if items is not None:
            q, f = gather_rows(q, items), gather_rows(f, items)
            mask = None if mask is None else gather_rows(mask, items)
        if mask is not None:
            q = q * mask
        if self.training and self.id_dropout > 0.0:
            if self.dropout_rng == "counter":
                keep = keep_mask(q.shape[:-1], self.id_dropout, draw_seed(), 0, q.device)
            else:
                keep = torch.rand(q.shape[:-1], device=q.device) >= self.id_dropout
            q = q * keep.unsqueeze(-1).to(q.dtype)
        vectors = q + f @ self.projection.T
        if not self.item_bias:
            return vectors, None
        b = self.bias if items is None else self.bias[items]
        return vectors, b + f @ self.feature_bias

    def score(self, users: torch.Tensor, items: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        check_deltas(self, deltas)
        u = gather_rows(self.table("user", deltas), users)
        v, bias = self._item_vectors(items, deltas)
        scores = (u.unsqueeze(1) * v).sum(-1) if items.dim() == 2 else (u * v).sum(-1)
        return scores if bias is None else scores + bias

    def full_scores(self, users: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        return self.scorer(deltas)(users)

    def scorer(self, deltas: Deltas | None = None) -> Scorer:
        """Item vectors computed once for all the chunks of an evaluation."""
        check_deltas(self, deltas)
        users_table = self.table("user", deltas)
        v, bias = self._item_vectors(None, deltas)
        if bias is None:
            return lambda users: gather_rows(users_table, users) @ v.T
        return lambda users: gather_rows(users_table, users) @ v.T + bias

    def reg_loss(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        u = self.user_embedding.weight.index_select(0, users)
        i = self.item_embedding.weight.index_select(0, items.reshape(-1))
        total = u.pow(2).sum() + i.pow(2).sum()
        if self.item_bias:
            total = total + self.bias.index_select(0, items.reshape(-1)).pow(2).sum()
        return 0.5 * total


@MODELS.register(MFFeaturesConfig, item_features=True)
def build_mf_features(
    cfg: MFFeaturesConfig, train: Interactions, generator: torch.Generator, item_features: torch.Tensor
) -> MFFeatures:
    id_mask = None
    if cfg.id_min_count > 0:
        counts = torch.bincount(torch.as_tensor(train.items, dtype=torch.long), minlength=train.n_items)
        id_mask = (counts >= cfg.id_min_count).float()
    return MFFeatures(
        train.n_users,
        train.n_items,
        item_features,
        cfg.dim,
        cfg.init_std,
        cfg.item_bias,
        generator,
        id_dropout=cfg.id_dropout,
        id_mask=id_mask,
        dropout_rng=cfg.dropout_rng,
    )
