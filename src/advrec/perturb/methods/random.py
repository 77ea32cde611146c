"""The control: the FGSM perturbation's per-row norms in uniformly random directions. An adversary is
meaningful to the extent it beats this."""

from __future__ import annotations

from typing import Literal

from advrec.config.base import Component
from advrec.models.base import Deltas
from advrec.perturb.methods.registry import PERTURBATIONS, GradientFn
from advrec.perturb.perturbation import unit_rows


class RandomDirections(Component):
    """FGSM's per-row norms, random directions (the control)."""

    name: Literal["random"] = "random"


@PERTURBATIONS.register(RandomDirections, label="random")
def random_directions(builder, start: Deltas, radius: Deltas, gradient_fn: GradientFn) -> Deltas:
    grads = gradient_fn(start)
    return builder.random_like({n: radius[n] * unit_rows(g) for n, g in grads.items()})
