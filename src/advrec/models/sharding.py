"""Embedding tables sharded over the ranks of a process group with TorchRec (an optional dependency).

TorchRec places each table on the ranks (table-wise: a whole table on one rank; row-wise: a contiguous
block of rows on every rank) and exchanges the looked-up rows and their gradients between ranks (all-to-all,
gloo on CPU, nccl on GPU). FBGEMM applies the optimizer to the rows a batch looked up during the lookup's
backward pass ("fused"): no gradient of a whole table is ever formed. This module holds what the sharded
models share: the import check, the sharding of an ``EmbeddingCollection``, the optimizers FBGEMM fuses,
and the dense view of sharded tensors (checkpoints, evaluation).

Install with ``pip install -e '.[scale]'`` then ``make scale`` (torchrec and fbgemm-gpu-cpu without their
pinned dependencies, which would replace the pinned torch); see the scale guide.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any, Literal

import torch
import torch.distributed as dist
from torch import nn

from advrec.config.optim import OptimizerConfig
from advrec.errors import ConfigError

Sharding = Literal["table_wise", "row_wise"]
SCALE_INSTALL = "install the scale extra with `make scale` in a checkout (see docs/guides/scale.md)"


def require_torchrec(key: str) -> None:
    """Refuse, naming ``key``, when torchrec or fbgemm-gpu is not importable (before anything imports it)."""
    missing = [name for name in ("torchrec", "fbgemm_gpu") if importlib.util.find_spec(name) is None]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise ConfigError(f"{key}: {' and '.join(missing)} {verb} not installed; {SCALE_INSTALL}")


def require_process_group(key: str) -> tuple[int, int]:
    """(rank, world size) of the running process group; a sharded model needs one (``torchrun``)."""
    if not (dist.is_available() and dist.is_initialized()):
        raise ConfigError(
            f"{key}: sharded tables need a process group; launch with torchrun, e.g. "
            "torchrun --standalone --nproc-per-node 2 -m advrec train CONFIG"
        )
    return dist.get_rank(), dist.get_world_size()


def fused_optimizer_params(cfg: OptimizerConfig) -> dict[str, Any]:
    """FBGEMM's fused optimizer equal to the configured torch optimizer (``train.optimizer``). FBGEMM's CPU
    kernels exist for SGD and Adagrad, which equal torch's (a row a batch did not look up has a zero
    gradient: neither moves it); its Adam is lazy and GPU-only, so another algorithm than torch's Adam."""
    from fbgemm_gpu.split_embedding_configs import EmbOptimType

    if cfg.weight_decay or cfg.momentum:
        raise ConfigError(
            "train.optimizer: sharded tables update in the lookup's backward without weight decay or "
            "momentum; use train.l2 for regularisation"
        )
    if cfg.name == "sgd":
        return {"optimizer": EmbOptimType.EXACT_SGD, "learning_rate": cfg.lr}
    if cfg.name == "adagrad":  # torch's Adagrad: eps 1e-10, no initial accumulator
        return {"optimizer": EmbOptimType.EXACT_ADAGRAD, "learning_rate": cfg.lr, "eps": 1e-10}
    raise ConfigError(
        f"train.optimizer.name: {cfg.name!r} has no fused kernel for sharded tables that equals torch's "
        "(FBGEMM's Adam is lazy and has no CPU kernel); use sgd or adagrad"
    )


def shard_collection(
    tables: dict[str, torch.Tensor], sharding: Sharding, fused_params: dict[str, Any], device: torch.device
) -> nn.Module:
    """An ``EmbeddingCollection`` of ``tables`` (name -> initial [rows, dim] weights, one feature of the
    same name per table) under ``DistributedModelParallel`` on the default process group, each table
    table-wise (table k on rank k mod world size) or row-wise, its rows initialised from ``tables``."""
    from torchrec import EmbeddingCollection
    from torchrec import EmbeddingConfig as TableConfig
    from torchrec.distributed.embedding import EmbeddingCollectionSharder
    from torchrec.distributed.model_parallel import DistributedModelParallel
    from torchrec.distributed.sharding_plan import construct_module_sharding_plan, row_wise, table_wise
    from torchrec.distributed.types import ShardingEnv, ShardingPlan

    world = dist.get_world_size()
    configs = [
        TableConfig(name=name, embedding_dim=t.shape[1], num_embeddings=t.shape[0], feature_names=[name])
        for name, t in tables.items()
    ]
    collection = EmbeddingCollection(tables=configs, device=torch.device("meta"))
    kind = device.type
    per_table = {
        name: row_wise(compute_kernel="fused")
        if sharding == "row_wise"
        else table_wise(rank=index % world, compute_kernel="fused")
        for index, name in enumerate(tables)
    }
    sharder = EmbeddingCollectionSharder(fused_params=fused_params)
    plan = construct_module_sharding_plan(
        collection, per_param_sharding=per_table, local_size=world, world_size=world, device_type=kind
    )
    module = DistributedModelParallel(
        collection,
        env=ShardingEnv.from_process_group(dist.group.WORLD),
        plan=ShardingPlan({"": plan}),
        device=device,
        sharders=[sharder],
        init_data_parallel=False,
    )
    for name, table in tables.items():
        scatter_dense(table, weight_of(module, name))
    return module


