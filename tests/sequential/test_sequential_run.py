"""SASRec runs end to end under the one trainer: learning, resume, APR, the probe, config errors, DDP."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from advrec.cli.main import main
from advrec.errors import ConfigError
from advrec.report.per_user import read_per_user, write_per_user
from advrec.runs.config import parse_config
from advrec.runs.load import evaluate_run, export_topk
from advrec.runs.probe import robustness_run
from advrec.runs.train import train_run
from advrec.train.checkpoint import load_checkpoint

N_ITEMS = 20


def _walks(path, n_users: int = 40, steps: int = 12, seed: int = 0) -> None:
    """Each user walks item i -> i + 1 (mod N_ITEMS) from a random start: the next item is knowable
    from the last one alone, and popularity is flat, so only a sequence model can rank it first."""
    rng = np.random.default_rng(seed)
    lines = ["user\titem\ttimestamp"]
    for user in range(n_users):
        start = int(rng.integers(N_ITEMS))
        # rows written in a shuffled order: the sequence must come from the timestamps
        for t in rng.permutation(steps):
            lines.append(f"u{user}\ti{(start + t) % N_ITEMS}\t{100 + t}")
    path.write_text("\n".join(lines) + "\n")


def _config(tmp_path, **over) -> dict:
    _walks(tmp_path / "walks.tsv")
    raw = {
        "seed": 3,
        "threads": 1,
        "data": {
            "format": "table",
            "path": str(tmp_path / "walks.tsv"),
            "columns": {"user": "user", "item": "item", "timestamp": "timestamp"},
        },
        "split": {"method": "loo"},
        "model": {"name": "sasrec", "dim": 16, "dropout": 0.1, "init_std": 0.05, "max_len": 6},
        "train": {"epochs": 5, "batch_size": 8, "patience": 50, "optimizer": {"lr": 0.01}},
        "eval": {"ks": [1, 10], "metrics": ["ndcg", "hit"]},
    }
    for key, value in over.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return raw


def test_learns_the_walk_and_records_both_maskings(tmp_path):
    cfg = parse_config(_config(tmp_path, train={"epochs": 30}))
    results = train_run(cfg, tmp_path / "run", show_progress=False)
    # random ranking would hit@1 = 1/20; the walk's next item is first for almost every user
    assert results["test"]["hit@1"] > 0.8
    assert {"masked_hit@1", "masked_ndcg@10"} <= set(results["test"])
    log = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(log) == 30 and all(line["train_cpu_s"] > 0 for line in log)
    assert log[-1]["loss"] < log[0]["loss"]
    assert evaluate_run(tmp_path / "run") == pytest.approx(results["test"])
    assert export_topk(tmp_path / "run", tmp_path / "top.tsv", k=2) == 40 * 2
    # per-user test metrics (the report's significance tests) rank as the run's own protocol does
    per_user = read_per_user(write_per_user(tmp_path / "run").parent)
    assert per_user is not None and len(per_user) == 40
    assert per_user["hit@1"].mean() == pytest.approx(results["test"]["hit@1"])


@pytest.mark.parametrize(("loss", "dropout_rng"), [("ce", "torch"), ("bce", "torch"), ("ce", "counter")])
def test_killed_and_resumed_run_matches_uninterrupted(tmp_path, crash_at, loss, dropout_rng):
    raw = _config(tmp_path, model={"dropout_rng": dropout_rng, "loss": loss})
    raw["train"]["schedule"] = {"name": "cosine"}
    cfg = parse_config(raw)
    full = train_run(cfg, tmp_path / "full", show_progress=False)
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, tmp_path / "part", hooks=[crash_at(3)], show_progress=False)
    resumed = train_run(cfg, tmp_path / "part", resume=True, show_progress=False)
    assert resumed["test"] == full["test"] and resumed["best_epoch"] == full["best_epoch"]
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt")
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key


def test_apr_hook_and_robustness_probe(tmp_path):
    adversary = {"name": "apr", "eps": 0.5, "start_epoch": 2, "targets": ["item_input"]}
    cfg = parse_config(_config(tmp_path, adversary=adversary))
    train_run(cfg, tmp_path / "apr", show_progress=False)
    log = [json.loads(line) for line in (tmp_path / "apr" / "metrics.jsonl").read_text().splitlines()]
    assert all("adv_loss" not in line for line in log[:2]) and all(line["adv_loss"] > 0 for line in log[2:])
    robustness = robustness_run(tmp_path / "apr", [0.0, 2.0], attack="fgsm,pgd", pgd_steps=2)
    assert robustness["fgsm"]["0.0"]["ndcg@10_drop"] == pytest.approx(0.0)
    assert robustness["settings"]["fgsm"]["targets"] == ["item_input", "item_output"]
    # a large step against the loss must hurt more than the same-norm random direction
    assert robustness["fgsm"]["2.0"]["ndcg@10"] < robustness["random"]["fgsm"]["2.0"]["ndcg@10"]
    assert (tmp_path / "apr" / "robustness" / "pgd.csv").exists()
    only_input = robustness_run(tmp_path / "apr", [2.0], targets=["item_input"])
    assert only_input["settings"]["fgsm"]["targets"] == ["item_input"]


def test_init_from_a_finished_run(tmp_path):
    from advrec.models.registry import build_model
    from advrec.runs.load import load_run
    from advrec.train.sequential import init_from_run

    raw = _config(tmp_path, train={"epochs": 2})
    train_run(parse_config(raw), tmp_path / "plain", show_progress=False)
    _, split, plain = load_run(tmp_path / "plain")
    fresh = build_model(parse_config(raw).model, split.train, torch.Generator().manual_seed(9))
    init_from_run(fresh, tmp_path / "plain", tmp_path / "plain" / "split")
    for key, value in plain.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key
    adversary = {"name": "apr", "eps": 0.5, "eps_mode": "relative"}
    tuned = train_run(
        parse_config(
            {**raw, "adversary": adversary, "train": {**raw["train"], "init_from": str(tmp_path / "plain")}}
        ),
        tmp_path / "apr",
        show_progress=False,
    )
    assert tuned["epochs_run"] == 2
    other = _config(tmp_path, seed=4)
    _walks(tmp_path / "walks.tsv", seed=1)  # another data set: another split
    other["train"]["init_from"] = str(tmp_path / "plain")
    with pytest.raises(ConfigError, match="another split"):
        train_run(parse_config(other), tmp_path / "other", show_progress=False)
    other["train"]["init_from"] = str(tmp_path)
    with pytest.raises(ConfigError, match="not a run folder"):
        train_run(parse_config(other), tmp_path / "other2", show_progress=False)
    bigger = _config(tmp_path, model={"dim": 8})
    _walks(tmp_path / "walks.tsv")
    bigger["train"]["init_from"] = str(tmp_path / "plain")
    with pytest.raises(ConfigError, match="its model differs"):
        train_run(parse_config(bigger), tmp_path / "bigger", show_progress=False)


def test_post_norm_blocks_with_a_short_span_learn_the_walk(tmp_path):
    raw = _config(tmp_path, train={"epochs": 30})
    raw["model"].update(norm="post", windows="all", span=2)
    results = train_run(parse_config(raw), tmp_path / "run", show_progress=False)
    assert results["test"]["hit@1"] > 0.8


@pytest.mark.parametrize(
    ("sasrec", "message"),
    [({"max_len": 6, "windows": "all", "span": 7}, "span"), ({"max_len": 6, "span": 2}, "windows: all")],
)
def test_span_errors_name_the_key(tmp_path, sasrec, message):
    raw = _config(tmp_path)
    raw["model"].update(sasrec)
    with pytest.raises(ConfigError, match=message) as info:
        parse_config(raw)
    assert "model: " in str(info.value)


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"split": {"method": "ratio", "ratios": [0.5, 0.25, 0.25]}}, "at most one item per user"),
        ({"train": {"l2": 0.1}}, "train.l2"),
        ({"adversary": {"name": "simgcl"}}, "simgcl works on model.name lightgcn only"),
        ({"adversary": {"name": "apr", "targets": ["user_embedding"]}}, "adversary.targets"),
    ],
)
def test_bad_configs_fail_before_training(tmp_path, over, message):
    with pytest.raises(ConfigError, match=message):
        train_run(parse_config(_config(tmp_path, **over)), tmp_path / "bad", show_progress=False)
    assert (
        not (tmp_path / "bad" / "metrics.jsonl").exists()
        or not (tmp_path / "bad" / "metrics.jsonl").read_text()
    )


def test_cli_shows_config_error_without_traceback(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(_config(tmp_path, split={"method": "ratio", "ratios": [0.5, 0.25, 0.25]})))
    assert main(["train", str(path), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "at most one item per user" in err and "Traceback" not in err


@pytest.mark.slow
def test_two_gloo_ranks_match_single_process(tmp_path):
    """Without dropout (its masks differ per rank) two ranks train the single-process model, up to the
    summation order of the gradient all-reduce."""
    raw = _config(tmp_path, model={"dropout": 0.0}, train={"epochs": 3})
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    base = ["-m", "advrec", "train", str(cfg), "--quiet", "--out"]
    subprocess.run([sys.executable, *base, str(tmp_path / "single")], check=True, capture_output=True)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    proc = subprocess.run(
        [*launcher, *base, str(tmp_path / "ddp")], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    single = json.loads((tmp_path / "single" / "results.json").read_text())
    ddp = json.loads((tmp_path / "ddp" / "results.json").read_text())
    assert ddp["world_size"] == 2 and single["world_size"] == 1
    for key, value in single["test"].items():
        assert ddp["test"][key] == pytest.approx(value, abs=1e-4), key
    a = load_checkpoint(tmp_path / "single" / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "ddp" / "checkpoints" / "last.pt")["model"]
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-5), name
