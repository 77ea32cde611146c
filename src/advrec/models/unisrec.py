"""UniSRec-style text-based sequential recommender (Hou et al., KDD 2022): items are their texts.

Each item's text is embedded once by a frozen sentence encoder (``data.item_text``; the run keeps the
matrix in its split folder, so the encoder never runs while training). A mixture-of-experts adaptor maps
a text embedding t to the item vector: each expert is a parametric whitening (t - b_e) W_e, and a softmax
gate over t mixes them, sum_e g_e(t) (t - b_e) W_e. The item vectors feed SASRec's causal transformer
(``advrec.models.sasrec``, every block setting of it applies) as its input sequence and as the scored
items.

Two kinds of items (``items``):

* ``id_text`` (UniSRec's transductive fine-tuning): item vector = adaptor(text) + a learned ID embedding;
* ``text`` (inductive): item vector = adaptor(text) alone. Nothing is tied to an item's identity, so an
  item never seen in training (or a text never seen at all: ``text_item_vectors``) is scored from its
  text, and two items with the same text score the same.

With ``temperature`` τ set (UniSRec's 0.07), a score is the cosine of the sequence state and the item
vector divided by τ: ``hidden`` returns unit states divided by τ and ``output_items`` unit item vectors,
so the sequential objective's softmax over all items is UniSRec's. ``temperature: null`` scores by the
plain dot product, as SASRec does.

The adaptor's dropout (``adaptor_dropout``, on the text embedding as UniSRec's whitening layers do) draws
from torch's generator, whatever ``dropout_rng`` says of the transformer's. The item vectors are computed
once per training step (the sequence and the scored items read the same ones, under one dropout mask) and
once per evaluation batch, not per use: the adaptor over every item dominates a step's cost.

``train_softmax: trained`` leaves the items without training interactions out of the training softmax
(their scores are 0 while training, constant, so nothing pushes them down): with ``all`` a text-only model
still learns that those texts are never the next item, which is right for a fixed catalogue and wrong
for items that are only new to it.

Perturbable tables (``deltas``): ``item_text`` (the fixed text embeddings, an input buffer: a delta moves
the adaptor's input, as a rewritten text would) and, for ``id_text``, ``item_id`` (the ID embeddings).
Each moves the item vector wherever the item is read, in the sequence and among the scored items.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from advrec.data.interactions import Interactions
from advrec.models.base import Deltas
from advrec.models.registry import MODELS
from advrec.models.sasrec import SASRec, SASRecConfig


class UniSRecConfig(SASRecConfig):
    """UniSRec-style: frozen item-text embeddings -> whitening mixture-of-experts adaptor -> SASRec's
    transformer (reads ``data.item_text`` or ``data.item_features``)."""

    name: Literal["unisrec"] = "unisrec"  # type: ignore[assignment]
    items: Literal["id_text", "text"] = Field(
        "id_text",
        description="id_text: item vector = adaptor(text) + ID embedding (transductive); text: adaptor(text) "
        "alone (inductive: items unseen in training are scored from their text)",
    )
    n_experts: int = Field(8, ge=1, description="whitening experts of the mixture-of-experts adaptor")
    adaptor_dropout: float = Field(
        0.2, ge=0, lt=1, description="dropout of the text embedding at the adaptor's input (training only)"
    )
    train_softmax: Literal["all", "trained"] = Field(
        "all",
        description="the items a training step's softmax ranks: all (an item without training interactions "
        "is trained against as a negative) or trained (only items with training interactions; the others "
        "score 0 while training, as items new to the catalogue would be absent)",
    )
    temperature: float | None = Field(
        0.07,
        gt=0,
        description="score = cosine(state, item vector) / temperature (UniSRec's); null: the plain dot "
        "product (SASRec's)",
    )


class MoEAdaptor(nn.Module):
    """sum_e softmax(t G)_e (t - b_e) W_e: a gate over parametric-whitening experts (UniSRec's adaptor,
    without the noisy top-k gating: every expert is used, the gate is deterministic)."""

    def __init__(self, d_text: int, dim: int, n_experts: int, dropout: float) -> None:
        super().__init__()
        self.dropout = dropout
        self.centre = nn.Parameter(torch.zeros(n_experts, d_text))
        self.weight = nn.Parameter(torch.empty(n_experts, d_text, dim))
        self.gate = nn.Parameter(torch.zeros(d_text, n_experts))  # zero: the experts start equally weighted

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        """[N, d_text] -> [N, dim]."""
        gates = torch.softmax(text @ self.gate, dim=-1)  # [N, E]
        dropped = F.dropout(text, self.dropout, self.training)
        # (t - b_e) W_e for every expert at once: t W_e - b_e W_e
        experts = torch.einsum("nd,edk->nek", dropped, self.weight)
        experts = experts - torch.einsum("ed,edk->ek", self.centre, self.weight)
        return (gates.unsqueeze(-1) * experts).sum(1)


class UniSRec(SASRec):
    item_text: torch.Tensor  # a buffer: the fixed text embedding of each item (row 0: padding, zeros)
    trained_items: torch.Tensor | None  # a buffer: 1 for items with training rows (row 0: padding)

    def __init__(
        self,
        n_users: int,
        n_items: int,
        text: torch.Tensor,
        *,
        items: str = "id_text",
        n_experts: int = 8,
        adaptor_dropout: float = 0.2,
        temperature: float | None = 0.07,
        trained_items: torch.Tensor | None = None,
        dim: int = 64,
        init_std: float = 0.02,
        generator: torch.Generator | None = None,
        **transformer,
    ) -> None:
        if text.dim() != 2 or text.shape[0] != n_items:
            raise ValueError(f"item texts must be [n_items={n_items}, d], got shape {tuple(text.shape)}")
        if items not in ("id_text", "text"):
            raise ValueError(f"items must be id_text or text, got {items!r}")
        super().__init__(n_users, n_items, dim=dim, init_std=init_std, generator=generator, **transformer)
        self.with_ids = items == "id_text"
        if not self.with_ids:
            del self.item_embedding  # the inductive model has no per-item weights
        self.temperature = temperature
        self.adaptor = MoEAdaptor(text.shape[1], dim, n_experts, adaptor_dropout)
        with torch.no_grad():  # drawn after the transformer's weights, from the same generator
            self.adaptor.weight.normal_(0.0, init_std, generator=generator)
        padded = torch.cat([torch.zeros(1, text.shape[1]), text.detach().float()])
        # Not saved with the model: a run keeps the aligned matrix in its split folder and rebuilds from it.
        self.register_buffer("item_text", padded, persistent=False)
        # 1 for the items a training softmax ranks (row 0, padding, 0); None: every item. Rebuilt from the
        # train split like the texts, so not saved either.
        mask = None
        if trained_items is not None:
            mask = torch.cat([torch.zeros(1), trained_items.detach().float()]).unsqueeze(1)
        self.register_buffer("trained_items", mask, persistent=False)
        self._step_vectors: torch.Tensor | None = None  # this training step's item vectors

    def embedding_tables(self) -> dict[str, torch.Tensor]:
        tables = {"item_text": self.item_text}
        if self.with_ids:
            tables["item_id"] = self.item_embedding
        return tables

    def text_item_vectors(self, text: torch.Tensor, ids: torch.Tensor | None = None) -> torch.Tensor:
        """Item vectors of text embeddings [N, d_text] (plus the ID rows ``ids`` [N] of the id_text model;
        None: the text alone, as for an item the model has no ID for)."""
        vectors = self.adaptor(text)
        if ids is not None:
            vectors = vectors + self.item_embedding.index_select(0, ids)
        return vectors

    def input_items(self, deltas: Deltas | None = None) -> torch.Tensor:
        if deltas or not (self.training and torch.is_grad_enabled()):
            return self._item_vectors(deltas)
        # The adaptor over every item is most of a training step's cost, and the sequence and the scored
        # items read the same vectors: one computation serves both uses of a training step. It lives until
        # the backward pass reaches it (the step's weights are about to change), or the weights are loaded.
        if self._step_vectors is None:
            vectors = self._item_vectors(None)
            vectors.register_hook(self._forget)
            self._step_vectors = vectors
        return self._step_vectors

    def _forget(self, grad: torch.Tensor | None = None) -> None:
        self._step_vectors = None

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self._forget()
        super()._load_from_state_dict(*args, **kwargs)

    def _apply(self, fn, recurse: bool = True):
        self._forget()
        return super()._apply(fn, recurse)

    def train(self, mode: bool = True):
        self._forget()
        return super().train(mode)

    def _item_vectors(self, deltas: Deltas | None) -> torch.Tensor:
        text = self.table("item_text", deltas)[1:]
        vectors = self.adaptor(text)
        if self.with_ids:
            vectors = vectors + self.table("item_id", deltas)[1:]
        return torch.cat([vectors.new_zeros(1, vectors.shape[1]), vectors])  # row 0: padding

    def output_items(self, deltas: Deltas | None = None) -> torch.Tensor:
        vectors = self.scored_vectors(self.input_items(deltas))
        if self.training and self.trained_items is not None:
            vectors = vectors * self.trained_items  # items without training interactions: score 0
        return vectors

    def hidden(self, seqs: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        states = super().hidden(seqs, deltas)
        if self.temperature is None:
            return states
        return F.normalize(states, dim=-1) / self.temperature  # zero rows (padding) stay zero

    def scored_vectors(self, vectors: torch.Tensor) -> torch.Tensor:
        """Item vectors as ``output_items`` scores them (unit length under a temperature)."""
        return vectors if self.temperature is None else F.normalize(vectors, dim=-1)


@MODELS.register(UniSRecConfig, procedure="sequential", item_features=True)
def build_unisrec(
    cfg: UniSRecConfig, train: Interactions, generator: torch.Generator, item_features: torch.Tensor
) -> UniSRec:
    trained = torch.bincount(torch.as_tensor(train.items, dtype=torch.long), minlength=train.n_items) > 0
    return UniSRec(
        train.n_users,
        train.n_items,
        item_features,
        items=cfg.items,
        n_experts=cfg.n_experts,
        adaptor_dropout=cfg.adaptor_dropout,
        temperature=cfg.temperature,
        trained_items=trained if cfg.train_softmax == "trained" else None,
        dim=cfg.dim,
        init_std=cfg.init_std,
        generator=generator,
        n_blocks=cfg.n_blocks,
        n_heads=cfg.n_heads,
        max_len=cfg.max_len,
        dropout=cfg.dropout,
        ffn_dim=cfg.ffn_dim,
        activation=cfg.activation,
        norm=cfg.norm,
        ffn_hidden_dropout=cfg.ffn_hidden_dropout,
        dropout_rng=cfg.dropout_rng,
    )
