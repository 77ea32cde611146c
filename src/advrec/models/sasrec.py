"""SASRec (Kang & McAuley, ICDM 2018): causal self-attention over a user's item sequence.

Input: left-padded item sequences ``[B, L]`` with items shifted by one (0 = padding; see
``advrec.data.sequences``). The hidden state at position t summarises items 1..t and scores every item
as the next one by a dot product with the item embeddings (shared between input and output, as in the
paper). Blocks follow the authors' code: x = LN(x) + MHA(LN(x), x, x); x = x + FFN(LN(x)); final LN
(``norm="pre"``), or RecBole's post-LN ones: LN of the embedding sum, x = LN(x + MHA(x)); x = LN(x + FFN(x))
(``norm="post"``).

Positions count real items from the start of the (cut) sequence, and a position never attends to a
padding key, so padding never changes a real position's output: the same items padded to any length
score the same. A position also never attends to a later one (causal mask). A padding position attends
only to itself (so its softmax is defined); its output is zeroed and never scored.

Dropout (embedding sum, attention weights, attention output, feed-forward output, and its hidden layer
unless ``ffn_hidden_dropout=False``) uses torch's generator, or with ``dropout_rng="counter"`` one
``MaskStream`` per forward pass (``advrec.models.counter_dropout``): cheaper on the CPU, the same on every
device.

Perturbable tables (``deltas``): ``item_input`` (the item embeddings read from the sequence) and
``item_output`` (the item embeddings scored against the hidden state). Both name the same parameter; a
delta on one perturbs only that use of it, so an adversary can attack the input sequence alone.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from advrec.data.interactions import Interactions
from advrec.errors import AdvrecError
from advrec.models.base import Deltas, SequentialRecommender, gather_rows
from advrec.models.counter_dropout import MaskStream, check_dropout_rng
from advrec.models.registry import DROPOUT_RNG_DOC, MODELS, DropoutRng, EmbeddingConfig


class SASRecConfig(EmbeddingConfig):
    """SASRec (Kang & McAuley 2018): causal self-attention over each user's item sequence."""

    name: Literal["sasrec"] = "sasrec"
    dropout: float = Field(
        0.0, ge=0, lt=1, description="dropout of the embeddings, attention and feed-forward layers"
    )
    dropout_rng: DropoutRng = Field("torch", description=DROPOUT_RNG_DOC)

    n_blocks: int = Field(2, ge=1, description="self-attention blocks")
    n_heads: int = Field(1, ge=1, description="attention heads (dim must be divisible by it)")
    max_len: int = Field(50, ge=1, description="longest history the model reads (older items are cut)")
    ffn_dim: int | None = Field(
        None, ge=1, description="width of the point-wise feed-forward layer (default dim, Kang's)"
    )
    activation: Literal["relu", "gelu"] = Field(
        "relu", description="feed-forward activation: relu (Kang's) or gelu (RecBole's default)"
    )
    loss: Literal["ce", "bce"] = Field(
        "ce", description="ce: softmax over all items; bce: one uniformly sampled negative per position"
    )
    windows: Literal["last", "all"] = Field(
        "last",
        description="training windows per user and epoch: the last max_len items (Kang's), or the whole "
        "train sequence cut into consecutive windows of max_len (every item is a target once)",
    )
    span: int | None = Field(
        None,
        ge=1,
        description="windows all: windows every span items, each with max_len items of input and only its "
        "last span positions as targets, so every target sees >= max_len - span items before it (1: "
        "RecBole's prefixes; default max_len: consecutive windows)",
    )
    norm: Literal["pre", "post"] = Field(
        "pre",
        description="pre: Kang's blocks (layer norm before attention and feed-forward, a final norm); post: "
        "RecBole's / BERT's (norm after each residual sum and of the embedding sum, no sqrt(dim) scale)",
    )
    ffn_hidden_dropout: bool = Field(
        True,
        description="dropout on the feed-forward hidden layer too (Kang's); false: only on its output "
        "(RecBole's)",
    )

    @model_validator(mode="after")
    def _span_fits(self) -> SASRecConfig:
        if self.span is not None and self.span > self.max_len:
            raise ValueError(f"span ({self.span}) must be at most max_len ({self.max_len})")
        if self.span is not None and self.windows != "all":
            raise ValueError("span applies to windows: all only")
        return self


