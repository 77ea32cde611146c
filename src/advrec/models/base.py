"""What every model offers. A ``Recommender`` scores user ids: pair scores, full scores for a batch of
users, and a scorer; a ``SequentialRecommender`` scores the next item after a history of items.

Models only score. Losses, sampling and adversaries live elsewhere and call these methods.

Every scoring method takes optional ``deltas``: additive perturbations of the embedding tables, keyed
like ``embedding_tables()``, each of the full table's shape, added to the table before lookup. This is
what perturbation-based adversaries (APR) and robustness probes need; with ``deltas=None`` (or a dict
without a table's key) a model computes exactly what it computed before. A table may also be a fixed
input held as a buffer (``MFFeatures``'s ``item_features``): its delta perturbs the input, not a weight.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from advrec.config.optim import OptimizerConfig

Scorer = Callable[[torch.Tensor], torch.Tensor]
Deltas = dict[str, torch.Tensor]


class ScoringModel(nn.Module):
    """What every model shares: its sizes and the tables a perturbation may move."""

    def __init__(self, n_users: int, n_items: int):
        super().__init__()
        self.n_users = n_users
        self.n_items = n_items

    def embedding_tables(self) -> dict[str, torch.Tensor]:
        """The perturbable tables by name (the keys ``deltas`` may use): parameters, or input buffers."""
        raise NotImplementedError

    def table(self, name: str, deltas: Deltas | None) -> torch.Tensor:
        """The named embedding table, plus its delta when one is given (the parameter itself otherwise)."""
        weight = self.embedding_tables()[name]
        if deltas is None or name not in deltas:
            return weight
        return weight + deltas[name]


class Recommender(ScoringModel):
    """A model that scores items for user ids (MF, NeuMF, LightGCN, GAN recommenders, ...)."""

    def score(self, users: torch.Tensor, items: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        """Scores of (user, item) pairs: ``users`` [N], ``items`` [N] or [N, M] -> same shape as items."""
        raise NotImplementedError

    def full_scores(self, users: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        """Scores of every item for each user: [B] -> [B, n_items]."""
        raise NotImplementedError

    def scorer(self, deltas: Deltas | None = None) -> Scorer:
        """A function users -> [B, n_items] for evaluation; models that propagate do it once here."""
        if deltas is None:
            return self.full_scores  # a bound method: evaluation finds the model's device through it
        return lambda users: self.full_scores(users, deltas)

    def reg_loss(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Half the squared L2 norm of the parameters this batch used (summed over rows)."""
        raise NotImplementedError


class ShardedRecommender(Recommender):
    """A recommender whose tables are split over the ranks of a process group (``advrec.models.sharding``).

    It exchanges looked-up rows and their gradients between the ranks itself, and its optimizer updates
    the rows in the lookup's backward pass: a procedure neither averages its gradients nor steps a torch
    optimizer over its parameters, but steps the optimizer ``shard`` returns (for the learning-rate
    schedule and the checkpoint). Its ``state_dict`` and ``embedding_tables`` are the whole tables,
    gathered from the ranks: collectives, which every rank calls together."""

    def shard(self, optimizer: OptimizerConfig, device: torch.device) -> Any:
        """Place the tables on the ranks, updated by ``optimizer``; return the optimizer to step."""
        raise NotImplementedError

    def batch_tables(self, users: torch.Tensor) -> dict[str, torch.Tensor]:
        """The rows of each table the global batch uses (the batch last scored for this rank's ``users``),
        the same on every rank; deltas of their shapes, given with the same ``users``, perturb these rows.
        What an adversary perturbs instead of the whole tables."""
        raise NotImplementedError


class SequentialRecommender(ScoringModel):
    """A model that scores the next item after a history of items (SASRec, ...), not user ids.

    Histories are [B, L] tensors of shifted item ids (item index + 1), left-padded with 0, at most
    ``max_len`` long; the sequential protocol (``advrec.measure.sequential``) evaluates such models."""

    max_len: int

    def hidden(self, seqs: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        """[B, L] histories -> [B, L, dim] states (zero at padding positions)."""
        raise NotImplementedError

    def output_items(self, deltas: Deltas | None = None) -> torch.Tensor:
        """The scored item embeddings, [n_items + 1, dim] (row 0, padding, is never a candidate)."""
        raise NotImplementedError

    def sequence_scores(self, seqs: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        """Next-item scores of every item after each history: [B, L] -> [B, n_items]."""
        last = self.hidden(seqs, deltas)[:, -1]
        return last @ self.output_items(deltas)[1:].T


def check_deltas(model: Recommender, deltas: Deltas | None) -> None:
    """Fail loudly on a misspelled table name or a wrong shape (a silent no-op would hide bugs)."""
    if not deltas:
        return
    tables = model.embedding_tables()
    for name, delta in deltas.items():
        if name not in tables:
            raise KeyError(f"delta for unknown table {name!r}; tables: {', '.join(tables)}")
        if delta.shape != tables[name].shape:
            raise ValueError(
                f"delta {name!r} has shape {tuple(delta.shape)}, table {tuple(tables[name].shape)}"
            )


def gather_rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[index]`` for an index of any shape (index_select: the fast gather on CPU)."""
    return table.index_select(0, index.reshape(-1)).view(*index.shape, -1)


def init_embedding(n: int, dim: int, std: float, generator: torch.Generator | None) -> nn.Embedding:
    emb = nn.Embedding(n, dim)
    with torch.no_grad():
        emb.weight.normal_(0.0, std, generator=generator)
    return emb