def weight_of(module: nn.Module, name: str) -> Any:
    """The sharded weight (a ``ShardedTensor``) of table ``name`` of a sharded ``EmbeddingCollection``."""
    return module.state_dict()[f"embeddings.{name}.weight"]


def collective_device() -> torch.device:
    """Where tensors for the process group's collectives live: the GPU for nccl, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _local_blocks(sharded: Any) -> Iterator[tuple[tuple[slice, ...], torch.Tensor]]:
    for shard in sharded.local_shards():
        offsets, sizes = shard.metadata.shard_offsets, shard.metadata.shard_sizes
        yield tuple(slice(o, o + s) for o, s in zip(offsets, sizes)), shard.tensor


def gather_dense(sharded: Any) -> torch.Tensor:
    """The whole tensor of a ``ShardedTensor`` on every rank (a collective: every rank must call it): each
    rank writes its blocks into zeros and one all-reduce adds them (exact: every entry has one writer)."""
    dtype = sharded.metadata().tensor_properties.dtype
    dense = torch.zeros(sharded.size(), dtype=dtype, device=collective_device())
    for index, block in _local_blocks(sharded):
        dense[index] = block
    dist.all_reduce(dense)
    return dense


def scatter_dense(dense: torch.Tensor, sharded: Any) -> None:
    """Write this rank's blocks of ``sharded`` from the whole tensor ``dense`` (no communication)."""
    if tuple(dense.shape) != tuple(sharded.size()):
        raise ValueError(f"shape {tuple(dense.shape)} does not fit a table of {tuple(sharded.size())}")
    with torch.no_grad():
        for index, block in _local_blocks(sharded):
            block.copy_(dense[index])


def gradient_division() -> bool:
    """Whether TorchRec divides the gradients it returns to the owners of rows by the world size (its
    default). Each rank's loss is scaled by world size x its share of the global batch
    (``advrec.train.distributed``) and an owner receives the sum over the ranks, so with the division it
    gets the gradient of the global-batch mean, as a single process would."""
    from torchrec.distributed.comm_ops import get_gradient_division

    return bool(get_gradient_division())


def union_rows(ids: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The sorted distinct ids that any rank passed, and their rows, the same on every rank (collectives).

    ``rows[k]`` is the row of ``ids[k]`` on this rank (a row looked up twice is the same row). Costs two
    all-gathers of ids and one all-reduce of the union's rows: the size of a batch, not of a table. Each
    rank writes the rows it has into a buffer of -inf and the all-reduce takes the maximum, which is
    exactly the row (every rank that has it holds the same value)."""
    device = ids.device
    local, inverse = torch.unique(ids, return_inverse=True)
    local_rows = torch.empty(len(local), rows.shape[1], dtype=rows.dtype, device=device)
    local_rows[inverse] = rows
    world = dist.get_world_size()
    counts = [torch.zeros(1, dtype=torch.long, device=device) for _ in range(world)]
    dist.all_gather(counts, torch.tensor([len(local)], device=device))
    padded = torch.full((int(max(c.item() for c in counts)),), -1, dtype=local.dtype, device=device)
    padded[: len(local)] = local
    everyone = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(everyone, padded)
    union = torch.unique(torch.cat(everyone))
    union = union[union >= 0]
    buffer = torch.full((len(union), rows.shape[1]), -torch.inf, dtype=rows.dtype, device=device)
    buffer[torch.searchsorted(union, local)] = local_rows
    dist.all_reduce(buffer, op=dist.ReduceOp.MAX)
    return union, buffer


def is_sharded(value: Any) -> bool:
    return hasattr(value, "local_shards") and hasattr(value, "metadata")


class FusedOptimizer:
    """The optimizer a procedure steps, for tables FBGEMM updates in the backward pass: ``zero_grad`` and
    ``step`` hand the schedule's learning rate to the kernels (the update itself has happened), and the
    state dict holds the optimizer state (Adagrad's sums) as whole tensors, gathered from the ranks, so
    that a checkpoint written by one rank holds all of it."""

    def __init__(self, fused: Any) -> None:
        self.fused = fused

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.fused.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.fused.zero_grad(set_to_none=set_to_none)

    def step(self, closure: Any = None) -> None:
        self.fused.step()

    def state_dict(self) -> dict[str, Any]:
        """A collective (every rank calls it): the sharded state gathered whole. A rank knows the state of
        the tables it holds only (table-wise: one table each), so the ranks first agree on what there is."""
        own = {
            (param, key): value
            for param, entries in self.fused.state_dict()["state"].items()
            for key, value in entries.items()
            if is_sharded(value)
        }
        described = [(param, key, tuple(v.size()), v.dtype) for (param, key), v in own.items()]
        everyone: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(everyone, described)
        state: dict[str, dict[str, torch.Tensor]] = {}
        for param, key, size, dtype in sorted({entry for rank in everyone for entry in rank}):
            dense = torch.zeros(size, dtype=dtype, device=collective_device())
            if (param, key) in own:
                for index, block in _local_blocks(own[param, key]):
                    dense[index] = block
            dist.all_reduce(dense)
            state.setdefault(param, {})[key] = dense
        return {"state": state, "lrs": [group["lr"] for group in self.param_groups]}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        for param, entries in self.fused.state_dict()["state"].items():
            for key, value in entries.items():
                if is_sharded(value):
                    scatter_dense(saved["state"][param][key], value)
        for group, lr in zip(self.param_groups, saved["lrs"]):
            group["lr"] = lr
