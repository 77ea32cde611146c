"""The worst case of the scored table in closed form: no Δ is built. For a dot-product score, moving each
scored row by at most its budget changes a score by at most r·||h||, so the loss at the worst case is
computed directly (SASRec with ``targets: [item_output]``; ``advrec.objectives.sequential``)."""

from __future__ import annotations

from typing import Literal

from advrec.config.base import Component
from advrec.models.base import Deltas
from advrec.perturb.methods.registry import PERTURBATIONS, GradientFn


class WorstCase(Component):
    """The exact per-position worst case of the scored item table, in closed form (SASRec only)."""

    name: Literal["worst_case"] = "worst_case"


@PERTURBATIONS.register(WorstCase, label="worst case", closed_form=True)
def worst_case(builder, start: Deltas, radius: Deltas, gradient_fn: GradientFn) -> Deltas:
    raise ValueError("method 'worst_case' builds no Δ: its loss is computed in closed form")
