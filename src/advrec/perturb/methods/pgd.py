"""PGD on embeddings (Madry et al., ICLR 2018): k steps Δ ← Π_r(Δ + α r · g/||g||), g taken at Θ + Δ, Π the
projection onto each row's L2 ball (``pgd_steps`` k, ``pgd_alpha`` α as a fraction of the radius, default
2.5 / k so that k steps can cross the ball and back)."""

from __future__ import annotations

from typing import Literal

from advrec.config.base import Component
from advrec.models.base import Deltas
from advrec.perturb.methods.registry import PERTURBATIONS, GradientFn
from advrec.perturb.perturbation import project_rows, unit_rows


class PGD(Component):
    """Projected gradient steps inside each row's ball (``pgd_steps``, ``pgd_alpha``)."""

    name: Literal["pgd"] = "pgd"


@PERTURBATIONS.register(PGD, label="PGD", color="tab:red", probe=True, random_start=True)
def pgd(builder, start: Deltas, radius: Deltas, gradient_fn: GradientFn) -> Deltas:
    deltas = start
    for _ in range(builder.pgd_steps):
        grads = gradient_fn(deltas)
        deltas = {
            n: project_rows(d + builder.alpha * radius[n] * unit_rows(grads[n]), radius[n])
            for n, d in deltas.items()
        }
    return deltas
