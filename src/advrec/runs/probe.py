"""The robustness probe of a finished run folder, recorded in its ``results.json`` and ``robustness/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advrec.errors import AdvrecError, ConfigError
from advrec.models.registry import procedure_of
from advrec.objectives.pairwise import build_objective
from advrec.perturb.gradients import PairLoss
from advrec.perturb.perturbation import EpsMode
from advrec.runs.load import load_run
from advrec.runs.setup import build_protocol
from advrec.utils.files import atomic_write_json, atomic_write_text, read_json_object


def robustness_run(
    run_dir: str | Path,
    eps_list: list[float],
    *,
    attack: str | list[str] = "fgsm",
    eps_mode: EpsMode = "absolute",
    pgd_steps: int = 10,
    targets: list[str] | None = None,
    split: str = "test",
    device: str | None = None,
) -> dict[str, Any]:
    """Probe a finished run's best model with one attack or several (``"fgsm,pgd"``; see
    ``evaluation.robustness``) and record it; return ``results.json``'s whole ``robustness`` entry.

    Each attack probed replaces that attack's curve, control and settings in the entry; other attacks
    and other entries are kept (``results.json`` is rewritten atomically). Then, in ``robustness/``:
    ``<attack>.csv`` for each attack probed, and ``curves.png`` with every attack the entry holds.
    Uses the run's own objective, split and seed.

    ``targets``: the tables to perturb, e.g. ``["item_features"]`` (default: all the model's tables). A
    probe of chosen tables is a different experiment, so it is kept apart: in the entry
    ``robustness_<t1>+<t2>`` of ``results.json`` and the folder ``robustness_<t1>+<t2>/``.

    ``split="valid"`` probes the valid split instead of test (ranked past train, as in model selection),
    so that adversarial-training settings can be chosen on robustness without reading test; it is kept
    apart too, under a ``_valid`` suffix (``robustness_valid``, ``robustness_<tables>_valid``).
    """
    from advrec.measure.plots import plot_run_robustness
    from advrec.measure.robustness import curve_csv, merge_robustness, robustness_key, robustness_probe

    if split not in ("test", "valid"):
        raise ConfigError(f"split: expected 'test' or 'valid', got {split!r}")
    run_dir = Path(run_dir)
    config, data, model = load_run(run_dir, device)
    if not model.embedding_tables():
        raise AdvrecError(f"{run_dir}: the probe perturbs embedding tables; {type(model).__name__} has none")
    objective: PairLoss = build_objective(config.train.objective, config.train.l2)
    batches = None
    if procedure_of(config.model.name) == "sequential":  # the probe's gradient: the sequence loss
        from advrec.objectives.sequential import SequentialObjective, probe_batches, window_settings

        windows = window_settings(config.model)
        objective = SequentialObjective(windows.loss, windows.span)
        batches = probe_batches(windows, data, config.seed, config.device, config.train.batch_size)
    protocol = build_protocol(config, data)
    probe = robustness_probe(
        model,
        data.train,
        protocol.valid_as_test() if split == "valid" else protocol,
        objective,
        eps_list,
        attack=attack,
        eps_mode=eps_mode,
        pgd_steps=pgd_steps,
        seed=config.seed,
        batch_size=config.train.batch_size,
        targets=targets,
        batches=batches,
    )
    path = run_dir / "results.json"
    key = robustness_key(targets, split)
    results = read_json_object(path)
    robustness = results[key] = merge_robustness(results.get(key), probe)
    atomic_write_json(path, results)
    folder = run_dir / key  # robustness_key names the entry and its folder alike
    for name in probe["settings"]:
        atomic_write_text(folder / f"{name}.csv", curve_csv(robustness, name))
    title = f"{run_dir.name}: {config.model.name}{_trained_with(config.adversary.model_dump())}"
    if targets is not None:
        title += f"; perturbed: {', '.join(targets)}"
    if split == "valid":
        title += "; valid split"
    plot_run_robustness(robustness, folder / "curves.png", title=title)
    return robustness


def _trained_with(adversary: dict[str, Any]) -> str:
    """The adversary's part of the plot title: its name, and its perturbation for those that have one."""
    if adversary["name"] == "none":
        return ""
    detail = ""
    if "method" in adversary:
        detail = f" ({adversary['method']}, ε = {adversary['eps']} {adversary['eps_mode']})"
    return f", trained with {adversary['name']}{detail}"
