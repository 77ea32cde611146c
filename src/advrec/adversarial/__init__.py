"""Adversaries: perturbations of embedding tables, and the hooks that train against them (APR), plus
noise-based contrastive views of LightGCN's propagation (SimGCL, XSimGCL)."""

from advrec.adversarial.apr import APRHook
from advrec.adversarial.builder import METHODS, GradientFn, PerturbationBuilder, select_tables
from advrec.adversarial.gradients import delta_gradients, global_mean_gradients
from advrec.adversarial.perturbation import project_rows, random_like, row_norms, row_radius, unit_rows
from advrec.adversarial.registry import ADVERSARIES, build_adversary
from advrec.adversarial.simgcl import SimGCLHook, XSimGCLHook, info_nce

__all__ = [
    "ADVERSARIES",
    "APRHook",
    "METHODS",
    "GradientFn",
    "PerturbationBuilder",
    "SimGCLHook",
    "XSimGCLHook",
    "build_adversary",
    "delta_gradients",
    "global_mean_gradients",
    "info_nce",
    "project_rows",
    "random_like",
    "row_norms",
    "row_radius",
    "select_tables",
    "unit_rows",
]
