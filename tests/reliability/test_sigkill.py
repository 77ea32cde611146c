"""kill -9 at random points of ``advrec train``, ``advrec study`` and ``advrec attack``: rerunning the
command (train: with --resume once a checkpoint exists) finishes with the numbers of an uninterrupted
run, exactly. Two kills each here; ``benchmarks/soak_study.py`` kills one study twenty times.

The uninterrupted references run in-process (the same code and seeds; it saves their start-up), the
killed runs as real processes."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import pytest
import yaml
from reliability_helpers import base_raw, write_config, write_ratings

from advrec.runs.config import load_config

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def soak():
    spec = importlib.util.spec_from_file_location("soak_study", BENCHMARKS / "soak_study.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["soak_study"] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def startup(soak, tmp_path_factory) -> float:
    return soak.startup_seconds(tmp_path_factory.mktemp("startup"))


def _points(soak, startup: float, seed: int) -> list:
    return soak.kill_points(random.Random(seed), 2, startup, max_lines=4)


def _killed_twice(attempts) -> None:
    assert [a.outcome for a in attempts[:2]] == ["killed", "killed"], attempts
    assert attempts[-1].outcome == "exit 0", attempts


def test_train_killed_at_random_points_resumes_to_the_same_numbers(soak, startup, tmp_path):
    from advrec.runs.train import train_run

    data = write_ratings(tmp_path / "u.data", n_users=80, n_items=100, per_user=15)
    config = write_config(tmp_path / "c.yaml", base_raw(data, epochs=25, patience=100))
    reference = train_run(load_config(config), tmp_path / "reference", show_progress=False)

    def again(_: int) -> list[str]:
        resume = (tmp_path / "run" / "checkpoints" / "last.pt").exists()
        return ["train", str(config), "--out", "run", *(["--resume"] if resume else [])]

    attempts = soak.run_with_kills(again(0), _points(soak, startup, seed=1), tmp_path, next_argv=again)
    _killed_twice(attempts)
    killed = soak.result_numbers(tmp_path / "run")["results.json"]
    assert {k: killed[k] for k in ("test", "valid", "best_epoch", "epochs_run")} == {
        k: reference[k] for k in ("test", "valid", "best_epoch", "epochs_run")
    }


def _study(tmp_path: Path) -> Path:
    data = write_ratings(tmp_path / "u.data", n_users=80, n_items=100, per_user=15)
    study = {
        "name": "killed",
        "base": base_raw(data, epochs=6, patience=100),
        "axes": {
            "method": {
                "bpr": {},
                "poisoned": {
                    "steps": {"poison": {"attack": "bandwagon", "targets": "random:2", "size": 0.05}}
                },
            }
        },
        "seeds": [1],
        "probe": {"attack": "fgsm", "eps": [0.5]},
    }
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def test_study_killed_at_random_points_reports_the_same_numbers(soak, startup, tmp_path):
    import io

    from advrec.experiments.study import load_study, run_study

    path = _study(tmp_path)
    run_study(*load_study(path), tmp_path / "reference", stream=io.StringIO())
    attempts = soak.run_with_kills(
        ["study", str(path), "--out", "killed"], _points(soak, startup, seed=2), tmp_path
    )
    _killed_twice(attempts)
    assert soak.differences(tmp_path / "reference", tmp_path / "killed") == []
    assert soak.report_tables(tmp_path / "killed")  # there was a report to compare


def test_attack_killed_at_random_points_gives_the_same_exposure(soak, startup, tmp_path):
    from advrec.experiments.poisoning import attack_run, poison_config

    data = write_ratings(tmp_path / "u.data", n_users=80, n_items=100, per_user=15)
    config = write_config(tmp_path / "c.yaml", base_raw(data, epochs=8, patience=100))
    settings = poison_config({"attack": "bandwagon", "size": 0.05, "targets": "random:2"}, "test")
    attack_run(load_config(config), tmp_path / "reference", settings)
    argv = ["attack", str(config), "--attack", "bandwagon", "--size", "0.05", "--targets", "random:2"]
    attempts = soak.run_with_kills([*argv, "--out", "killed"], _points(soak, startup, seed=3), tmp_path)
    _killed_twice(attempts)
    assert soak.result_numbers(tmp_path / "killed") == soak.result_numbers(tmp_path / "reference")
