"""Gradients of a loss with respect to additive perturbations of the embedding tables."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.distributed as dist

from advrec.models.base import Deltas

LossOfDeltas = Callable[[Deltas], torch.Tensor]


def delta_gradients(loss_fn: LossOfDeltas, deltas: Deltas) -> Deltas:
    """d loss(Θ + Δ) / dΔ at the given Δ, one dense tensor per table (zeros where the loss does not
    depend on a row). Only Δ is differentiated, so parameters' ``.grad`` are left untouched."""
    leaves = {name: d.detach().requires_grad_(True) for name, d in deltas.items()}
    with torch.enable_grad():
        loss = loss_fn(leaves)
        grads = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)
    return {
        name: torch.zeros_like(leaf) if g is None else g for (name, leaf), g in zip(leaves.items(), grads)
    }


def global_mean_gradients(grads: Deltas, n_local: int) -> Deltas:
    """Under DDP, the gradient of the global batch mean from each rank's local-mean gradient.

    Each rank scores only its slice of the batch, so its gradient misses rows the other slices use;
    summing ``n_local * grad`` over ranks and dividing by the global count gives every rank the
    single-process gradient (up to summation order), hence the same perturbation. A no-op otherwise.
    """
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return grads
    any_grad = next(iter(grads.values()))
    count = torch.tensor([float(n_local)], dtype=any_grad.dtype, device=any_grad.device)
    dist.all_reduce(count)
    out = {}
    for name, g in grads.items():
        total = g * n_local
        dist.all_reduce(total)
        out[name] = total / count.clamp_min(1.0)
    return out
