"""The registry of perturbation methods.

A method is a function ``(builder, start, radius, gradient_fn) -> deltas``: ``start`` is Δ = 0, or a random
point of each row's ball when the builder has ``random_start``; ``radius`` each row's budget [n, 1];
``gradient_fn`` the gradient of the objective at the tables + a given Δ (see
``advrec.perturb.builder.PerturbationBuilder``, which calls it and detaches the result). It registers with
its settings class (a ``Component`` whose docstring says what it does) and:

- ``label`` (plots and tables), ``color`` (plots);
- ``probe=True`` if the robustness probe offers it as an attack (``advrec evaluate --attack``);
- ``random_start=True`` if it can start from a random point of the ball;
- ``closed_form=True`` if it builds no Δ at all (an adversary computes its loss at the worst case itself).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from advrec.config.base import Registry
from advrec.models.base import Deltas

GradientFn = Callable[[Deltas], Deltas]
Method = Callable[[Any, Deltas, Deltas, GradientFn], Deltas]
PERTURBATIONS: Registry[Method] = Registry(
    "perturbation method", "adversary.method", "advrec.perturb.methods"
)


def probe_attacks() -> list[str]:
    """The methods the robustness probe offers, in a fixed order."""
    return [entry.name for entry in PERTURBATIONS if entry.info.get("probe")]


def label(name: str) -> str:
    return PERTURBATIONS[name].info.get("label", name) if name in PERTURBATIONS else name


def color(name: str) -> str | None:
    return PERTURBATIONS[name].info.get("color") if name in PERTURBATIONS else None
