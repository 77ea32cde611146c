"""``advrec study STUDY.yaml``: a grid of runs from one file, resumable, then the report.

A study file::

    name: ml100k_mf_apr                 # optional; default: the file's stem
    base_config: ml100k_mf_bpr.yaml     # a run config (relative to the study file) ...
    base: {train: {epochs: 50}}         # ... and/or a run config inline, merged over it
    axes:                               # every combination of one value per axis is a cell
      method:                           # axis name
        bpr: {}                         # value name: config overrides (nested or dotted keys)
        apr: {adversary.name: apr, adversary.eps: 0.5}
        # the long form adds per-cell steps run after training (the extension point, see below):
        # apr_attacked: {set: {adversary.name: apr}, steps: {poison: {attack: bandwagon, targets: mid:5}}}
    seeds: [2020, 2021, 2022]           # each cell runs once per seed (the config's ``seed``)
    probe: {attack: fgsm, eps: [0.1, 0.25, 0.5, 1.0]}   # optional: robustness probe after each run
    per_user: true                      # write per_user_test.csv (significance paired by user)
    report: {baseline: bpr, paired_by: auto}

Each cell is a normal run folder, ``<out>/<value1>__<value2>/seed<N>``; ``<out>/study.json`` names each
folder's system (the value names joined by ``/``) and seed for the report. A cell whose ``results.json``
exists and whose saved ``config.yaml`` equals the cell's config is not trained again; a cell killed
mid-training resumes from its last checkpoint; a folder holding a different config is an error. Steps
(probe, per-user metrics, ...) run when their output is missing, so a killed study re-run finishes what is
left and redoes nothing.

Steps (:func:`cell_steps` maps a step name to a :class:`CellStep`: ``done(run_dir, options)``,
``run(run_dir, options, data_root)``, an optional ``check`` at load) run on each finished cell in order.
An attack/defence axis is an axis whose values carry ``steps: {poison: {attack: bandwagon, targets: mid:5,
size: 0.03, defence: apr}}`` (``advrec attack``'s options): the cell's run is the clean victim, the
poisoned (and defended) victims go to ``<cell>/poisoning/``, and the ``poisoning`` entry into the cell's
``results.json``, where the report reads it. A new kind of step is one more entry in :func:`cell_steps`.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, field_validator, model_validator

from advrec.config.base import Strict
from advrec.config.loading import merge, validate
from advrec.config.yaml_safe import read_yaml_file
from advrec.errors import ConfigError
from advrec.runs.config import RunConfig, apply_overrides, parse_config, read_run_config
from advrec.runs.folder import clear_stray_temps
from advrec.train.hooks import TrainHook
from advrec.utils.files import atomic_write_json, atomic_write_text, update_json_object
from advrec.utils.locking import folder_lock


class ProbeOptions(Strict):
    """The robustness probe run on each cell (as ``advrec evaluate RUN --attack ... --eps ...``)."""

    attack: str = Field("fgsm", description="fgsm, pgd or fgsm,pgd")
    eps: list[float] = Field(
        default_factory=lambda: [0.1, 0.25, 0.5, 1.0], min_length=1, description="per-row budgets"
    )
    eps_mode: Literal["absolute", "relative"] = Field(
        "absolute", description="absolute, or relative to each row's norm"
    )
    pgd_steps: int = Field(10, ge=1, description="PGD steps")

    @field_validator("attack")
    @classmethod
    def _attacks(cls, value: str) -> str:
        from advrec.measure.robustness import parse_attacks

        return ",".join(parse_attacks(value))

    @field_validator("eps")
    @classmethod
    def _eps(cls, value: list[float]) -> list[float]:
        if not all(math.isfinite(v) and v >= 0 for v in value):
            raise ValueError("expected finite, non-negative budgets")
        return value


class AxisValue(Strict):
    """One value of an axis: run-config overrides and extra steps (see the module docstring)."""

    set: dict[str, Any] = Field(default_factory=dict)
    steps: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, dict) and not (set(value) <= {"set", "steps"} and value):
            return {"set": value}
        return value


class ReportOptions(Strict):
    """The report written at the end of the study."""

    baseline: str | None = Field(None, description="system the others are tested against")
    paired_by: Literal["auto", "seeds", "users"] = Field(
        "auto",
        description="significance paired over seeds, over users, or auto (users where every run has "
        "per-user metrics)",
    )
    eps: str | None = Field(None, description="ε of the trade-off plot (default: the middle one probed)")


class StudyConfig(Strict):
    """A study: a grid of runs (axes x seeds) from one file, each cell a run folder, then the report."""

    name: str | None = Field(
        None, description="the study's name (its default folder is runs/<name>): a plain folder name"
    )
    base_config: str | None = Field(None, description="run config YAML, relative to the study file")
    base: dict[str, Any] = Field(default_factory=dict, description="run config, merged over base_config")
    axes: dict[str, dict[str, AxisValue]] = Field(
        min_length=1,
        description="axis -> value name -> run-config overrides (and steps); every combination of one "
        "value per axis is a cell",
    )
    seeds: list[int] = Field(
        default_factory=lambda: [2020],
        min_length=1,
        description="each cell runs once per seed (the run config's seed)",
    )
    probe: ProbeOptions | None = Field(
        None, description="the robustness probe run on each cell (as advrec evaluate --attack)"
    )
    per_user: bool = Field(True, description="write per_user_test.csv (significance paired by user)")
    report: ReportOptions = Field(default_factory=ReportOptions, description="the report's settings")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        # the default --out is runs/<name>: a name with a path in it would write outside runs/
        if value is not None and not _plain_folder_name(value):
            raise ValueError(
                "expected a plain folder name (letters, digits, '-', '_', '.'; not starting with '.'), "
                "since the study's default folder is runs/<name>"
            )
        return value

    @field_validator("axes")
    @classmethod
    def _axes(cls, value: dict[str, dict[str, AxisValue]]) -> dict[str, dict[str, AxisValue]]:
        for axis, values in value.items():
            if not values:
                raise ValueError(f"axis {axis!r} has no values")
            for name in values:
                if not name or "/" in name or "__" in name or name.startswith("."):
                    raise ValueError(
                        f"axis {axis!r}: value name {name!r} must be non-empty, without '/' or '__'"
                    )
        return value

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("seeds repeat")
        return value


def _plain_folder_name(name: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]*", name))


@dataclass(frozen=True)
class Cell:
    """One run of the grid."""

    folder: str  # relative to the study's out folder
    label: str  # the system, for the report
    seed: int
    values: dict[str, str]  # axis -> value name
    config: RunConfig
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class CellStep:
    """Work done on a finished cell's run folder; ``done`` says whether its output is already there."""

    done: Callable[[Path, dict[str, Any]], bool]
    run: Callable[[Path, dict[str, Any], str | Path | None], None]
    check: Callable[[dict[str, Any], str], None] | None = None  # validates options when the study is read


