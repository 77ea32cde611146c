"""Matrix factorisation with its user and item tables sharded over the ranks (TorchRec, optional).

The same model as ``mf`` (score(u, i) = <p_u, q_i>, the same initial weights from the same seed), with
its tables in a TorchRec ``EmbeddingCollection`` under ``DistributedModelParallel``: table-wise (the user
table on rank 0, the item table on rank 1 mod the world size) or row-wise (each table cut into contiguous
blocks of rows, one per rank). Launched with ``torchrun``; each rank trains on its slice of every batch
(``advrec.train.distributed``), looks up the rows of its slice from whichever ranks own them, and FBGEMM
updates the owners' rows in the lookup's backward pass.

One lookup per batch: every term of a batch's loss (the pair loss, the L2 of the rows used, an
adversary's term) must reach the tables through one lookup, since each lookup's backward is one optimizer
step. The model therefore keeps the rows it looked up for the batch's users tensor and serves the batch's
later calls (``reg_loss``, an adversary's scores) from them.

An adversary perturbs the rows the global batch looked up (``batch_tables``). Evaluation, checkpoints and
whole-table perturbations (``embedding_tables``: the robustness probe) use the whole tables, gathered on
every rank: exact, but each rank then holds the whole tables for as long as it evaluates or saves.
"""

from __future__ import annotations

import weakref
from typing import Literal

import torch
from pydantic import Field

from advrec.config.optim import OptimizerConfig
from advrec.data.interactions import Interactions
from advrec.models.base import Deltas, ShardedRecommender, gather_rows, init_embedding
from advrec.models.registry import MODELS, EmbeddingConfig
from advrec.models.sharding import (
    FusedOptimizer,
    fused_optimizer_params,
    gather_dense,
    gradient_division,
    require_process_group,
    require_torchrec,
    scatter_dense,
    shard_collection,
    union_rows,
    weight_of,
)

TABLES = {"user": "user_embedding.weight", "item": "item_embedding.weight"}  # names as MF's state dict


class ShardedMFConfig(EmbeddingConfig):
    """MF whose user and item tables are sharded over the ranks of a torchrun job (TorchRec; trained with
    train.optimizer sgd or adagrad, FBGEMM's fused kernels)."""

    name: Literal["sharded_mf"] = "sharded_mf"
    sharding: Literal["table_wise", "row_wise"] = Field(
        "row_wise",
        description="table_wise: each whole table on one rank (user on rank 0, item on rank 1); row_wise: "
        "every table cut into one block of rows per rank",
    )


