"""FGSM on embeddings (APR, He et al., SIGIR 2018): Δ = r · g / ||g|| per row, r the row's radius.

With ``random_start`` (FGSM-RS, Wong et al., ICLR 2020, "Fast is better than free"): from a uniformly
random point of each row's ball, one step of 1.25 r along the gradient there, projected back onto the
ball (a zero-start FGSM adversary trains models that resist that one direction and grow more sensitive
around it, which the random start prevents)."""

from __future__ import annotations

from typing import Literal

from advrec.config.base import Component
from advrec.models.base import Deltas
from advrec.perturb.methods.registry import PERTURBATIONS, GradientFn
from advrec.perturb.perturbation import project_rows, unit_rows


class FGSM(Component):
    """One step of the row's budget along the normalised gradient (APR's adversary)."""

    name: Literal["fgsm"] = "fgsm"


@PERTURBATIONS.register(FGSM, label="FGSM", color="tab:blue", probe=True, random_start=True)
def fgsm(builder, start: Deltas, radius: Deltas, gradient_fn: GradientFn) -> Deltas:
    grads = gradient_fn(start)
    if builder.random_start:
        return {
            n: project_rows(d + 1.25 * radius[n] * unit_rows(grads[n]), radius[n]) for n, d in start.items()
        }
    return {n: radius[n] * unit_rows(g) for n, g in grads.items()}
