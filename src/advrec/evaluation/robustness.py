"""Robustness probe: how much do test metrics fall when every embedding row is adversarially moved?

After training, each user and item embedding row (or each row of the ``targets`` tables only, e.g.
``item_features`` for a model that reads item features) is perturbed to norm ε (absolute, or ε times the row's
norm) in the direction that increases the training objective over ALL training interactions (one
seeded negative each, gradients accumulated over batches): one FGSM step, or k PGD steps inside the
ε-ball. Every test metric is reported clean and perturbed with its relative drop, per ε, next to the
same-norm random-direction control; a model is robust to the extent the adversarial drop is small,
and the adversary is meaningful to the extent it beats the random control.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from advrec.adversarial.builder import PerturbationBuilder, select_tables
from advrec.adversarial.gradients import delta_gradients
from advrec.adversarial.perturbation import EpsMode
from advrec.data.interactions import Interactions
from advrec.data.sampler import NegativeSampler
from advrec.evaluation.protocol import Protocol
from advrec.models.base import Deltas, Recommender
from advrec.training.objectives import PairwiseObjective
from advrec.utils.seeding import numpy_rng, torch_generator

ATTACKS = ("fgsm", "pgd")


def _training_batches(
    train: Interactions, seed: int, batch_size: int, device: torch.device
) -> list[dict[str, torch.Tensor]]:
    """Every training interaction once, in data order, with one seeded negative: fixed for all steps."""
    users = train.users.astype(np.int64)
    pos = train.items.astype(np.int64)
    neg = NegativeSampler(train, 1).negatives(users, numpy_rng(seed, "attack"), 1)
    as_t = [torch.from_numpy(a).to(device) for a in (users, pos, neg)]
    return [
        {
            "users": as_t[0][lo : lo + batch_size],
            "pos": as_t[1][lo : lo + batch_size],
            "neg": as_t[2][lo : lo + batch_size],
        }
        for lo in range(0, len(users), batch_size)
    ]


def full_data_gradient_fn(
    model: Recommender, objective: PairwiseObjective, batches: list[dict[str, torch.Tensor]]
):
    """Gradient of the mean pair loss over all batches w.r.t. the tables at Θ + Δ, cached at Δ = 0
    (FGSM for several ε needs the same gradient; it is one full pass over the training data)."""
    total = sum(len(b["users"]) for b in batches)
    cache: dict[str, Deltas] = {}

    def gradient_fn(deltas: Deltas) -> Deltas:
        at_zero = all(not d.any() for d in deltas.values())
        if at_zero and "zero" in cache:
            return cache["zero"]
        acc = {name: torch.zeros_like(d) for name, d in deltas.items()}
        for batch in batches:
            grads = delta_gradients(lambda d, b=batch: objective.pair_loss(model, b, d), deltas)
            for name, g in grads.items():
                acc[name] += g * (len(batch["users"]) / total)
        if at_zero:
            cache["zero"] = acc
        return acc

    return gradient_fn


def _with_drops(clean: dict[str, float], perturbed: dict[str, float]) -> dict[str, float | None]:
    """Perturbed metrics and ``<metric>_drop`` = (clean - perturbed) / clean (None when clean is 0)."""
    out: dict[str, float | None] = {}
    for key, value in perturbed.items():
        out[key] = value
        base = clean.get(key)
        out[f"{key}_drop"] = None if not base or not np.isfinite(base) else (base - value) / base
    return out


def robustness_probe(
    model: Recommender,
    train: Interactions,
    protocol: Protocol,
    objective: PairwiseObjective,
    eps_list: Sequence[float],
    *,
    attack: str = "fgsm",
    eps_mode: EpsMode = "absolute",
    pgd_steps: int = 10,
    pgd_alpha: float | None = None,
    seed: int = 0,
    batch_size: int = 8192,
    targets: Sequence[str] | None = None,
) -> dict[str, Any]:
    """``{"clean": {...}, attack: {"<eps>": {m, m_drop, ...}}, "random": {...}, "settings": {...}}``."""
    if attack not in ATTACKS:
        raise ValueError(f"unknown attack {attack!r}; valid: {', '.join(ATTACKS)}")
    if not eps_list or any(e < 0 for e in eps_list):
        raise ValueError(f"eps_list must be non-empty and non-negative, got {list(eps_list)}")
    model.eval()  # no dropout: the probe is deterministic given the seed
    device = next(model.parameters()).device
    batches = _training_batches(train, seed, batch_size, device)
    gradient_fn = full_data_gradient_fn(model, objective, batches)
    builder = PerturbationBuilder(
        method="fgsm" if attack == "fgsm" else "pgd",
        eps=max(eps_list),
        eps_mode=eps_mode,
        pgd_steps=pgd_steps,
        pgd_alpha=pgd_alpha,
        generator=torch_generator(seed, "attack"),
    )
    selected = select_tables(model.embedding_tables(), targets, key="targets")
    tables = {name: t.detach() for name, t in selected.items()}

    def metrics(deltas: Deltas | None) -> dict[str, float]:
        with torch.inference_mode():
            return protocol.test_metrics(model, deltas=deltas)

    clean = metrics(None)
    result: dict[str, Any] = {"clean": clean, attack: {}, "random": {}}
    for eps in eps_list:
        deltas = builder(tables, gradient_fn, eps)
        result[attack][str(eps)] = _with_drops(clean, metrics(deltas))
        result["random"][str(eps)] = _with_drops(clean, metrics(builder.random_like(deltas)))
    result["settings"] = {
        "attack": attack,
        "eps_mode": eps_mode,
        "pgd_steps": pgd_steps if attack == "pgd" else None,
        "pgd_alpha": builder.alpha if attack == "pgd" else None,
        "seed": seed,
        "targets": list(tables),
        "negatives": "one per training interaction, seeded ('attack' stream)",
    }
    return result


def robustness_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Long format for CSV: method, eps, metric, clean, perturbed, drop."""
    rows = []
    attack = result["settings"]["attack"]
    for method in (attack, "random"):
        for eps, values in result[method].items():
            for metric, clean in result["clean"].items():
                rows.append(
                    {
                        "method": method,
                        "eps": eps,
                        "metric": metric,
                        "clean": clean,
                        "perturbed": values[metric],
                        "drop": values[f"{metric}_drop"],
                    }
                )
    return rows
