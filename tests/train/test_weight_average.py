"""`train.average_from` (SWA): the model evaluated, selected and kept is the mean of the end-of-epoch weights
from that epoch on, training goes on from the raw weights, and a killed run resumes the average exactly."""

import json

import pytest
import torch
from torch import nn

from advrec.runs.config import parse_config
from advrec.runs.train import train_run
from advrec.train.averaging import WeightAverage
from advrec.train.checkpoint import load_checkpoint
from advrec.train.hooks import TrainHook

CONFIG = {
    "seed": 5,
    "data": {"synthetic": {"n_users": 80, "n_items": 100, "interactions_per_user": 12}},
    "model": {"dim": 8},
    "train": {
        "epochs": 6,
        "batch_size": 128,
        "patience": 50,
        "optimizer": {"lr": 0.05},
        "kernel": "autograd",
        "average_from": 2,
    },
    "eval": {"ks": [5, 10], "metrics": ["ndcg", "recall"]},
}


class RawWeights(TrainHook):
    """Keeps the model's weights as training left them at each epoch's end (after the evaluation)."""

    def __init__(self) -> None:
        self.model = None
        self.states: list[dict[str, torch.Tensor]] = []

    def on_loss(self, model, batch, loss):
        self.model = model
        return loss

    def on_epoch_end(self, epoch, log):
        self.states.append({k: v.detach().clone() for k, v in self.model.state_dict().items()})


def test_running_mean_and_swap():
    layer = nn.Linear(2, 1, bias=False)
    average = WeightAverage(layer, start_epoch=1)
    seen = []
    for epoch, value in enumerate([1.0, 2.0, 4.0, 9.0]):
        with torch.no_grad():
            layer.weight.fill_(value)
        average.update(epoch)
        seen.append(value)
    assert average.count == 3
    with average.swapped_in():
        assert torch.allclose(layer.weight, torch.full((1, 2), (2.0 + 4.0 + 9.0) / 3))
    assert torch.equal(layer.weight, torch.full((1, 2), 9.0))  # the raw weights are back


def test_nothing_is_swapped_before_the_first_averaged_epoch():
    layer = nn.Linear(2, 1, bias=False)
    average = WeightAverage(layer, start_epoch=3)
    average.update(0)
    with average.swapped_in():
        pass
    assert average.mean is None and average.count == 0


def test_run_keeps_the_average_and_trains_on_raw_weights(tmp_path):
    raw = RawWeights()
    results = train_run(parse_config(CONFIG), tmp_path / "run", hooks=[raw], show_progress=False)
    log = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [line["averaged_epochs"] for line in log] == [0, 0, 1, 2, 3, 4]
    # the raw weights keep moving: training never continues from the average
    assert not torch.allclose(raw.states[4]["user_embedding.weight"], raw.states[5]["user_embedding.weight"])
    best = results["best_epoch"]
    assert best >= 2  # epochs before average_from are not candidates
    kept = load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")["model"]
    # the mean of the raw end-of-epoch weights from epoch 2 to the best epoch
    window = raw.states[2 : best + 1]
    expected = {k: sum(s[k] for s in window) / len(window) for k in window[0]}
    for key, value in expected.items():
        assert torch.allclose(kept[key], value, atol=1e-6), key
    # the logged valid figures are the averaged model's: the kept model reproduces them
    averaged = [line["valid"]["ndcg@10"] for line in log[2:]]
    raw_run = train_run(
        parse_config({**CONFIG, "train": {**CONFIG["train"], "average_from": None}}),
        tmp_path / "raw",
        show_progress=False,
    )
    raw_log = [json.loads(line) for line in (tmp_path / "raw" / "metrics.jsonl").read_text().splitlines()]
    # same seed, same raw trajectory; epochs 0-1 are not averaged, so identical; later ones differ
    assert [line["loss"] for line in raw_log] == pytest.approx([line["loss"] for line in log])
    assert raw_log[1]["valid"] == log[1]["valid"]
    assert averaged != [line["valid"]["ndcg@10"] for line in raw_log[2:]]
    assert raw_run["epochs_run"] == results["epochs_run"]


def test_killed_run_resumes_the_average_exactly(tmp_path, crash_at):
    cfg = parse_config(CONFIG)
    full = train_run(cfg, tmp_path / "full", show_progress=False)
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, tmp_path / "part", hooks=[crash_at(4)], show_progress=False)
    resumed = train_run(cfg, tmp_path / "part", resume=True, show_progress=False)
    assert resumed["valid"] == full["valid"] and resumed["best_epoch"] == full["best_epoch"]
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")["average"]
    b = load_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt")["average"]
    assert a["count"] == b["count"] == 4
    for key in a["mean"]:
        assert torch.equal(a["mean"][key], b["mean"][key]), key


@pytest.mark.parametrize(("kernel", "optimizer"), [("auto", "adam"), ("fused_epoch", "sparse_adam")])
def test_fused_kernels_train_on_after_the_swap(tmp_path, kernel, optimizer):
    """The numba kernels update the parameters in place: swapping the average in and out around each
    evaluation must leave their raw trajectory exactly as without averaging."""
    losses = []
    for average_from in (None, 2):
        raw = json.loads(json.dumps(CONFIG))
        raw["train"].update(kernel=kernel, average_from=average_from)
        raw["train"]["optimizer"]["name"] = optimizer
        folder = tmp_path / f"run{average_from}"
        train_run(parse_config(raw), folder, show_progress=False)
        log = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
        losses.append([line["loss"] for line in log])
    assert losses[0] == losses[1]
