"""Gradients of a loss with respect to additive perturbations of the embedding tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch
import torch.distributed as dist

from advrec.models.base import Deltas

LossOfDeltas = Callable[[Deltas], torch.Tensor]


class PairLoss(Protocol):
    """What the full-data gradient needs of an objective (``advrec.objectives``): its loss term that an
    adversary perturbs, at the tables plus ``deltas``."""

    def pair_loss(
        self, model: Any, batch: dict[str, torch.Tensor], deltas: Deltas | None = None
    ) -> torch.Tensor: ...


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


def full_data_gradient_fn(
    model: torch.nn.Module, objective: PairLoss, batches: list[dict[str, torch.Tensor]]
) -> Callable[[Deltas], Deltas]:
    """Gradient of the mean pair loss over all batches w.r.t. the tables at Θ + Δ, cached at Δ = 0
    (FGSM for several ε needs the same gradient; it is one full pass over the training data)."""
    total = sum(len(b["users"]) for b in batches)
    cache: dict[str, Deltas] = {}

    def gradient_fn(deltas: Deltas) -> Deltas:
        at_zero = all(not d.any() for d in deltas.values())
        if at_zero and "zero" in cache:
            return cache["zero"]
        acc = {name: torch.zeros_like(d) for name, d in deltas.items()}
        for batch in batches:

            def loss_of(d: Deltas, b: dict[str, torch.Tensor] = batch) -> torch.Tensor:
                return objective.pair_loss(model, b, d)

            grads = delta_gradients(loss_of, deltas)
            for name, g in grads.items():
                acc[name] += g * (len(batch["users"]) / total)
        if at_zero:
            cache["zero"] = acc
        return acc

    return gradient_fn
