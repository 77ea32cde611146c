"""End-to-end runs on the embedded synthetic data: run folder, exact resume, CLI behaviour."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from advrec.cli.main import main
from advrec.runs.config import parse_config
from advrec.runs.load import evaluate_run, export_topk
from advrec.runs.train import train_run
from advrec.train.checkpoint import load_checkpoint

SMALL = {
    "seed": 7,
    "data": {"synthetic": {"n_users": 120, "n_items": 150, "interactions_per_user": 15}},
    "model": {"dim": 16},
    "train": {"epochs": 6, "batch_size": 256, "patience": 50, "optimizer": {"lr": 0.01}},
    "eval": {"ks": [5, 10]},
}


def _config(**train):
    raw = json.loads(json.dumps(SMALL))
    raw["train"].update(train)
    return parse_config(raw)


def test_run_folder_contents(tmp_path):
    results = train_run(_config(), tmp_path / "run", show_progress=False)
    run = tmp_path / "run"
    for name in [
        "config.yaml",
        "split/train.tsv",
        "split/valid.tsv",
        "split/test.tsv",
        "metrics.jsonl",
        "checkpoints/last.pt",
        "checkpoints/best.pt",
        "results.json",
    ]:
        assert (run / name).exists(), name
    saved = json.loads((run / "results.json").read_text())
    assert saved["test"]["ndcg@10"] == pytest.approx(results["test"]["ndcg@10"])
    assert {"test", "valid", "best_epoch", "timing"} <= set(saved)
    assert {"train_s_per_epoch", "eval_s", "time_to_best_s"} <= set(saved["timing"])
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    whole = sum(x["train_s"] + x["eval_s"] for x in log)
    assert 0 < saved["timing"]["time_to_best_s"] <= whole + 1e-9
    env = saved["environment"]  # what the timings ran on
    assert env["torch"] == torch.__version__ and env["device"] == "cpu" and env["torch_threads"] >= 1
    assert env["processor"] and env["advrec"]
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 6
    # The model learned something: far above a random ranking (hit@10 ~ 10/150 * profile share).
    assert saved["test"]["ndcg@10"] > 0.05
    assert load_checkpoint(run / "checkpoints" / "last.pt")["trainer"]["epoch"] == 6


@pytest.mark.parametrize("model", ["mf", "neumf"])
def test_same_seed_same_numbers(tmp_path, model):
    extra = {"dropout": 0.2, "mlp_layers": [8, 4]} if model == "neumf" else {}
    cfg = parse_config({**SMALL, "model": {"name": model, "dim": 8, **extra}})
    one = train_run(cfg, tmp_path / "a", show_progress=False)
    two = train_run(cfg, tmp_path / "b", show_progress=False)
    assert one["test"] == two["test"]
    other = train_run(cfg.model_copy(update={"seed": 8}), tmp_path / "c", show_progress=False)
    assert other["test"] != one["test"]


@pytest.mark.parametrize("crash_epoch", [1, 4])
def test_killed_and_resumed_run_matches_uninterrupted(tmp_path, crash_at, crash_epoch):
    cfg = _config(schedule={"name": "plateau", "patience": 0, "warmup_epochs": 1})
    full = train_run(cfg, tmp_path / "full", show_progress=False)
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, tmp_path / "part", hooks=[crash_at(crash_epoch)], show_progress=False)
    assert not (tmp_path / "part" / "results.json").exists()
    resumed = train_run(cfg, tmp_path / "part", resume=True, show_progress=False)
    assert resumed["test"] == full["test"]
    assert resumed["best_epoch"] == full["best_epoch"]
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt")
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key])
    full_log = (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()
    part_log = (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["loss"] for x in full_log] == [json.loads(x)["loss"] for x in part_log]


def test_time_to_best_counts_the_epochs_before_a_kill(tmp_path, crash_at):
    cfg = _config()
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, tmp_path / "run", hooks=[crash_at(2)], show_progress=False)
    resumed = train_run(cfg, tmp_path / "run", resume=True, show_progress=False)
    logged = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    up_to_best = [x for x in logged if x["epoch"] <= resumed["best_epoch"]]
    assert resumed["best_epoch"] > 2 and len(up_to_best) == resumed["best_epoch"] + 1  # spans the kill
    expected = sum(x["train_s"] + x["eval_s"] for x in up_to_best)
    assert resumed["timing"]["time_to_best_s"] == pytest.approx(expected)
    assert resumed["timing"]["time_to_best_s"] > sum(x["train_s"] for x in up_to_best[:2])


def test_sigkilled_cli_run_resumes_to_same_metrics(tmp_path):
    cfg_path = tmp_path / "c.yaml"
    import yaml

    raw = json.loads(json.dumps(SMALL))
    raw["train"]["epochs"] = 40
    raw["data"]["synthetic"].update(n_users=400, n_items=500)
    cfg_path.write_text(yaml.safe_dump(raw))
    cmd = [sys.executable, "-m", "advrec", "train", str(cfg_path), "--quiet"]
    subprocess.run([*cmd, "--out", str(tmp_path / "full")], check=True, capture_output=True)
    proc = subprocess.Popen(
        [*cmd, "--out", str(tmp_path / "part")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    log = tmp_path / "part" / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if log.exists() and len(log.read_text().splitlines()) >= 3:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (tmp_path / "part" / "results.json").exists()
    subprocess.run([*cmd, "--out", str(tmp_path / "part"), "--resume"], check=True, capture_output=True)
    full = json.loads((tmp_path / "full" / "results.json").read_text())
    part = json.loads((tmp_path / "part" / "results.json").read_text())
    assert part["test"] == full["test"] and part["best_epoch"] == full["best_epoch"]


def test_resume_refuses_changed_config_and_fresh_run_refuses_existing(tmp_path):
    train_run(_config(epochs=2), tmp_path / "r", show_progress=False)
    from advrec.errors import AdvrecError, ConfigError

    with pytest.raises(ConfigError, match="differs"):
        train_run(_config(epochs=3, batch_size=128), tmp_path / "r", resume=True, show_progress=False)
    with pytest.raises(AdvrecError, match="--resume"):
        train_run(_config(epochs=2), tmp_path / "r", show_progress=False)


def test_evaluate_and_export_topk(tmp_path):
    results = train_run(_config(epochs=3), tmp_path / "r", show_progress=False)
    again = evaluate_run(tmp_path / "r")
    assert again["ndcg@10"] == pytest.approx(results["test"]["ndcg@10"])
    out = tmp_path / "top.tsv"
    rows = export_topk(tmp_path / "r", out)
    lines = out.read_text().splitlines()
    assert lines[0] == "user\trank\titem" and len(lines) == rows + 1
    # Recompute hit@10 from the export with original ids only, as another tool would.
    test = [line.split("\t") for line in (tmp_path / "r" / "split" / "test.tsv").read_text().splitlines()[1:]]
    truth: dict[str, set[str]] = {}
    for row in test:
        truth.setdefault(row[0], set()).add(row[1])
    top: dict[str, list[str]] = {}
    for line in lines[1:]:
        user, rank, item = line.split("\t")
        top.setdefault(user, []).append(item)
    hits = [any(i in truth[u] for i in top[u][:10]) for u in truth]
    assert sum(hits) / len(hits) == pytest.approx(results["test"]["hit@10"])


def test_cli_errors_exit_2_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  nmae: mf\n")
    assert main(["train", str(bad), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'model.nmae'" in err and "Traceback" not in err
    data = tmp_path / "u.data"
    data.write_text("1,2,3,4\n")
    cfg = tmp_path / "ml.yaml"
    cfg.write_text(f"data:\n  format: movielens-100k\n  path: {data}\n")
    assert main(["train", str(cfg), "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert f"{data}:1" in err and "Traceback" not in err
    proc = subprocess.run([sys.executable, "-m", "advrec", "train", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_a_selection_metric_that_is_never_a_number_is_an_error(tmp_path, monkeypatch):
    from advrec.errors import AdvrecError
    from advrec.train.trainer import Trainer

    monkeypatch.setattr(Trainer, "_selection_value", lambda self, valid: float("nan"))
    with pytest.raises(AdvrecError, match="eval.select_metric: valid ndcg@10 was NaN"):
        train_run(_config(epochs=3), tmp_path / "run", show_progress=False)
