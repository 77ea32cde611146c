"""The one guarded step, the trainer's divergence guards, its tolerance of a log cut short by a kill, and
the per-epoch log lines (``run.log``, and stderr while a CLI run trains)."""

import json
import os
import subprocess
import sys
import time

import pytest
import torch
import yaml
from torch import nn

from advrec.errors import DataError, TrainingDiverged
from advrec.runs.config import parse_config
from advrec.runs.train import train_run
from advrec.train.step import GuardedStep

SMALL = {
    "seed": 3,
    "data": {"synthetic": {"n_users": 80, "n_items": 100, "interactions_per_user": 12}},
    "model": {"dim": 8},
    "train": {"epochs": 5, "batch_size": 128, "patience": 50, "optimizer": {"lr": 0.01}},
    "eval": {"ks": [5, 10]},
}


def _config(train=None, **top):
    raw = json.loads(json.dumps(SMALL))
    raw["train"].update(train or {})
    raw.update(top)
    return parse_config(raw)


# -- GuardedStep ----------------------------------------------------------------------------------
def _linear():
    layer = nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        layer.weight.fill_(1.0)
    return layer


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_loss_leaves_the_parameters_as_they_were(bad):
    layer = _linear()
    step = GuardedStep(torch.optim.SGD(layer.parameters(), lr=0.1), list(layer.parameters()))
    with pytest.raises(TrainingDiverged, match=r"epoch 2: the training loss became (nan|inf)"):
        step(layer(torch.ones(1, 3)).sum() * bad, epoch=2)
    assert torch.equal(layer.weight, torch.ones(1, 3)) and layer.weight.grad is None


def test_a_step_is_the_optimizer_step_on_the_scaled_gradient():
    layer = _linear()
    step = GuardedStep(torch.optim.SGD(layer.parameters(), lr=0.1), list(layer.parameters()))
    step(layer(torch.tensor([[1.0, 2.0, 3.0]])).sum(), epoch=0, scale=2.0)
    assert torch.allclose(layer.weight, torch.tensor([[0.8, 0.6, 0.4]]))  # 1 - 0.1 * 2 * x


def test_own_gradients_leave_other_parameters_gradients_alone():
    first, second = _linear(), _linear()
    second.weight.grad = torch.full((1, 3), 7.0)
    step = GuardedStep(
        torch.optim.SGD(first.parameters(), lr=0.1), list(first.parameters()), own_gradients=True
    )
    step(second(first.weight).sum(), epoch=0)  # the loss flows through both
    assert torch.equal(second.weight.grad, torch.full((1, 3), 7.0))
    assert not torch.equal(first.weight, torch.ones(1, 3))


def test_ready_gradients_are_averaged_clipped_and_stepped():
    layer = _linear()
    seen = []
    step = GuardedStep(
        torch.optim.SGD(layer.parameters(), lr=1.0),
        list(layer.parameters()),
        grad_clip=1.0,
        average=lambda params: seen.append([p.grad.clone() for p in params]),
        measure_norm=True,
    )
    layer.weight.grad = torch.tensor([[3.0, 4.0, 0.0]])
    norm = step(0.5, epoch=0, gradients_ready=True)
    assert norm == pytest.approx(5.0) and torch.equal(seen[0][0], torch.tensor([[3.0, 4.0, 0.0]]))
    assert torch.allclose(layer.weight, torch.tensor([[0.4, 0.2, 1.0]]), atol=1e-5)  # clipped to norm 1


