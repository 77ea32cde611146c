"""Perturbation builders: from gradients of the objective to a bounded Δ per embedding row.

Methods (each row bounded on its own; rows whose gradient is zero are not perturbed):

- ``fgsm``: Δ = r · g / ||g|| (APR, He et al. SIGIR 2018), r the row's radius;
- ``fgsm_sign``: Δ = r · sign(g) (Goodfellow et al.); its row norm is r·√d, an L∞ budget;
- ``pgd``: k steps Δ ← Π_r(Δ + α r · g/||g||), g taken at Θ + Δ, Π the projection onto the L2 ball;
- ``random``: the ``fgsm`` perturbation's per-row norms in uniformly random directions (the control).

``random_start`` (fgsm, pgd): start from a uniformly random point of each row's ball instead of Δ = 0;
for fgsm the step from there is 1.25 r along the gradient, then projected (FGSM-RS, Wong et al. ICLR 2020,
"Fast is better than free": a zero-start FGSM adversary trains models that resist that one direction and
become more sensitive around it, which the random start prevents).

``universal_step`` (a method of its own, used by the APR hook's ``universal_step`` option) keeps one Δ for
the whole table across batches and moves it by one projected step per batch (universal adversarial
training, Shafahi et al. AAAI 2020): Δ then follows the gradient summed over many batches, i.e. the
perturbation of the tables that hurts the whole training objective, which is what the robustness probe
applies, rather than each batch's own (noisy, for rows the batch barely touches) direction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from advrec.errors import ConfigError
from advrec.models.base import Deltas
from advrec.perturb.perturbation import EpsMode, project_rows, random_like, row_radius, unit_rows

GradientFn = Callable[[Deltas], Deltas]
"""Gradient of the objective with respect to the tables at Θ + Δ, given Δ (same keys and shapes)."""

METHODS = ("fgsm", "fgsm_sign", "pgd", "random")
# Adversaries of the APR hook that build no Δ: the loss at the worst case is computed in closed form.
CLOSED_FORM = ("worst_case",)


def select_tables(
    tables: dict[str, torch.Tensor], targets: Sequence[str] | None, key: str = "adversary.targets"
) -> dict[str, torch.Tensor]:
    """The tables an adversary perturbs: all of them for ``targets=None``, else those named (in the
    model's order). An unknown name is a ConfigError naming ``key`` and the model's tables."""
    if targets is None:
        return dict(tables)
    unknown = [t for t in targets if t not in tables]
    if unknown or not targets:
        raise ConfigError(
            f"{key}: {', '.join(map(repr, unknown)) or 'empty list'} is not a table of this model; "
            f"its tables: {', '.join(tables)}"
        )
    return {name: t for name, t in tables.items() if name in targets}


@dataclass
class PerturbationBuilder:
    method: str = "fgsm"
    eps: float = 0.5
    eps_mode: EpsMode = "absolute"
    pgd_steps: int = 3
    pgd_alpha: float | None = None
    """PGD step as a fraction of the radius; default 2.5 / pgd_steps (Madry et al.), so that k steps can
    cross the ball and back. Fraction of ε rather than absolute: it follows an ε ramp and eps_mode."""
    generator: torch.Generator | None = None
    random_start: bool = False

    def __post_init__(self) -> None:
        if self.method not in METHODS + CLOSED_FORM:
            valid = ", ".join(METHODS + CLOSED_FORM)
            raise ValueError(f"unknown perturbation method {self.method!r}; valid: {valid}")
        if self.random_start and self.method not in ("fgsm", "pgd"):
            raise ValueError(f"random_start applies to fgsm and pgd, not {self.method!r}")
        if self.eps < 0 or self.pgd_steps < 1 or (self.pgd_alpha is not None and self.pgd_alpha <= 0):
            raise ValueError("need eps >= 0, pgd_steps >= 1, pgd_alpha > 0")
        if self.generator is None:
            self.generator = torch.Generator().manual_seed(0)

    @property
    def alpha(self) -> float:
        return self.pgd_alpha if self.pgd_alpha is not None else 2.5 / self.pgd_steps

    def __call__(
        self, tables: dict[str, torch.Tensor], gradient_fn: GradientFn, eps: float | None = None
    ) -> Deltas:
        """Δ for every table (detached: the adversary is a fixed point of the outer minimisation)."""
        if self.method in CLOSED_FORM:
            raise ValueError(f"method {self.method!r} builds no Δ: its loss is computed in closed form")
        eps = self.eps if eps is None else eps
        radius = {name: row_radius(t, eps, self.eps_mode) for name, t in tables.items()}
        zeros = {name: torch.zeros_like(t.detach()) for name, t in tables.items()}
        start = self._random_start(zeros, radius) if self.random_start else zeros
        if self.method == "pgd":
            deltas = self._pgd(start, radius, gradient_fn)
        elif self.random_start:  # FGSM-RS: one step of 1.25 r from the random start
            grads = gradient_fn(start)
            deltas = {
                name: project_rows(d + 1.25 * radius[name] * unit_rows(grads[name]), radius[name])
                for name, d in start.items()
            }
        else:
            grads = gradient_fn(zeros)
            if self.method == "fgsm_sign":
                deltas = {name: radius[name] * torch.sign(g) for name, g in grads.items()}
            else:
                deltas = {name: radius[name] * unit_rows(g) for name, g in grads.items()}
                if self.method == "random":
                    deltas = self.random_like(deltas)
        return {name: d.detach() for name, d in deltas.items()}

    def universal_step(
        self, tables: dict[str, torch.Tensor], gradient_fn: GradientFn, kept: Deltas, step: float, eps: float
    ) -> Deltas:
        """One step of a persistent Δ: Π_r(Δ + step · r · g/||g||), g taken at Θ + Δ (rows the batch
        does not touch keep their Δ, shrunk onto the ball if their radius shrank). Detached."""
        radius = {name: row_radius(t, eps, self.eps_mode) for name, t in tables.items()}
        grads = gradient_fn(kept)
        return {
            name: project_rows(d + step * radius[name] * unit_rows(grads[name]), radius[name]).detach()
            for name, d in kept.items()
        }

    def random_like(self, deltas: Deltas) -> Deltas:
        """Same per-row norms as ``deltas``, random directions (advances this builder's generator)."""
        return {name: random_like(d, self.generator) for name, d in deltas.items()}

    def _random_start(self, zeros: Deltas, radius: Deltas) -> Deltas:
        """A uniformly random direction per row at a uniformly random fraction of the row's radius."""
        out = {}
        for name, z in zeros.items():
            unit = random_like(torch.ones_like(z), self.generator) / z.shape[1] ** 0.5
            scale = torch.rand((z.shape[0], 1), generator=self.generator, dtype=z.dtype).to(z.device)
            out[name] = unit * scale * radius[name]
        return out

    def _pgd(self, deltas: Deltas, radius: Deltas, gradient_fn: GradientFn) -> Deltas:
        for _ in range(self.pgd_steps):
            grads = gradient_fn(deltas)
            deltas = {
                name: project_rows(d + self.alpha * radius[name] * unit_rows(grads[name]), radius[name])
                for name, d in deltas.items()
            }
        return deltas