PROBE_SKIPPED = "probe_skipped"


def _probe_done(run_dir: Path, options: dict[str, Any]) -> bool:
    path = run_dir / "results.json"
    if not path.exists():
        return False
    results = json.loads(path.read_text(encoding="utf-8"))
    if results.get(PROBE_SKIPPED):
        return True
    entry = results.get("robustness") or {}
    for attack in options["attack"].split(","):
        settings = (entry.get("settings") or {}).get(attack) or {}
        if settings.get("eps_mode") != options["eps_mode"]:
            return False
        probed = {float(e) for e in entry.get(attack) or {}}
        if not all(any(abs(float(e) - p) < 1e-12 for p in probed) for e in options["eps"]):
            return False
    return True


def _probe_run(run_dir: Path, options: dict[str, Any], data_root: str | Path | None) -> None:
    """The probe; a model without embedding tables (CFGAN) cannot be probed, which is recorded in
    ``results.json`` (``probe_skipped``) so that one study can mix such models with others."""
    from advrec.runs.load import load_run
    from advrec.runs.probe import robustness_run

    model = load_run(run_dir)[2]
    if not model.embedding_tables():
        reason = f"{type(model).__name__} has no embedding tables to perturb"
        update_json_object(run_dir / "results.json", {PROBE_SKIPPED: reason})
        return
    robustness_run(
        run_dir,
        list(options["eps"]),
        attack=options["attack"].split(","),
        eps_mode=options["eps_mode"],
        pgd_steps=options["pgd_steps"],
    )


