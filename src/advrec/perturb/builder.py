"""Perturbation builders: from gradients of the objective to a bounded Δ per embedding row.

Each row is bounded on its own (``eps`` absolute, or relative to the row's norm); rows whose gradient is
zero are not perturbed. How Δ is built from the gradients is the method's (``advrec.perturb.methods``: fgsm,
pgd, random, worst_case, ...); ``random_start`` starts fgsm and pgd from a uniformly random point of each
row's ball instead of Δ = 0.

``universal_step`` (used by the APR hook's ``universal_step`` option) keeps one Δ for the whole table
across batches and moves it by one projected step per batch (universal adversarial training, Shafahi et
al. AAAI 2020): Δ then follows the gradient summed over many batches, i.e. the perturbation of the tables
that hurts the whole training objective, which is what the robustness probe applies, rather than each
batch's own (noisy, for rows the batch barely touches) direction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from advrec.errors import ConfigError
from advrec.models.base import Deltas
from advrec.perturb.methods.registry import PERTURBATIONS
from advrec.perturb.perturbation import EpsMode, project_rows, random_like, row_radius, unit_rows

GradientFn = Callable[[Deltas], Deltas]
"""Gradient of the objective with respect to the tables at Θ + Δ, given Δ (same keys and shapes)."""


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
        if self.method not in PERTURBATIONS:
            raise ValueError(PERTURBATIONS.unknown(self.method))
        info = PERTURBATIONS[self.method].info
        if self.random_start and not info.get("random_start"):
            raise ValueError(f"random_start does not apply to method {self.method!r}")
        if self.eps < 0 or self.pgd_steps < 1 or (self.pgd_alpha is not None and self.pgd_alpha <= 0):
            raise ValueError("need eps >= 0, pgd_steps >= 1, pgd_alpha > 0")
        if self.generator is None:
            self.generator = torch.Generator().manual_seed(0)

    @property
    def closed_form(self) -> bool:
        """Whether the method builds no Δ (its adversary computes the worst-case loss itself)."""
        return self.method in PERTURBATIONS and bool(PERTURBATIONS[self.method].info.get("closed_form"))

    @property
    def rng(self) -> torch.Generator:
        """The builder's generator (random starts, the random control), checkpointed by its users."""
        assert self.generator is not None  # set in __post_init__
        return self.generator

    @property
    def alpha(self) -> float:
        return self.pgd_alpha if self.pgd_alpha is not None else 2.5 / self.pgd_steps

    def __call__(
        self,
        tables: dict[str, torch.Tensor],
        gradient_fn: GradientFn,
        eps: float | None = None,
        scale: Deltas | None = None,
    ) -> Deltas:
        """Δ for every table (detached: the adversary is a fixed point of the outer minimisation).

        ``scale`` multiplies the radius of each row of the tables it names ([n, 1] per table): a
        personalised budget (VAT, PamaCF) instead of the same ε for every row."""
        eps = self.eps if eps is None else eps
        radius = {name: row_radius(t, eps, self.eps_mode) for name, t in tables.items()}
        for name, factor in (scale or {}).items():
            radius[name] = radius[name] * factor
        zeros = {name: torch.zeros_like(t.detach()) for name, t in tables.items()}
        start = self._random_start(zeros, radius) if self.random_start else zeros
        deltas = PERTURBATIONS[self.method].build(self, start, radius, gradient_fn)
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
        return {name: random_like(d, self.rng) for name, d in deltas.items()}

    def _random_start(self, zeros: Deltas, radius: Deltas) -> Deltas:
        """A uniformly random direction per row at a uniformly random fraction of the row's radius."""
        out = {}
        for name, z in zeros.items():
            unit = random_like(torch.ones_like(z), self.rng) / z.shape[1] ** 0.5
            scale = torch.rand((z.shape[0], 1), generator=self.rng, dtype=z.dtype).to(z.device)
            out[name] = unit * scale * radius[name]
        return out
