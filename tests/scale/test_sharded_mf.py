"""MF with sharded tables (TorchRec) on two CPU ranks (gloo, torchrun) equals the single-process MF run.

Why equal: the sharded model draws MF's initial weights from the same seed; every rank trains on its
slice of each global batch with its loss scaled by world size x its share; TorchRec returns each row's
gradients to the rank that owns the row, summed over the ranks and divided by the world size, so the
owner's fused FBGEMM update (SGD, Adagrad: both equal torch's) uses the gradient of the global-batch
mean. Parameters therefore agree up to floating-point summation order. With APR, every rank builds the
single-process perturbation (its gradient is all-reduced) and the batch's clean and adversarial terms
reach the tables through one lookup, hence one update.

These tests need the scale extra (torchrec, fbgemm-gpu-cpu); they skip without it, except under CI=true
(.ci/run installs it), where its absence fails.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from advrec.cli.main import main
from advrec.errors import ConfigError
from advrec.models.sharding import fused_optimizer_params
from advrec.runs.load import evaluate_run, load_run
from advrec.train.checkpoint import load_checkpoint
from advrec.train.config import TrainConfig
from advrec.train.pairwise import refuse_for_sharded

HERE = Path(__file__).parent
HAVE_TORCHREC = all(importlib.util.find_spec(name) is not None for name in ("torchrec", "fbgemm_gpu"))


def need_torchrec() -> None:
    if not HAVE_TORCHREC:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but torchrec is not installed (.ci/run installs it with make scale)")
        pytest.skip("torchrec is not installed (the scale extra: make scale)")


def config(model: dict, optimizer: dict, adversary: dict | None = None, epochs: int = 3) -> dict:
    raw = {
        "seed": 3,
        "threads": 1,
        "data": {"synthetic": {"n_users": 150, "n_items": 200, "interactions_per_user": 15}},
        "model": {"dim": 16, **model},
        "train": {"epochs": epochs, "batch_size": 250, "patience": 50, "l2": 1e-4, "optimizer": optimizer},
        "eval": {"ks": [10]},
    }
    return {**raw, "adversary": adversary} if adversary else raw


def write(folder: Path, name: str, raw: dict) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def train_single(folder: Path, raw: dict, name: str) -> Path:
    out = folder / name
    assert main(["train", str(write(folder, name, raw)), "--quiet", "--out", str(out)]) == 0
    return out


def last(run: Path) -> dict:
    return load_checkpoint(run / "checkpoints" / "last.pt")


def log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


APR = {"name": "apr", "method": "pgd", "pgd_steps": 2, "eps": 0.1, "start_epoch": 1}
APR_RELATIVE = {"name": "apr", "method": "fgsm", "eps": 0.5, "eps_mode": "relative", "start_epoch": 1}
CASES = {
    "row_wise-adagrad": ("row_wise", {"name": "adagrad", "lr": 0.05}, None),
    "table_wise-sgd": ("table_wise", {"name": "sgd", "lr": 0.5}, None),
    "row_wise-sgd-apr": ("row_wise", {"name": "sgd", "lr": 0.5}, APR),
    "table_wise-adagrad-apr": ("table_wise", {"name": "adagrad", "lr": 0.05}, APR_RELATIVE),
}
RUNT_BATCH = 1693  # the synthetic data's training split has 1694 pairs: a last batch of one row
RESUMED = config({"name": "sharded_mf", "sharding": "row_wise"}, {"name": "adagrad", "lr": 0.05}, epochs=4)


@pytest.fixture(scope="module")
def sharded_runs(tmp_path_factory) -> Path:
    """Every sharded run of these tests, in one torchrun launch of two CPU ranks (gloo): one run per case,
    and the resume case twice: uninterrupted, and killed at epoch 2 then resumed."""
    need_torchrec()
    folder = tmp_path_factory.mktemp("sharded")
    jobs = []
    for case, (sharding, optimizer, adversary) in CASES.items():
        raw = config({"name": "sharded_mf", "sharding": sharding}, optimizer, adversary)
        jobs.append({"config": str(write(folder, case, raw)), "out": str(folder / case)})
    resumed = str(write(folder, "resumed", RESUMED))
    jobs += [{"config": resumed, "out": str(folder / "whole")}]
    jobs += [{"config": resumed, "out": str(folder / "killed"), "crash_at": 2}]
    runt = config({"name": "sharded_mf"}, {"name": "sgd", "lr": 0.5})
    runt["train"]["batch_size"] = RUNT_BATCH
    jobs += [{"config": str(write(folder, "runt", runt)), "out": str(folder / "runt")}]
    (folder / "jobs.json").write_text(json.dumps(jobs))
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [*launcher, str(HERE / "run_sharded.py"), str(folder / "jobs.json")]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=400, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_two_sharded_ranks_equal_single_process_mf(tmp_path, sharded_runs, case):
    sharding, optimizer, adversary = CASES[case]
    single = train_single(tmp_path, config({"name": "mf"}, optimizer, adversary), "single")
    sharded = sharded_runs / case
    a, b = last(single), last(sharded)
    results = json.loads((sharded / "results.json").read_text())
    assert results["world_size"] == 2
    initial = train_single(tmp_path, {**config({"name": "mf"}, optimizer), "train": {"epochs": 1}}, "init")
    for name, value in a["model"].items():
        assert torch.allclose(value, b["model"][name], atol=1e-6), name
        moved = (value - last(initial)["model"][name]).abs().max()
        assert moved > 1e-3, f"{name} hardly trained: the comparison would show nothing"
    if optimizer["name"] == "adagrad":  # the optimizer's state too: the squared-gradient sums per table
        sums = [s["sum"] for s in a["procedure"]["optimizer"]["state"].values()]
        state = b["procedure"]["optimizer"]["state"]
        for table, expected in zip(["user", "item"], sums):
            got = state[f"embeddings.{table}.weight"][f"{table}.momentum1"]
            assert torch.allclose(got, expected, rtol=1e-5, atol=1e-12), table
    single_test = json.loads((single / "results.json").read_text())["test"]
    for key, value in single_test.items():
        assert results["test"][key] == pytest.approx(value, abs=1e-4), key
    if adversary:
        assert all(("adv_loss" in entry) == (entry["epoch"] >= 1) for entry in log(sharded))
        plain = train_single(tmp_path, config({"name": "mf"}, optimizer), "plain")
        differs = (last(plain)["model"]["item_embedding.weight"] - a["model"]["item_embedding.weight"]).abs()
        assert differs.max() > 1e-3, "the adversary changed nothing: the comparison would show nothing"
    # the perturbations are built on the batch's rows: no whole table is gathered while an epoch trains
    assert json.loads((sharded / "gathers.json").read_text()) == 0


@pytest.mark.slow
def test_a_killed_sharded_run_resumes_exactly(sharded_runs):
    whole, killed = sharded_runs / "whole", sharded_runs / "killed"
    assert len((killed / "killed_after.json").read_text().splitlines()) == 2  # killed after epoch 2
    a, b = last(whole), last(killed)
    for name, value in a["model"].items():
        assert torch.equal(value, b["model"][name]), name
    for table, entries in a["procedure"]["optimizer"]["state"].items():
        for key, value in entries.items():
            assert torch.equal(value, b["procedure"]["optimizer"]["state"][table][key]), key
    assert [e["loss"] for e in log(whole)] == [e["loss"] for e in log(killed)]
    assert len(log(killed)) == 4


def test_without_torchrec_a_sharded_model_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torchrec" else real(name, *a)
    )
    raw = config({"name": "sharded_mf"}, {"name": "sgd", "lr": 0.1})
    assert main(["train", str(write(tmp_path, "c", raw)), "--quiet", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "advrec: error: model.name sharded_mf: torchrec is not installed; install the scale extra with "
        "`make scale` in a checkout (see docs/guides/scale.md)"
    ]


def test_a_sharded_model_outside_torchrun_is_one_line_and_exit_2(tmp_path, capsys):
    need_torchrec()
    raw = config({"name": "sharded_mf"}, {"name": "sgd", "lr": 0.1})
    assert main(["train", str(write(tmp_path, "c", raw)), "--quiet", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sharded tables need a process group; launch with torchrun" in err[0]


@pytest.mark.parametrize(
    ("train", "message"),
    [
        ({"optimizer": {"name": "adam"}}, "train.optimizer.name: 'adam' has no fused kernel"),
        ({"optimizer": {"name": "sgd", "momentum": 0.9}}, "train.optimizer: sharded tables update"),
        ({"grad_clip": 1.0}, "train.grad_clip: sharded tables update in the backward pass"),
        ({"kernel": "fused"}, "train.kernel: 'fused' does not apply to sharded tables"),
        ({"average_from": 1}, "train.average_from: weight averaging is not available"),
    ],
    ids=["adam", "momentum", "grad_clip", "kernel", "average_from"],
)
def test_what_sharded_tables_cannot_train_with_is_refused(train, message):
    settings = TrainConfig(**train)
    with pytest.raises(ConfigError, match=re.escape(message)):
        refuse_for_sharded(settings)
        if HAVE_TORCHREC:
            fused_optimizer_params(settings.optimizer)
        elif train.get("optimizer"):
            pytest.skip("the optimizer's check imports fbgemm_gpu")


@pytest.mark.slow
def test_a_finished_sharded_run_is_evaluated_in_one_process(sharded_runs):
    """Its checkpoints hold the whole tables under mf's keys: read back as mf, without torchrun."""
    run = sharded_runs / "row_wise-adagrad"
    recorded = json.loads((run / "results.json").read_text())["test"]
    config, _, model = load_run(run)
    assert config.model.name == "sharded_mf" and type(model).__name__ == "MF"
    assert evaluate_run(run) == pytest.approx(recorded, abs=1e-9)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_node_ranks_joined_by_c10d_rendezvous_equal_single_process_mf(tmp_path):
    """Multi-node launch simulated on one machine: two torchrun agents (one per node, one rank each) meet
    at a c10d rendezvous endpoint, as on two hosts; the run equals the single-process one."""
    need_torchrec()
    sharding, optimizer, _ = CASES["row_wise-adagrad"]
    path = write(tmp_path, "c", config({"name": "sharded_mf", "sharding": sharding}, optimizer))
    out = tmp_path / "two_nodes"
    endpoint = f"127.0.0.1:{free_port()}"
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1"]
    launcher += ["--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint, "--rdzv-id", "two-nodes"]
    command = [*launcher, "-m", "advrec", "train", str(path), "--quiet", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    nodes = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    for node in nodes:
        _, err = node.communicate(timeout=240)
        assert node.returncode == 0, err[-3000:]
    single = train_single(tmp_path, config({"name": "mf"}, optimizer), "single")
    assert json.loads((out / "results.json").read_text())["world_size"] == 2
    for name, value in last(single)["model"].items():
        assert torch.allclose(value, last(out)["model"][name], atol=1e-6), name


@pytest.mark.slow
def test_a_last_batch_smaller_than_the_world_is_skipped_not_a_crash(sharded_runs):
    """One row for two ranks would leave rank 1 an empty slice (a NaN loss there, a failed collective)."""
    results = json.loads((sharded_runs / "runt" / "results.json").read_text())
    assert results["dataset"]["n_train"] % RUNT_BATCH == 1
    assert len(log(sharded_runs / "runt")) == 3 and results["world_size"] == 2
