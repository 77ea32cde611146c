"""Run under torchrun by test_sharded_mf: several runs in one launch (one start of the interpreters,
TorchRec and the process group for all). ``jobs.json`` lists {"config", "out", "crash_at"}; a job with
``crash_at`` = e is killed (on every rank) when epoch e starts, after epoch e - 1's checkpoint was
written, and then resumed from that checkpoint as ``advrec train --resume`` does. Each run's folder gets
``gathers.json``: how many times its whole tables were gathered while an epoch trained (evaluation and
checkpoints come after the epoch)."""

import json
import sys
from pathlib import Path

import torch.distributed as dist
import yaml

import advrec.models.sharded_mf as sharded_mf
from advrec.runs.config import parse_config
from advrec.runs.train import train_run
from advrec.train.hooks import TrainHook
from advrec.train.pairwise import PairwiseProcedure

GATHERS = {"inside_epoch": False, "count": 0}


def counting_gathers() -> None:
    """Count the gathers of whole tables made while an epoch trains."""
    gather, run_epoch = sharded_mf.gather_dense, PairwiseProcedure.run_epoch

    def counted_gather(sharded):
        GATHERS["count"] += GATHERS["inside_epoch"]
        return gather(sharded)

    def counted_epoch(self, *args):
        GATHERS["inside_epoch"] = True
        try:
            return run_epoch(self, *args)
        finally:
            GATHERS["inside_epoch"] = False

    sharded_mf.gather_dense = counted_gather
    PairwiseProcedure.run_epoch = counted_epoch


class CrashAt(TrainHook):
    def __init__(self, at_epoch: int):
        self.at_epoch = at_epoch

    def on_epoch_start(self, epoch: int) -> None:
        if epoch == self.at_epoch:
            raise KeyboardInterrupt


def run(job: dict) -> None:
    GATHERS["count"] = 0
    train(job)
    if dist.get_rank() == 0:
        Path(job["out"], "gathers.json").write_text(json.dumps(GATHERS["count"]))


def train(job: dict) -> None:
    config = parse_config(yaml.safe_load(Path(job["config"]).read_text()), job["config"])
    if job.get("crash_at") is None:
        train_run(config, job["out"], show_progress=False)
        return
    try:
        train_run(config, job["out"], hooks=[CrashAt(job["crash_at"])], show_progress=False)
    except KeyboardInterrupt:
        Path(job["out"], "killed_after.json").write_text(Path(job["out"], "metrics.jsonl").read_text())
    else:
        sys.exit(f"{job['out']}: the run was not interrupted")
    train_run(config, job["out"], resume=True, show_progress=False)


if __name__ == "__main__":
    counting_gathers()
    for job in json.loads(Path(sys.argv[1]).read_text()):
        run(job)
