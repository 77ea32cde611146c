"""`advrec train --no-test`: a tuning run selects on valid and never reads test; `advrec evaluate` reads
test later, once, and records it in the run's results.json."""

import json

import yaml

from advrec.cli.main import main
from advrec.runs.config import parse_config
from advrec.runs.load import evaluate_run
from advrec.runs.train import train_run

SMALL = {
    "seed": 5,
    "data": {"synthetic": {"n_users": 50, "n_items": 70, "interactions_per_user": 10}},
    "model": {"dim": 8},
    "train": {"epochs": 3, "batch_size": 128, "patience": 50, "optimizer": {"lr": 0.01}},
    "eval": {"ks": [5, 10], "metrics": ["ndcg", "hit"]},
}


def test_unread_test_is_null_until_evaluate_reads_and_records_it(tmp_path):
    cfg = parse_config(SMALL)
    tuned = train_run(cfg, tmp_path / "tune", show_progress=False, read_test=False)
    plain = train_run(cfg, tmp_path / "plain", show_progress=False)
    assert tuned["test"] is None and tuned["timing"]["test_eval_s"] is None
    recorded = json.loads((tmp_path / "tune" / "results.json").read_text())
    assert recorded["test"] is None and recorded["valid"] == plain["valid"]
    assert recorded["best_epoch"] == plain["best_epoch"]
    # the same model: evaluate reads the figures a normal run reads, and records them once
    test = evaluate_run(tmp_path / "tune")
    assert test == plain["test"]
    assert json.loads((tmp_path / "tune" / "results.json").read_text())["test"] == test
    # a normal run's results are left as they are
    before = (tmp_path / "plain" / "results.json").read_text()
    evaluate_run(tmp_path / "plain")
    assert (tmp_path / "plain" / "results.json").read_text() == before


def test_cli_prints_valid_and_says_how_to_read_test(tmp_path, capsys):
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(SMALL))
    out = tmp_path / "run"
    assert main(["train", str(path), "--out", str(out), "--quiet", "--no-test"]) == 0
    printed = capsys.readouterr().out
    assert "test not read" in printed and "test (best" not in printed
    results = json.loads((out / "results.json").read_text())
    assert results["test"] is None
    # the best epoch is printed counted from 1, as the per-epoch log lines count (results.json: 0-based)
    assert f"valid (best epoch {results['best_epoch'] + 1}):" in printed


def test_evaluate_with_the_probe_records_test_of_an_unread_run(tmp_path, capsys):
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(SMALL))
    out = tmp_path / "run"
    assert main(["train", str(path), "--out", str(out), "--quiet", "--no-test"]) == 0
    assert main(["evaluate", str(out), "--attack", "fgsm", "--eps", "0.5"]) == 0
    recorded = json.loads((out / "results.json").read_text())
    assert recorded["test"] is not None and "ndcg@10" in recorded["test"]
    assert recorded["robustness"]["clean"]["ndcg@10"] == recorded["test"]["ndcg@10"]