def _per_user_done(run_dir: Path, options: dict[str, Any]) -> bool:
    from advrec.report.per_user import PER_USER_FILE

    return (run_dir / PER_USER_FILE).exists()


def _per_user_run(run_dir: Path, options: dict[str, Any], data_root: str | Path | None) -> None:
    from advrec.report.per_user import write_per_user

    write_per_user(run_dir)


POISON_DIR = "poisoning"


def _poison_settings(options: dict[str, Any], where: str):
    """A ``poison`` step's options (``advrec attack``'s: attack, targets, size = 0.03, filler, defence)
    -> the experiment's settings, checked (bad options fail when the study is read)."""
    from advrec.experiments.poisoning import poison_config

    return poison_config({"size": 0.03, **options}, f"{where}: poison step")


def _recorded_settings(entry: dict[str, Any], where: str) -> dict[str, Any] | None:
    """A cell's recorded poison settings in the current layout (earlier versions named the attack only)."""
    settings = entry.get("settings")
    if isinstance(settings, dict) and isinstance(settings.get("attack"), str):
        try:
            settings = _poison_settings(settings, where).model_dump(mode="json")
        except ConfigError:
            return None
    return settings


def _poison_done(run_dir: Path, options: dict[str, Any]) -> bool:
    path = run_dir / "results.json"
    if not path.exists():
        return False
    entry = json.loads(path.read_text(encoding="utf-8")).get("poisoning") or {}
    wanted = _poison_settings(options, str(run_dir)).model_dump(mode="json")
    return _recorded_settings(entry, str(run_dir)) == wanted


def _poison_run(run_dir: Path, options: dict[str, Any], data_root: str | Path | None) -> None:
    """The cell's run is the clean victim; ``<cell>/poisoning/`` holds the poisoned (and defended)
    victims (``advrec attack``'s layout, without ``clean/``); the ``poisoning`` entry is copied into the
    cell's ``results.json``, where the report's poisoning section reads it."""
    from advrec.experiments.poisoning import attack_run
    from advrec.runs.load import load_run

    settings = _poison_settings(options, str(run_dir))
    config = load_run(run_dir)[0]
    attacked = attack_run(config, run_dir / POISON_DIR, settings, clean_dir=run_dir)
    entry = {**attacked["poisoning"], "settings": settings.model_dump(mode="json")}
    update_json_object(run_dir / "results.json", {"poisoning": entry})


def cell_steps() -> dict[str, CellStep]:
    """Step name -> step. The extension point for attack / defence axes: add an entry here.

    ``poison`` (options as ``advrec attack``: attack, targets, size = 0.03, filler, defence): the attack
    experiment with the cell's run as the clean victim."""
    return {
        "per_user": CellStep(_per_user_done, _per_user_run),
        "probe": CellStep(_probe_done, _probe_run),
        "poison": CellStep(_poison_done, _poison_run, _poison_settings),
    }


def load_study(path: str | Path) -> tuple[StudyConfig, list[Cell]]:
    """Read and validate a study file and every cell's run config (all before anything runs)."""
    path = Path(path)
    raw = read_yaml_file(path, "study")
    return parse_study(raw, str(path), base_dir=path.parent, default_name=path.stem)


def parse_study(
    raw: dict[str, Any], source: str = "<study>", base_dir: Path | None = None, default_name: str = "study"
) -> tuple[StudyConfig, list[Cell]]:
    study = validate(StudyConfig, raw, source, "study file")
    if study.name is None:
        study = study.model_copy(update={"name": default_name})
    base: dict[str, Any] = {}
    if study.base_config is not None:
        file = (base_dir or Path(".")) / study.base_config
        try:
            base = read_run_config(file)
        except ConfigError as exc:
            raise ConfigError(f"{source}: base_config {study.base_config!r}: {exc}") from None
    base = merge(base, study.base, f"{source}: base")
    cells = expand(study, base, source)
    valid_steps = cell_steps()
    for cell in cells:
        for step in cell.steps:
            if step not in valid_steps:
                raise ConfigError(
                    f"{source}: axes: step {step!r} of cell {cell.label}: unknown; known steps: "
                    f"{', '.join(valid_steps)}"
                )
            check = valid_steps[step].check
            if check is not None:
                check(cell.steps[step], f"{source}: axes: cell {cell.label}")
    if study.report.baseline is not None and study.report.baseline not in {c.label for c in cells}:
        raise ConfigError(
            f"{source}: report.baseline {study.report.baseline!r}: expected one of the systems "
            f"{', '.join(dict.fromkeys(c.label for c in cells))}"
        )
    return study, cells


