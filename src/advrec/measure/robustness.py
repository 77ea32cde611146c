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

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from advrec.data.interactions import Interactions
from advrec.data.sampler import NegativeSampler
from advrec.errors import ConfigError
from advrec.measure.config import AdversarialValidConfig
from advrec.measure.protocol import EvaluationProtocol
from advrec.models.base import Deltas, ScoringModel
from advrec.perturb.builder import PerturbationBuilder, select_tables
from advrec.perturb.gradients import PairLoss, full_data_gradient_fn
from advrec.perturb.methods.registry import probe_attacks
from advrec.perturb.perturbation import EpsMode, row_norms
from advrec.utils.seeding import numpy_rng, torch_generator


def training_batches(
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


def _with_drops(clean: dict[str, float], perturbed: dict[str, float]) -> dict[str, float | None]:
    """Perturbed metrics and ``<metric>_drop`` = (clean - perturbed) / clean (None when clean is 0)."""
    out: dict[str, float | None] = {}
    for key, value in perturbed.items():
        out[key] = value
        base = clean.get(key)
        out[f"{key}_drop"] = None if not base or not np.isfinite(base) else (base - value) / base
    return out


def robustness_probe(
    model: ScoringModel,
    train: Interactions,
    protocol: EvaluationProtocol,
    objective: PairLoss,
    eps_list: Sequence[float],
    *,
    attack: str | Sequence[str] = "fgsm",
    eps_mode: EpsMode = "absolute",
    pgd_steps: int = 10,
    pgd_alpha: float | None = None,
    seed: int = 0,
    batch_size: int = 8192,
    targets: Sequence[str] | None = None,
    batches: list[dict[str, torch.Tensor]] | None = None,
) -> dict[str, Any]:
    """Probe with one attack or several; the result has the layout of ``results.json``'s ``robustness``::

        {"clean": {metric: value},
         "<attack>": {"<eps>": {metric: perturbed, "<metric>_drop": relative drop}},   # per attack
         "random": {"<attack>": {"<eps>": {metric: ..., "<metric>_drop": ...}}},       # its control
         "settings": {"<attack>": {"eps_mode": ..., "pgd_steps": ..., ...}}}

    The control of an attack at ε has, row for row, the norms of that attack's Δ at ε (PGD's rows may lie
    inside the ball, FGSM's lie on it), in directions drawn from the seeded 'attack' stream afresh for
    each attack: an attack's figures do not depend on which other attacks were probed with it.

    ``batches``: the data of the gradient, for objectives that read other batches than (user, pos, neg)
    (a sequential model's windows); default every training interaction with one seeded negative.
    """
    attacks = parse_attacks(attack)
    if not eps_list or not all(math.isfinite(e) and e >= 0 for e in eps_list):
        raise ValueError(f"eps_list must be non-empty, finite and non-negative, got {list(eps_list)}")
    model.eval()  # no dropout: the probe is deterministic given the seed
    device = next(model.parameters()).device
    if batches is None:  # a model with its own loss data (sequences) brings its batches
        batches = training_batches(train, seed, batch_size, device)
    gradient_fn = full_data_gradient_fn(model, objective, batches)  # shared: one pass at Δ = 0 for all
    selected = select_tables(model.embedding_tables(), targets, key="targets")
    tables = {name: t.detach() for name, t in selected.items()}

    def metrics(deltas: Deltas | None) -> dict[str, float]:
        with torch.inference_mode():
            return protocol.test_metrics(model, deltas=deltas)

    clean = metrics(None)
    # an absolute ε is small or large only against these: a model with longer rows resists it more
    mean_row_norm = {name: float(row_norms(table).mean()) for name, table in tables.items()}
    result: dict[str, Any] = {"clean": clean, "random": {}, "settings": {}}
    for name in attacks:
        builder = PerturbationBuilder(
            method=name,
            eps=max(eps_list),
            eps_mode=eps_mode,
            pgd_steps=pgd_steps,
            pgd_alpha=pgd_alpha,
            generator=torch_generator(seed, "attack"),
        )
        result[name], result["random"][name] = {}, {}
        for eps in eps_list:
            deltas = builder(tables, gradient_fn, eps)
            result[name][str(eps)] = _with_drops(clean, metrics(deltas))
            result["random"][name][str(eps)] = _with_drops(clean, metrics(builder.random_like(deltas)))
        result["settings"][name] = {
            "eps_mode": eps_mode,
            "pgd_steps": pgd_steps if name == "pgd" else None,
            "pgd_alpha": builder.alpha if name == "pgd" else None,
            "seed": seed,
            "targets": list(tables),
            "mean_row_norm": mean_row_norm,
            "negatives": "one per training interaction, seeded ('attack' stream)",
            "control": "same per-row norms as the attack's delta, uniformly random directions",
        }
    return result


def validation_under_attack(
    settings: AdversarialValidConfig,
    seed: int,
    model: ScoringModel,
    protocol: EvaluationProtocol,
    objective: PairLoss,
    batches: list[dict[str, torch.Tensor]],
) -> Callable[[Any], dict[str, float]]:
    """``protocol.validate`` plus every one of its metrics under ``eval.adversarial_valid``'s move (the
    probe's FGSM, full-data gradient, or its PGD), prefixed ``adv_``: selecting on ``adv_ndcg@10`` keeps
    the epoch most accurate under attack. Why per epoch: robustness on held-out data peaks early in
    training and then decays while training robustness keeps rising (Rice et al., ICML 2020,
    "Overfitting in adversarially robust deep learning"). On SASRec one epoch's valid FGSM drop ranges
    from 1.5% to 51% across the epochs of one run, and a model kept on the FGSM figures can still lose as
    much to PGD as a plain one (docs/notes/2026-11-sasrec-robustness.md): judge it with a stronger probe.

    A sequential model's other masking is kept too (``adv_masked_ndcg@10``): unmasked, the FGSM step
    (which raises the training loss) lowers the scores of the training items, which then stop crowding
    the valid item out of the top k, so unmasked valid figures under attack can even rise
    (docs/notes/2026-11-sasrec-robustness.md).

    The perturbed figures come from ``protocol.valid_as_test()``, whose ``test_metrics`` takes the
    perturbation. The model is in eval mode (the trainer's), so the gradient sees no dropout, as in the
    probe."""
    if not model.embedding_tables():
        raise ConfigError(
            f"eval.adversarial_valid: {type(model).__name__} has no embedding tables to perturb"
        )
    valid_view = protocol.valid_as_test()
    builder = PerturbationBuilder(
        method=settings.attack,
        eps=settings.eps,
        eps_mode=settings.eps_mode,
        pgd_steps=settings.pgd_steps,
        generator=torch_generator(seed, "attack"),
    )

    def validate_under_attack(model: Any) -> dict[str, float]:
        clean = protocol.validate(model)
        # the trainer validates in inference mode; the gradient needs autograd back for this pass
        with torch.inference_mode(False), torch.enable_grad():
            tables = select_tables(
                model.embedding_tables(), settings.targets, key="eval.adversarial_valid.targets"
            )
            gradient_fn = full_data_gradient_fn(model, objective, batches)
            deltas = builder({name: t.detach() for name, t in tables.items()}, gradient_fn)
        with torch.inference_mode():
            attacked = valid_view.test_metrics(model, deltas=deltas)
        return {**clean, **{f"adv_{key}": value for key, value in attacked.items() if _base(key) in clean}}

    return validate_under_attack


def _base(key: str) -> str:
    """``ndcg@10`` for ``ndcg@10``, ``masked_ndcg@10`` and ``unmasked_ndcg@10`` (a sequential model's
    other masking, which the probe reports too)."""
    for prefix in ("masked_", "unmasked_"):
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def robustness_key(targets: Sequence[str] | None = None, split: str = "test") -> str:
    """Where a probe is kept in ``results.json`` (and its folder): ``robustness``, ``robustness_<t1>+<t2>``
    for chosen tables, and a ``_valid`` suffix for a probe of the valid split."""
    key = "robustness" if targets is None else "robustness_" + "+".join(targets)
    return key + ("_valid" if split == "valid" else "")


def parse_attacks(attack: str | Sequence[str]) -> list[str]:
    """``"fgsm"``, ``"fgsm,pgd"`` or ``["fgsm", "pgd"]`` -> a list without repeats, in the given order."""
    parts = attack.split(",") if isinstance(attack, str) else list(attack)
    names = list(dict.fromkeys(p.strip() for p in parts if p.strip()))
    offered = probe_attacks()
    bad = [n for n in names if n not in offered]
    if bad or not names:
        raise ValueError(f"unknown attack {', '.join(bad) or repr(attack)}; valid: {', '.join(offered)}")
    return names


def probed_attacks(robustness: dict[str, Any]) -> list[str]:
    """The attacks a ``robustness`` entry holds, in the registry's order."""
    return [a for a in probe_attacks() if a in robustness]


def upgrade_layout(robustness: dict[str, Any]) -> dict[str, Any]:
    """An entry written before attacks were merged (one attack, ``random.<eps>``, ``settings.attack``)
    in today's layout; today's entries are returned unchanged."""
    settings = robustness.get("settings", {})
    if "attack" not in settings:
        return robustness
    attack = settings["attack"]
    return {
        "clean": robustness["clean"],
        attack: robustness[attack],
        "random": {attack: robustness["random"]},
        "settings": {attack: {k: v for k, v in settings.items() if k != "attack"}},
    }


def merge_robustness(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """``old`` with every attack in ``new`` replaced as a whole (its curve, control and settings);
    attacks only in ``old`` are kept. ``clean`` is taken from ``new`` (the same model and test split)."""
    merged = upgrade_layout(old) if old else {}
    random_, settings = dict(merged.get("random", {})), dict(merged.get("settings", {}))
    out: dict[str, Any] = {"clean": new["clean"]}
    attacks = probe_attacks()
    for name in attacks:
        if name in new:
            out[name] = new[name]
            random_[name], settings[name] = new["random"][name], new["settings"][name]
        elif name in merged:
            out[name] = merged[name]
    out["random"] = {a: random_[a] for a in attacks if a in out}
    out["settings"] = {a: settings[a] for a in attacks if a in out}
    return out


CSV_HEADER = ("eps", "metric", "clean", "perturbed", "drop", "random", "random_drop")


def curve_rows(robustness: dict[str, Any], attack: str) -> list[dict[str, Any]]:
    """One attack's ε curve, one row per (ε, metric): clean, perturbed, relative drop, and the same-norm
    random control's value and relative drop (``drop`` is None where the clean value is 0)."""
    rows = []
    for eps, values in robustness[attack].items():
        control = robustness["random"][attack][eps]
        for metric, clean in robustness["clean"].items():
            rows.append(
                {
                    "eps": eps,
                    "metric": metric,
                    "clean": clean,
                    "perturbed": values[metric],
                    "drop": values[f"{metric}_drop"],
                    "random": control[metric],
                    "random_drop": control[f"{metric}_drop"],
                }
            )
    return rows


def curve_csv(robustness: dict[str, Any], attack: str) -> str:
    lines = [",".join(CSV_HEADER)]
    lines += [",".join(_csv_cell(row[h]) for h in CSV_HEADER) for row in curve_rows(robustness, attack)]
    return "\n".join(lines) + "\n"


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    return repr(float(value)) if isinstance(value, float) else str(value)
