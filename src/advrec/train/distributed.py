"""Data parallelism under ``torchrun`` (gloo on CPU, nccl on GPU), handled in one place.

How a global batch is shared: every rank builds the same epoch (same sampler seed), cuts each global
batch into ``world_size`` contiguous slices and trains on its own slice. Each rank's loss is scaled by
``world_size * n_local / n_global``, and after ``backward`` every procedure's guarded step averages the
gradients across ranks (``average_gradients``), which then equal the gradient of the single-process
global batch mean, also for an uneven last batch. Parameters therefore match a single-process run up
to floating-point summation order. One all-reduce after the whole backward (rather than DDP's hooks on
one forward) serves procedures with several forwards per step: plain and adversarial, a GAN's players.

A pairwise epoch's last batch with fewer rows than ranks is skipped under torchrun (some rank would have
no row to score); the single-process run trains it, so the two then differ by that batch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def shard(self, n: int) -> tuple[int, int]:
        """This rank's [start, stop) of a global batch of n rows."""
        per = -(-n // self.world_size)
        start = min(n, self.rank * per)
        return start, min(n, start + per)

    def every_rank_gets_rows(self, n: int) -> bool:
        """Whether a global batch of n rows leaves no rank without a row (a rank with none would score
        an empty slice: a NaN loss on that rank alone, and a failed step)."""
        return n >= self.world_size

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def init_distributed(device: str) -> DistContext:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); otherwise single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend=backend)
    if device.startswith("cuda"):
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size())


def shutdown_distributed(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def average_gradients(params: Sequence[nn.Parameter], world_size: int) -> None:
    """Every rank's gradients replaced by their mean over the ranks, in one all-reduce of one buffer (one
    per parameter costs more than the step itself). A parameter a rank's slice did not use still joins,
    with a zero gradient."""
    grads = []
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        grads.append(p.grad)
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def global_sum(value: float, ctx: DistContext) -> float:
    """``value`` summed over the ranks (itself in one process)."""
    if not ctx.enabled:
        return value
    total = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(total)
    return float(total.item())
