"""Row-wise perturbation algebra on embedding tables: norms, directions, radii, projection.

Every embedding row (one user or one item) is perturbed on its own, as in APR: the budget ε bounds
each row's L2 norm, either absolutely or relative to that row's current norm.
"""

from __future__ import annotations

from typing import Literal

import torch

EpsMode = Literal["absolute", "relative"]


def row_norms(x: torch.Tensor) -> torch.Tensor:
    """L2 norm of each row, shaped [n, 1] so that it broadcasts against the table."""
    return torch.linalg.vector_norm(x, dim=1, keepdim=True)


def unit_rows(g: torch.Tensor) -> torch.Tensor:
    """Each row scaled to norm 1; rows that are all zero stay zero (no direction, no perturbation)."""
    norms = row_norms(g)
    return torch.where(
        norms > 0, g / torch.where(norms > 0, norms, torch.ones_like(norms)), torch.zeros_like(g)
    )


def row_radius(table: torch.Tensor, eps: float, mode: EpsMode) -> torch.Tensor:
    """Per-row budget [n, 1]: ε, or ε times the row's norm (scale-free across models and inits)."""
    if mode == "absolute":
        return torch.full((table.shape[0], 1), float(eps), dtype=table.dtype, device=table.device)
    if mode == "relative":
        return float(eps) * row_norms(table.detach())
    raise ValueError(f"eps_mode must be 'absolute' or 'relative', got {mode!r}")


def project_rows(delta: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Each row pulled back onto the L2 ball of its radius (rows inside are left alone)."""
    norms = row_norms(delta)
    too_long = norms > radius
    shrink = torch.where(too_long, radius / torch.where(too_long, norms, torch.ones_like(norms)), 1.0)
    return delta * shrink


def random_like(delta: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Uniformly random directions with exactly the per-row norms of ``delta``: the control that tells
    a worst-case direction from mere noise of the same size. Drawn on the CPU so that the stream does
    not depend on the device."""
    noise = torch.randn(delta.shape, generator=generator, dtype=delta.dtype).to(delta.device)
    return unit_rows(noise) * row_norms(delta)