class ShardedMF(ShardedRecommender):
    def __init__(
        self,
        n_users: int,
        n_items: int,
        dim: int,
        init_std: float,
        sharding: Literal["table_wise", "row_wise"],
        world_size: int,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(n_users, n_items)
        self.dim = dim
        self.sharding = sharding
        self.world_size = world_size
        # MF's draws in MF's order, so that a sharded run starts from the single-process run's weights
        initial = {
            "user": init_embedding(n_users, dim, init_std, generator).weight.detach(),
            "item": init_embedding(n_items, dim, init_std, generator).weight.detach(),
        }
        self._initial: dict[str, torch.Tensor] | None = initial
        self.collection: torch.nn.Module | None = None
        self._batch: tuple[weakref.ref, torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self._batch_ids: tuple[weakref.ref, dict[str, torch.Tensor]] | None = None  # see batch_tables

    # -- placement ---------------------------------------------------------------------
    def shard(self, optimizer: OptimizerConfig, device: torch.device) -> FusedOptimizer:
        if self._initial is None:
            raise RuntimeError("the tables are sharded already")
        self.collection = shard_collection(
            self._initial, self.sharding, fused_optimizer_params(optimizer), torch.device(device)
        )
        self._initial = None
        return FusedOptimizer(self.collection.fused_optimizer)

    def _dense(self, name: str) -> torch.Tensor:
        """The whole table (gathered from the ranks once sharded: a collective)."""
        if self._initial is not None:
            return self._initial[name]
        assert self.collection is not None
        return gather_dense(weight_of(self.collection, name))

    # -- the whole tables ----------------------------------------------------------------
    def embedding_tables(self) -> dict[str, torch.Tensor]:
        return {name: self._dense(name) for name in TABLES}

    def state_dict(self, *args, **kwargs) -> dict[str, torch.Tensor]:  # type: ignore[override]
        """The whole tables under MF's keys (gathered: every rank calls it)."""
        return {key: self._dense(name) for name, key in TABLES.items()}

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):  # type: ignore[override]
        unknown = set(state_dict) - set(TABLES.values())
        missing = set(TABLES.values()) - set(state_dict)
        if strict and (unknown or missing):
            raise KeyError(f"sharded_mf state: missing {sorted(missing)}, unexpected {sorted(unknown)}")
        for name, key in TABLES.items():
            if key not in state_dict:
                continue
            if self._initial is not None:
                self._initial[name].copy_(state_dict[key])
            else:
                assert self.collection is not None
                scatter_dense(state_dict[key].to(torch.float32), weight_of(self.collection, name))

    def _check(self, deltas: Deltas | None) -> None:
        shapes = {"user": (self.n_users, self.dim), "item": (self.n_items, self.dim)}
        for name, delta in (deltas or {}).items():
            if name not in shapes:
                raise KeyError(f"delta for unknown table {name!r}; tables: user, item")
            if tuple(delta.shape) != shapes[name]:
                raise ValueError(f"delta {name!r} has shape {tuple(delta.shape)}, table {shapes[name]}")

    # -- lookups -------------------------------------------------------------------------
    def _lookup(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows of ``users`` [N] and ``items`` (any shape), from the ranks that own them."""
        if self.collection is None:
            raise RuntimeError("sharded_mf: call shard() before scoring")
        from torchrec import KeyedJaggedTensor

        flat, n_users = items.reshape(-1), users.numel()
        # a KeyedJaggedTensor has one length per sample and key: each user id is a sample of one row, and
        # the first sample carries every item id (samples' item lists need not match the users')
        item_lengths = torch.zeros(n_users, dtype=torch.int32, device=users.device)
        if n_users:
            item_lengths[0] = flat.numel()
        features = KeyedJaggedTensor(
            keys=list(TABLES),
            values=torch.cat([users.reshape(-1), flat]),
            lengths=torch.cat([torch.ones_like(item_lengths), item_lengths]),
        )
        out = self.collection(features)
        u, i = out["user"].values(), out["item"].values()
        if not gradient_division():  # see gradient_division: the owner must get the global-batch mean
            u, i = u / self.world_size, i / self.world_size
        return u, i.view(*items.shape, self.dim)

    def _rows(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's rows: looked up once per users tensor while training, then served from memory."""
        training = self.training and torch.is_grad_enabled()
        if training and self._batch is not None:
            ref, seen_items, u, i = self._batch
            if ref() is users and seen_items.shape == items.shape and torch.equal(seen_items, items):
                return u, i
        u, i = self._lookup(users, items)
        self._batch = (weakref.ref(users), items, u, i) if training else None
        return u, i

    def batch_tables(self, users: torch.Tensor) -> dict[str, torch.Tensor]:
        """The rows of each table that the global batch uses, [K, dim] in the order of their sorted ids,
        the same on every rank (a collective). The batch is the one whose scores were computed last for
        ``users`` (this rank's slice); until the next batch, deltas of these shapes perturb these rows
        (``score``), so an adversary needs neither the whole tables nor their gradients."""
        batch = self._batch
        if batch is None or batch[0]() is not users:
            raise RuntimeError("batch_tables: score this batch first (its rows come from its lookup)")
        _, items, u, i = batch
        ids, rows = {}, {}
        for name, index, looked_up in (("user", users, u), ("item", items, i)):
            ids[name], rows[name] = union_rows(index.reshape(-1), looked_up.detach().reshape(-1, self.dim))
        self._batch_ids = (weakref.ref(users), ids)
        return rows

    def _compact_for(self, users: torch.Tensor) -> bool:
        """Whether deltas given with ``users`` perturb the batch's rows (``batch_tables`` was called)."""
        return self._batch_ids is not None and self._batch_ids[0]() is users

    def _compact_rows(self, name: str, deltas: Deltas, index: torch.Tensor) -> torch.Tensor:
        assert self._batch_ids is not None
        ids = self._batch_ids[1][name]
        delta = deltas[name]
        if tuple(delta.shape) != (len(ids), self.dim):
            raise ValueError(
                f"delta {name!r} has shape {tuple(delta.shape)}, the batch's rows {len(ids), self.dim}"
            )
        return gather_rows(delta, torch.searchsorted(ids, index))

    def score(self, users: torch.Tensor, items: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        compact = bool(deltas) and self._compact_for(users)
        if not compact:
            self._check(deltas)
        u, i = self._rows(users, items)
        if deltas and "user" in deltas:
            u = u + (
                self._compact_rows("user", deltas, users) if compact else gather_rows(deltas["user"], users)
            )
        if deltas and "item" in deltas:
            i = i + (
                self._compact_rows("item", deltas, items) if compact else gather_rows(deltas["item"], items)
            )
        if items.dim() == 2:
            return (u.unsqueeze(1) * i).sum(-1)
        return (u * i).sum(-1)

    def reg_loss(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Half the squared norms of the rows used: from the batch's lookup when ``items`` are the rows its
        scores used (the objective's pairs and negatives, in another order), else a lookup of its own."""
        batch = self._batch
        if batch is not None and batch[0]() is users:
            seen = batch[1].reshape(-1)
            if seen.numel() == items.numel() and torch.equal(
                seen.sort().values, items.reshape(-1).sort().values
            ):
                return 0.5 * (batch[2].pow(2).sum() + batch[3].pow(2).sum())
        u, i = self._lookup(users, items)
        return 0.5 * (u.pow(2).sum() + i.pow(2).sum())

    def full_scores(self, users: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        return self.scorer(deltas)(users)

    def scorer(self, deltas: Deltas | None = None):
        """Scores from the whole tables, gathered once per call (every rank calls it)."""
        self._check(deltas)
        tables = self.embedding_tables()
        user = tables["user"] + deltas["user"] if deltas and "user" in deltas else tables["user"]
        item = tables["item"] + deltas["item"] if deltas and "item" in deltas else tables["item"]
        return lambda users: gather_rows(user, users) @ item.T


@MODELS.register(ShardedMFConfig, sharded=True, dense="mf")
def build_sharded_mf(
    cfg: ShardedMFConfig, train: Interactions, generator: torch.Generator, item_features=None
) -> ShardedMF:
    require_torchrec("model.name sharded_mf")
    _, world = require_process_group("model.name sharded_mf")
    return ShardedMF(train.n_users, train.n_items, cfg.dim, cfg.init_std, cfg.sharding, world, generator)
