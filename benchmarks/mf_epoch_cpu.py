#!/usr/bin/env python3
"""CPU seconds per MF-BPR training epoch: Cornac 2.2.2's BPR vs advrec's fused kernels, interleaved.

compare_peers.py reports wall seconds, which a shared 2-vCPU machine under load inflates by 2-3x and
unevenly between children run minutes apart. This script measures ``time.process_time()`` per training
epoch (CPU seconds of the process: waiting for a core does not count), each library in its own child
process, one after another, for ``--rounds`` rounds, and prints the medians and their ratios.

- Cornac (peers venv): BPR(k=64, lr 0.01, reg 0.001, use_bias) warm-started with ``fit(max_iter=1)``
  per epoch on the RecBole split's train.tsv, as ``../shared/peers/run_cornac_bpr.py`` does.
- advrec (this venv): ``examples/basics/ml100k_recbole_split_mf_bpr.yaml`` through ``train_run`` with one
  evaluation at the end, once per variant (``--set``s below); a monitor hook reads the CPU clock at
  each epoch's start and end.

Usage::

    python benchmarks/mf_epoch_cpu.py [--epochs 30] [--rounds 3] [--peers-python /work/peers-venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "basics" / "ml100k_recbole_split_mf_bpr.yaml"
VARIANTS = {
    "advrec fused (dense Adam)": [],
    "advrec fused_epoch + sparse_adam": ["train.optimizer.name=sparse_adam"],
}


def cornac_epochs(data_root: Path, epochs: int) -> list[float]:
    import warnings

    from cornac.eval_methods import BaseMethod
    from cornac.models import BPR

    warnings.filterwarnings("ignore", message="Model is already fitted")
    split = data_root / "ml-100k-recbole-split"

    def read(name: str) -> list[tuple[str, str, float]]:
        lines = (line.split() for line in (split / name).read_text().splitlines())
        return [(u, i, float(r)) for u, i, r, *_ in lines]

    em = BaseMethod.from_splits(
        train_data=read("train.tsv"), test_data=read("test.tsv"), val_data=read("valid.tsv"),
        exclude_unknowns=True, rating_threshold=1.0, seed=2020, verbose=False,
    )  # fmt: skip
    model = BPR(k=64, max_iter=1, learning_rate=0.01, lambda_reg=0.001, use_bias=True, seed=2020)
    model.verbose = False
    times = []
    for epoch in range(1, epochs + 1):
        model.seed = 2020 + epoch
        start = time.process_time()
        model.fit(em.train_set, em.val_set)
        times.append(time.process_time() - start)
    return times


def advrec_epochs(data_root: Path, epochs: int, sets: list[str]) -> list[float]:
    from advrec.runs.config import load_config
    from advrec.runs.train import train_run
    from advrec.train.hooks import TrainHook

    class CpuClock(TrainHook):
        """Reads the process CPU clock around each epoch (a monitor: it keeps the fused kernels on)."""

        def __init__(self) -> None:
            self.times: list[float] = []

        def on_epoch_start(self, epoch: int) -> None:
            self._start = time.process_time()

        def on_epoch_end(self, epoch: int, log: dict) -> None:
            self.times.append(time.process_time() - self._start)

    overrides = [f"train.epochs={epochs}", f"train.eval_every={epochs + 1}", "threads=1", *sets]
    config = load_config(EXAMPLE, overrides)
    clock = CpuClock()
    with tempfile.TemporaryDirectory() as tmp:
        train_run(config, Path(tmp) / "run", data_root=data_root, hooks=[clock], show_progress=False)
    return clock.times[:-1]  # the last epoch also holds the one evaluation


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", type=Path, default=Path("/work/shared/data"))
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--peers-python", default="/work/peers-venv/bin/python")
    p.add_argument("--child", help=argparse.SUPPRESS)  # internal: run one library, print its times
    args = p.parse_args(argv)
    if args.child is not None:
        if args.child == "cornac":
            times = cornac_epochs(args.data_root, args.epochs)
        else:
            times = advrec_epochs(args.data_root, args.epochs, VARIANTS[args.child])
        print(json.dumps(times))
        return 0
    medians: dict[str, list[float]] = {"cornac": [], **{v: [] for v in VARIANTS}}
    for rnd in range(args.rounds):
        for lib in medians:
            python = args.peers_python if lib == "cornac" else sys.executable
            cmd = [python, __file__, "--child", lib, "--epochs", str(args.epochs)]
            out = subprocess.run(cmd + ["--data-root", str(args.data_root)], capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"{lib} failed:\n{out.stderr[-3000:]}")
            times = json.loads(out.stdout.strip().splitlines()[-1])[1:]  # the first epoch warms caches
            medians[lib].append(statistics.median(times))
            print(f"round {rnd} {lib}: median CPU s/epoch {medians[lib][-1]:.4f}", file=sys.stderr)
    base = statistics.mean(medians["cornac"])
    print("| run | median CPU s/epoch, per round | mean | ÷ Cornac |\n|---|---|---|---|")
    for lib, values in medians.items():
        per_round = ", ".join(f"{v:.4f}" for v in values)
        mean = statistics.mean(values)
        print(f"| {lib} | {per_round} | {mean:.4f} | {mean / base:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
