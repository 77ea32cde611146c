"""Run under torchrun by test_sharded_mf: several runs in one launch (one start of the interpreters,
TorchRec and the process group for all). ``jobs.json`` lists {"config", "out", "crash_at"}; a job with
``crash_at`` = e is killed (on every rank) when epoch e starts, after epoch e - 1's checkpoint was
written, and then resumed from that checkpoint as ``advrec train --resume`` does."""

import json
import sys
from pathlib import Path

import yaml

from advrec.runs.config import parse_config
from advrec.runs.train import train_run
from advrec.train.hooks import TrainHook


class CrashAt(TrainHook):
    def __init__(self, at_epoch: int):
        self.at_epoch = at_epoch

    def on_epoch_start(self, epoch: int) -> None:
        if epoch == self.at_epoch:
            raise KeyboardInterrupt


def run(job: dict) -> None:
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
    for job in json.loads(Path(sys.argv[1]).read_text()):
        run(job)
