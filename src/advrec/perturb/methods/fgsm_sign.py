"""FGSM with the sign of the gradient (Goodfellow et al., ICLR 2015): Δ = r · sign(g) per row. Its row
norm is r·√d: an L∞ budget of r, not the L2 one of ``fgsm``."""

from __future__ import annotations

from typing import Literal

import torch

from advrec.config.base import Component
from advrec.models.base import Deltas
from advrec.perturb.methods.registry import PERTURBATIONS, GradientFn


class FGSMSign(Component):
    """One step of the row's budget along the sign of the gradient (an L-inf budget)."""

    name: Literal["fgsm_sign"] = "fgsm_sign"


@PERTURBATIONS.register(FGSMSign, label="FGSM-sign")
def fgsm_sign(builder, start: Deltas, radius: Deltas, gradient_fn: GradientFn) -> Deltas:
    grads = gradient_fn(start)
    return {n: radius[n] * torch.sign(g) for n, g in grads.items()}