# -- divergence ------------------------------------------------------------------------------------
def test_an_exploding_finite_loss_stops_the_run_and_names_the_checkpoint_kept(tmp_path):
    """Adam at lr 1e6 never produces a NaN here: the loss only grows, by orders of magnitude."""
    config = _config({"epochs": 15, "optimizer": {"name": "adam", "lr": 1e6}, "kernel": "autograd"})
    with pytest.raises(TrainingDiverged, match="grew to .* more than train.max_loss_growth") as stopped:
        train_run(config, tmp_path / "r", show_progress=False)
    message = str(stopped.value)
    last = tmp_path / "r" / "checkpoints" / "last.pt"
    if last.exists():
        assert f"the last good checkpoint is {last}" in message
    else:
        assert "no checkpoint had been written yet" in message
    # the same run with the guard off trains through (the old behaviour): the guard is what stopped it
    off = _config({"epochs": 3, "optimizer": {"name": "adam", "lr": 1e6}, "kernel": "autograd"})
    off = off.model_copy(update={"train": off.train.model_copy(update={"max_loss_growth": None})})
    results = train_run(off, tmp_path / "off", show_progress=False)
    assert results["epochs_run"] == 3


def test_a_first_epoch_divergence_claims_no_checkpoint(tmp_path):
    config = _config(
        {"optimizer": {"name": "sgd", "lr": 1e30}, "kernel": "autograd"}, model={"dim": 8, "init_std": 1e18}
    )
    with pytest.raises(TrainingDiverged) as stopped:
        train_run(config, tmp_path / "r", show_progress=False)
    assert "no checkpoint had been written yet" in str(stopped.value)
    assert "last good checkpoint is" not in str(stopped.value)
    assert not (tmp_path / "r" / "checkpoints").exists()


# -- resume after a kill mid-write of metrics.jsonl -------------------------------------------------
def test_resume_drops_a_last_log_line_cut_short_by_a_kill(tmp_path, crash_at):
    config = _config()
    full = train_run(config, tmp_path / "full", show_progress=False)
    with pytest.raises(KeyboardInterrupt):
        train_run(config, tmp_path / "part", hooks=[crash_at(3)], show_progress=False)
    log = tmp_path / "part" / "metrics.jsonl"
    text = log.read_text()
    log.write_text(text + text.splitlines()[-1][:17])  # a kill while the next line was written
    resumed = train_run(config, tmp_path / "part", resume=True, show_progress=False)
    assert resumed["test"] == full["test"] and resumed["best_epoch"] == full["best_epoch"]
    assert [json.loads(x)["epoch"] for x in log.read_text().splitlines()] == list(range(5))


def test_resume_refuses_a_damaged_line_inside_the_log(tmp_path, crash_at):
    config = _config()
    with pytest.raises(KeyboardInterrupt):
        train_run(config, tmp_path / "part", hooks=[crash_at(3)], show_progress=False)
    log = tmp_path / "part" / "metrics.jsonl"
    lines = log.read_text().splitlines()
    lines[1] = lines[1][:10]
    log.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"{log}:2: not a JSON object"):
        train_run(config, tmp_path / "part", resume=True, show_progress=False)


# -- log lines ---------------------------------------------------------------------------------------
def test_run_log_holds_one_line_per_epoch(tmp_path):
    train_run(_config(), tmp_path / "r", show_progress=False)
    lines = (tmp_path / "r" / "run.log").read_text().splitlines()
    epochs = [line for line in lines if "advrec.train.trainer: epoch " in line]
    assert [line.split("epoch ")[1].split(" ")[0] for line in epochs] == [f"{e}/5" for e in range(1, 6)]
    assert "training mf, seed 3" in lines[0] and "results in" in lines[-1]


def test_cli_train_redirected_to_a_file_writes_epoch_lines_while_it_runs(tmp_path):
    raw = json.loads(json.dumps(SMALL))
    raw["train"].update(epochs=400, patience=400)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(raw))
    log = tmp_path / "log"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "advrec", "train", str(config), "--out", str(tmp_path / "r")],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            deadline = time.monotonic() + 120
            while "epoch 3/400" not in log.read_text() and time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text()
                time.sleep(0.1)
            running = proc.poll() is None
        finally:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert running, "the run ended before its log was read"
    assert "epoch 1/400 · loss " in text and "epoch 2/400" in text and "epoch 3/400" in text
