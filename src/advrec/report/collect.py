"""Find run folders under a path and group them into systems (one system = one config up to the seed).

A run folder is any folder holding ``results.json`` (``config.yaml``, ``metrics.jsonl`` and the rest are
read when present, so folders written by other commands, e.g. ``advrec attack``, are shown too). A study
folder's ``study.json`` names each cell's system and seed; elsewhere the system is the config without its
seed, labelled from the model and adversary names.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from advrec.errors import AdvrecError, DataError
from advrec.train.metrics_log import read_metrics_log

STUDY_INDEX = "study.json"


@dataclass
class RunRecord:
    path: Path
    results: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    seed: int | None = None
    label: str = ""


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON: {exc.msg}", path=path, line=exc.lineno) from None


def _check_finite(entry: Any, where: str, path: Path) -> None:
    """The numbers a report shows (test metrics, robustness curves and their ε keys) are finite; a NaN
    or infinity there is refused by name rather than drawn as a number."""
    if isinstance(entry, dict):
        for key, value in entry.items():
            if _is_non_finite_number_text(key):
                raise DataError(
                    f"{where}: ε {key!r} is not a finite number; probe again with finite ε", path=path
                )
            _check_finite(value, f"{where}.{key}", path)
    elif isinstance(entry, list):
        for i, value in enumerate(entry):
            _check_finite(value, f"{where}[{i}]", path)
    elif isinstance(entry, float) and not math.isfinite(entry):
        raise DataError(
            f"{where} is {entry}; a report shows no such number (re-evaluate the run: advrec evaluate)",
            path=path,
        )


def _is_non_finite_number_text(key: str) -> bool:
    try:
        return not math.isfinite(float(key))
    except ValueError:
        return False


def read_run(path: Path) -> RunRecord:
    results = _read_json(path / "results.json")
    if not isinstance(results, dict):
        raise DataError("expected a JSON object", path=path / "results.json")
    for key, entry in results.items():
        if key == "test" or key.startswith("robustness"):
            _check_finite(entry, key, path / "results.json")
    config: dict[str, Any] = {}
    if (path / "config.yaml").exists():
        try:
            config = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise DataError(f"invalid YAML: {exc}", path=path / "config.yaml") from None
    seed = config.get("seed") if isinstance(config.get("seed"), int) else None
    return RunRecord(path, results, config, read_metrics_log(path / "metrics.jsonl", timings=False), seed)


def find_runs(root: str | Path) -> list[RunRecord]:
    """Every run folder at or under ``root`` (sorted by path), labelled; an error if there is none."""
    root = Path(root)
    if not root.is_dir():
        raise AdvrecError(f"{root}: not a folder")
    index = root / STUDY_INDEX
    study = _read_json(index) if index.exists() else None
    if (root / "results.json").exists():
        paths = [root]
    elif isinstance(study, dict) and isinstance(study.get("cells"), dict):
        # a study's runs are its cells: run folders nested in a cell (an attack step's poisoned and
        # defended victims) are part of that cell's result, not systems of their own
        paths = [root / c for c in study["cells"] if (root / c / "results.json").exists()]
    else:
        paths = sorted(p.parent for p in root.rglob("results.json"))
    if not paths:
        raise AdvrecError(f"{root}: no run folder (a folder with results.json) at or under it")
    runs = [read_run(p) for p in paths]
    if study is not None:
        _label_from_index(runs, root, study)
    _label_from_configs([r for r in runs if not r.label])
    return runs


def _label_from_index(runs: list[RunRecord], root: Path, index: Any) -> None:
    cells = index.get("cells", {}) if isinstance(index, dict) else {}
    order = {folder: i for i, folder in enumerate(cells)}
    runs.sort(key=lambda r: order.get(r.path.relative_to(root).as_posix(), len(order)))  # study order
    for run in runs:
        cell = cells.get(run.path.relative_to(root).as_posix())
        if isinstance(cell, dict) and "label" in cell:
            run.label = str(cell["label"])
            if isinstance(cell.get("seed"), int):
                run.seed = cell["seed"]


def describe_config(config: dict[str, Any]) -> str:
    """A short name for a config: ``mf``, ``mf+apr(fgsm)``, ``cfgan``..."""
    gan = (config.get("gan") or {}).get("name", "none")
    if gan != "none":
        return str(gan)
    label = str((config.get("model") or {}).get("name", "run"))
    adv = config.get("adversary") or {}
    if adv.get("name", "none") != "none":
        method = adv.get("method")
        label += f"+{adv['name']}" + (f"({method})" if method and adv["name"] == "apr" else "")
    return label


def _label_from_configs(runs: list[RunRecord]) -> None:
    """Same config up to the seed = same system; systems with the same short name get their folder's."""
    keys: dict[str, list[RunRecord]] = {}
    for run in runs:
        rest = {k: v for k, v in run.config.items() if k != "seed"}
        key = json.dumps(rest, sort_keys=True) if run.config else f"path:{run.path}"
        keys.setdefault(key, []).append(run)
    names: dict[str, int] = {}
    for members in keys.values():
        name = describe_config(members[0].config) if members[0].config else members[0].path.name
        names[name] = names.get(name, 0) + 1
    for members in keys.values():
        name = describe_config(members[0].config) if members[0].config else members[0].path.name
        if names[name] > 1:
            name = f"{name} [{members[0].path.name}]"
        for run in members:
            run.label = name


def group_runs(runs: list[RunRecord]) -> dict[str, list[RunRecord]]:
    """Label -> runs, in first-seen order."""
    groups: dict[str, list[RunRecord]] = {}
    for run in runs:
        groups.setdefault(run.label, []).append(run)
    return groups