def _drop(x: torch.Tensor, p: float, training: bool, masks: MaskStream | None) -> torch.Tensor:
    """Dropout from the forward pass's counter-based stream, or torch's when there is none."""
    return masks(x) if masks is not None else F.dropout(x, p, training)


class _Block(nn.Module):
    def __init__(
        self,
        dim: int,
        n_heads: int,
        dropout: float,
        ffn_dim: int,
        activation: str,
        post: bool,
        ffn_hidden_dropout: bool = True,
    ):
        super().__init__()
        self.post = post
        self.ffn_hidden_dropout = ffn_hidden_dropout
        self.activation = F.gelu if activation == "gelu" else F.relu
        self.n_heads = n_heads
        self.dropout = dropout
        self.attn_norm = nn.LayerNorm(dim, eps=1e-8)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.ffn_norm = nn.LayerNorm(dim, eps=1e-8)
        self.ffn1 = nn.Linear(dim, ffn_dim)
        self.ffn2 = nn.Linear(ffn_dim, dim)

    def forward(self, x: torch.Tensor, attend: torch.Tensor, masks: MaskStream | None = None) -> torch.Tensor:
        """``masks``: dropout from this counter-based stream; None: torch's own dropout (when training)."""
        if self.post:  # RecBole / BERT: x = LN(x + MHA(x)); x = LN(x + FFN(x))
            x = self.attn_norm(x + self._attention(x, x, attend, masks))
            return self.ffn_norm(x + self._ffn(x, masks))
        q_in = self.attn_norm(x)  # Kang's: the query reads the normalised input, keys and values the raw one
        x = self.ffn_norm(q_in + self._attention(q_in, x, attend, masks))
        return x + self._ffn(x, masks)

    def _attention(
        self, q_in: torch.Tensor, kv_in: torch.Tensor, attend: torch.Tensor, masks: MaskStream | None = None
    ) -> torch.Tensor:
        b, length, dim = q_in.shape
        h = self.n_heads
        w_q, w_k, w_v = self.qkv.weight.split(dim)
        b_q, _, b_v = self.qkv.bias.split(dim)
        # No key bias: it adds the same q·b to every key of a query, which softmax ignores, so its
        # gradient is rounding noise that Adam would amplify into drift (its slice of qkv.bias stays 0).
        q = F.linear(q_in, w_q, b_q)
        k = F.linear(kv_in, w_k)
        v = F.linear(kv_in, w_v, b_v)
        q, k, v = (t.view(b, length, h, dim // h).transpose(1, 2) for t in (q, k, v))
        if masks is None:
            drop = self.dropout if self.training else 0.0
            att = F.scaled_dot_product_attention(q, k, v, attn_mask=attend, dropout_p=drop)
        else:  # what SDPA computes, with the attention weights dropped by the stream's mask
            logits = (q @ k.transpose(-2, -1)) / math.sqrt(dim // h)
            weights = torch.softmax(logits.masked_fill(~attend, float("-inf")), dim=-1)
            att = masks(weights) @ v
        att = self.out(att.transpose(1, 2).reshape(b, length, dim))
        return _drop(att, self.dropout, self.training, masks)

    def _ffn(self, x: torch.Tensor, masks: MaskStream | None = None) -> torch.Tensor:
        hidden = self.activation(self.ffn1(x))
        if self.ffn_hidden_dropout:  # Kang's feed-forward drops out its hidden layer too; RecBole's does not
            hidden = _drop(hidden, self.dropout, self.training, masks)
        return _drop(self.ffn2(hidden), self.dropout, self.training, masks)


class SASRec(SequentialRecommender):
    def __init__(
        self,
        n_users: int,
        n_items: int,
        dim: int = 64,
        n_blocks: int = 2,
        n_heads: int = 1,
        max_len: int = 50,
        dropout: float = 0.2,
        init_std: float = 0.02,
        generator: torch.Generator | None = None,
        ffn_dim: int | None = None,
        activation: str = "relu",
        norm: str = "pre",
        ffn_hidden_dropout: bool = True,
        dropout_rng: str = "torch",
    ):
        super().__init__(n_users, n_items)
        if norm not in ("pre", "post"):
            raise AdvrecError(f"model.norm must be pre or post, got {norm!r}")
        if activation not in ("relu", "gelu"):
            raise AdvrecError(f"model.activation must be relu or gelu, got {activation!r}")
        if dim % n_heads:
            raise AdvrecError(f"model.dim ({dim}) must be divisible by model.n_heads ({n_heads})")
        self.dim = dim
        self.max_len = max_len
        self.dropout = dropout
        self.dropout_rng = check_dropout_rng(dropout_rng)
        self.item_embedding = nn.Parameter(torch.empty(n_items + 1, dim))  # row 0: padding
        self.position_embedding = nn.Parameter(torch.empty(max_len, dim))
        self.post = norm == "post"
        self.blocks = nn.ModuleList(
            _Block(dim, n_heads, dropout, ffn_dim or dim, activation, self.post, ffn_hidden_dropout)
            for _ in range(n_blocks)
        )
        # pre: a norm of the last block's output (Kang's); post: of the embedding sum instead (RecBole's)
        if self.post:
            self.embedding_norm = nn.LayerNorm(dim, eps=1e-8)
        else:
            self.final_norm = nn.LayerNorm(dim, eps=1e-8)
        self._init(init_std, generator)

    def _init(self, std: float, generator: torch.Generator | None) -> None:
        """Every weight from the given generator (RecBole's scheme), so a seed fixes the model."""
        with torch.no_grad():
            for name, p in self.named_parameters():
                if "norm" in name:
                    p.fill_(1.0 if name.endswith("weight") else 0.0)
                elif name.endswith("bias"):
                    p.zero_()
                else:
                    p.normal_(0.0, std, generator=generator)
            self.item_embedding[0].zero_()

    def embedding_tables(self) -> dict[str, torch.Tensor]:
        return {"item_input": self.item_embedding, "item_output": self.item_embedding}

    # -- the network -------------------------------------------------------------
    def hidden(self, seqs: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        """[B, L] left-padded shifted item ids -> [B, L, dim] states (zero at padding positions)."""
        if seqs.shape[1] > self.max_len:
            raise ValueError(f"sequences of length {seqs.shape[1]} > max_len {self.max_len}")
        real = seqs > 0
        positions = (real.cumsum(1) - 1).clamp_min(0)  # real items before this one: padding-free
        x = gather_rows(self.input_items(deltas), seqs)
        if not self.post:
            x = x * math.sqrt(self.dim)
        x = x + self.position_embedding.index_select(0, positions.reshape(-1)).view_as(x)
        if self.post:
            x = self.embedding_norm(x)
        masks = MaskStream.for_forward(self.dropout_rng, self.dropout, self.training)
        x = _drop(x, self.dropout, self.training, masks) * real.unsqueeze(-1)
        length = seqs.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=seqs.device).tril()
        eye = torch.eye(length, dtype=torch.bool, device=seqs.device)
        attend = (causal & real.unsqueeze(1)) | eye  # [B, L(query), L(key)]
        attend = attend.unsqueeze(1)
        for block in self.blocks:
            x = block(x, attend, masks) * real.unsqueeze(-1)
        return x if self.post else self.final_norm(x) * real.unsqueeze(-1)

    def input_items(self, deltas: Deltas | None = None) -> torch.Tensor:
        """The item embeddings the sequence reads, [n_items + 1, dim] (row 0: padding)."""
        return self.table("item_input", deltas)

    def output_items(self, deltas: Deltas | None = None) -> torch.Tensor:
        """The scored item embeddings, [n_items + 1, dim] (row 0, padding, is never a candidate)."""
        return self.table("item_output", deltas)


@MODELS.register(SASRecConfig, procedure="sequential")
def build_sasrec(
    cfg: SASRecConfig, train: Interactions, generator: torch.Generator, item_features=None
) -> SASRec:
    return SASRec(
        train.n_users,
        train.n_items,
        cfg.dim,
        cfg.n_blocks,
        cfg.n_heads,
        cfg.max_len,
        cfg.dropout,
        cfg.init_std,
        generator,
        ffn_dim=cfg.ffn_dim,
        activation=cfg.activation,
        norm=cfg.norm,
        ffn_hidden_dropout=cfg.ffn_hidden_dropout,
        dropout_rng=cfg.dropout_rng,
    )