def expand(study: StudyConfig, base: dict[str, Any], source: str) -> list[Cell]:
    axes = list(study.axes.items())
    cells = []
    for combo in itertools.product(*[list(values.items()) for _, values in axes]):
        names = {axis: name for (axis, _), (name, _) in zip(axes, combo)}
        where = f"{source}: cell " + ", ".join(f"{a}={v}" for a, v in names.items())
        raw = base
        steps: dict[str, dict[str, Any]] = {}
        if study.per_user:
            steps["per_user"] = {}
        if study.probe is not None:
            steps["probe"] = study.probe.model_dump()
        for (axis, _), (name, value) in zip(axes, combo):
            raw = apply_overrides(raw, value.set, f"{where}: axes.{axis}.{name}")
            steps.update(value.steps)
        label = "/".join(names.values())
        for seed in study.seeds:
            config = parse_config({**raw, "seed": seed}, where)
            folder = f"{'__'.join(names.values())}/seed{seed}"
            cells.append(Cell(folder, label, seed, names, config, steps))
    return cells


class _Progress(TrainHook):
    """Prints ``[cell i/N label seed s] epoch e/E · ETA`` to stderr after each epoch."""

    def __init__(self, clock: _Clock, index: int, cell: Cell):
        self.clock, self.index, self.cell = clock, index, cell

    def on_epoch_end(self, epoch: int, log: dict[str, Any]) -> None:
        epochs = self.cell.config.train.epochs
        self.clock.epoch_fraction = (epoch + 1) / epochs
        valid = log.get("valid") or {}
        metric = self.cell.config.eval.select_metric
        shown = f" valid {metric} {valid[metric]:.4f}" if metric in valid else ""
        self.clock.say(f"{self.clock.tag(self.index, self.cell)} epoch {epoch + 1}/{epochs}{shown}")


@dataclass
class _Clock:
    """Progress over the cells that need work; ETA assumes every epoch runs (early stopping ends sooner)."""

    n_cells: int
    n_work: int
    start: float = field(default_factory=time.perf_counter)
    done: int = 0
    epoch_fraction: float = 0.0
    stream: Any = None

    def tag(self, index: int, cell: Cell) -> str:
        return f"[cell {index + 1}/{self.n_cells} {cell.label} seed {cell.seed}]"

    def eta(self) -> str:
        fraction = (self.done + min(self.epoch_fraction, 1.0)) / max(self.n_work, 1)
        if fraction <= 0:
            return "ETA ?"
        left = (time.perf_counter() - self.start) * (1 - fraction) / fraction
        return f"ETA {int(left // 60)}m{int(left % 60):02d}s"

    def say(self, text: str) -> None:
        print(f"{text} · {self.eta()}", file=self.stream or sys.stderr, flush=True)


def _cell_state(cell: Cell, run_dir: Path, data_root: str | Path | None) -> str:
    """'new', 'resume' (killed mid-training) or 'finished'; a folder of another config, or a finished
    one made from data that changed since, is an error."""
    from advrec.runs.folder import check_inputs_unchanged, saved_config

    previous = saved_config(run_dir)
    if previous is None:
        return "new"
    if previous != cell.config:
        raise ConfigError(
            f"{run_dir}: holds a run of another config than cell {cell.label} seed {cell.seed}; "
            "delete that folder or choose another --out"
        )
    if (run_dir / "results.json").exists():
        check_inputs_unchanged(cell.config, run_dir, data_root)
        return "finished"
    return "resume" if (run_dir / "checkpoints" / "last.pt").exists() else "new"


