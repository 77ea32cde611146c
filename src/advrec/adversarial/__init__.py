"""Adversaries: perturbations of embedding tables, and the hooks that train against them."""

from advrec.adversarial.apr import APRHook
from advrec.adversarial.builder import METHODS, GradientFn, PerturbationBuilder, select_tables
from advrec.adversarial.gradients import delta_gradients, global_mean_gradients
from advrec.adversarial.perturbation import project_rows, random_like, row_norms, row_radius, unit_rows
from advrec.adversarial.registry import ADVERSARIES, build_adversary

__all__ = [
    "ADVERSARIES",
    "APRHook",
    "METHODS",
    "GradientFn",
    "PerturbationBuilder",
    "build_adversary",
    "delta_gradients",
    "global_mean_gradients",
    "project_rows",
    "random_like",
    "row_norms",
    "row_radius",
    "select_tables",
    "unit_rows",
]