def write_index(out: Path, study: StudyConfig, cells: list[Cell]) -> None:
    index = {
        "name": study.name,
        "baseline": study.report.baseline or cells[0].label,
        "axes": {axis: list(values) for axis, values in study.axes.items()},
        "seeds": study.seeds,
        "cells": {c.folder: {"label": c.label, "seed": c.seed, "values": c.values} for c in cells},
    }
    atomic_write_json(out / "study.json", index)
    atomic_write_text(out / "study.yaml", yaml.safe_dump(study.model_dump(mode="json"), sort_keys=False))


def run_study(
    study: StudyConfig,
    cells: list[Cell],
    out: str | Path,
    *,
    data_root: str | Path | None = None,
    extra_hooks: Callable[[Cell], list[TrainHook]] | None = None,
    report: bool = True,
    stream: Any = None,
    tensorboard: str | Path | None = None,
    mlflow: str | Path | None = None,
) -> dict[str, Any]:
    """Run (or finish) every cell, then write the report. Returns counts and the report's path.

    ``extra_hooks(cell)`` adds training hooks to a cell (tests use it to simulate a kill).
    ``tensorboard``: a folder for TensorBoard scalars of the cells trained now, one run per cell
    (``advrec.report.tracking``); ``mlflow``: an MLflow tracking folder, one MLflow run per cell trained
    now plus one holding the report.
    """
    out = Path(out)
    with folder_lock(out):
        clear_stray_temps(out)
        return _run_study_locked(
            study, cells, out, data_root, extra_hooks, report, stream, tensorboard, mlflow
        )


def _run_study_locked(
    study: StudyConfig,
    cells: list[Cell],
    out: Path,
    data_root: str | Path | None,
    extra_hooks: Callable[[Cell], list[TrainHook]] | None,
    report: bool,
    stream: Any,
    tensorboard: str | Path | None,
    mlflow: str | Path | None,
) -> dict[str, Any]:
    from advrec.runs.train import train_run

    write_index(out, study, cells)
    steps = cell_steps()
    states = [_cell_state(c, out / c.folder, data_root) for c in cells]
    pending = [
        i
        for i, (c, s) in enumerate(zip(cells, states))
        if s != "finished" or not all(steps[n].done(out / c.folder, o) for n, o in c.steps.items())
    ]
    tracker = None
    if mlflow is not None:
        from advrec.report.tracking import MLflowTracker

        tracker = MLflowTracker(mlflow, f"advrec study: {study.name}")
    clock = _Clock(len(cells), len(pending), stream=stream)
    counts = {"trained": 0, "resumed": 0, "skipped": len(cells) - len(pending), "steps": 0}
    for i in pending:
        cell, state, run_dir = cells[i], states[i], out / cells[i].folder
        clock.epoch_fraction = 0.0
        if state != "finished":
            clock.say(f"{clock.tag(i, cell)} {'resuming' if state == 'resume' else 'training'}")
            hooks: list[TrainHook] = [_Progress(clock, i, cell), *(extra_hooks(cell) if extra_hooks else [])]
            trackers: list[Any] = []
            if tensorboard is not None:
                from advrec.report.tracking import TensorBoardHook

                trackers.append(TensorBoardHook(Path(tensorboard) / cell.folder))
            if tracker is not None:
                trackers.append(tracker.run(cell.folder, cell.config.model_dump(mode="json")))
            hooks += trackers
            try:
                results = train_run(
                    cell.config,
                    run_dir,
                    data_root=data_root,
                    resume=state == "resume",
                    hooks=hooks,
                    show_progress=False,
                )
            except BaseException:
                for board in trackers:
                    board.close()  # keep the epochs written so far
                raise
            for board in trackers:
                board.close(results)
            counts["resumed" if state == "resume" else "trained"] += 1
        for name, options in cell.steps.items():
            if not steps[name].done(run_dir, options):
                clock.say(f"{clock.tag(i, cell)} {name}")
                steps[name].run(run_dir, options, data_root)
                counts["steps"] += 1
        clock.done += 1
    result: dict[str, Any] = {**counts, "cells": len(cells), "out": out}
    if report:
        from advrec.report.build import build_report

        files = build_report(
            out,
            out / "report.html",
            baseline=study.report.baseline,
            paired_by=study.report.paired_by,
            eps=study.report.eps,
            title=f"advrec study: {study.name}",
        )
        result["report"] = files.html
        if tracker is not None:
            tracker.log_files("report", [files.html, files.markdown, *files.csvs])
    return result
