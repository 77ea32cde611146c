#!/usr/bin/env python3
"""What the Python API costs over the command line's path: MF-BPR on MovieLens-100K both ways, alternated.

- api: ``pd.read_csv(u.data)`` then ``advrec.fit(df, config=examples/basics/ml100k_mf_bpr.yaml, ...)``
  (the DataFrame is checked, written into the run folder as Parquet and read back by the run).
- cli: ``load_config(examples/basics/ml100k_mf_bpr.yaml)`` then ``runs.train.train_run`` (what ``advrec
  train`` calls), reading ``u.data`` itself.

Both train the same config (``--epochs`` epochs, one evaluation at the end, one thread), each in its own
child process, api and cli in turn for ``--rounds`` rounds, so a machine whose speed drifts slows both
alike. Per run: the median training epoch in CPU seconds of the process (a monitor hook reads the clock
around each epoch, passed to ``train_run`` in both paths) and in wall seconds (``train_s`` of
``metrics.jsonl``), the first epoch (it compiles the fused kernel) and the last (it holds the evaluation)
left out; the whole call (reading the data, config, split, training, test) in
wall and CPU seconds, and the imports before it (the API's include pandas, which the command line's
training path does not load; a notebook holding a DataFrame has loaded it already). Printed: the
per-round api/cli ratios and their medians, and whether the two paths gave the same test metrics (they
read the same rows in the same order, so the split and the run are the same).

Usage::

    python benchmarks/api_overhead.py --data-root ../shared/data [--epochs 30] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "basics" / "ml100k_mf_bpr.yaml"
PATHS = ("api", "cli")


def _settings(epochs: int) -> dict[str, object]:
    return {"train.epochs": epochs, "train.eval_every": epochs + 1, "threads": 1}


def run_path(path: str, data_root: Path, epochs: int, out: Path) -> dict[str, object]:
    """One training through ``path``: its epoch times, import and call times, and test metrics."""
    start = time.perf_counter()
    if path == "api":
        import pandas as pd

        import advrec.api
    else:
        import advrec.config.loading
        import advrec.runs.train
    from advrec.train.hooks import TrainHook

    class CpuClock(TrainHook):
        """The process CPU clock around each epoch: on a shared machine an epoch's wall time also counts
        the time spent waiting for a core. A monitor: the fused kernels stay on."""

        def __init__(self) -> None:
            self.times: list[float] = []

        def on_epoch_start(self, epoch: int) -> None:
            self._start = time.process_time()

        def on_epoch_end(self, epoch: int, log: dict) -> None:
            self.times.append(time.process_time() - self._start)

    imported = time.perf_counter()
    clock = CpuClock()
    wall, cpu = time.perf_counter(), time.process_time()
    settings = _settings(epochs)
    if path == "api":  # the one hook the API has no argument for: fit's call of train_run, with the clock
        advrec.api.train_run = partial(advrec.api.train_run, hooks=[clock])
        names = ["user", "item", "rating", "timestamp"]
        df = pd.read_csv(data_root / "ml-100k" / "u.data", sep="\t", names=names)
        run = advrec.api.fit(df, config=EXAMPLE, set=settings, out=out, progress=False)
        test = run.results["test"]
    else:
        overrides = [f"{key}={value}" for key, value in settings.items()]
        config = advrec.config.loading.load_config(EXAMPLE, overrides)
        train = advrec.runs.train.train_run
        test = train(config, out, data_root=data_root, hooks=[clock], show_progress=False)["test"]
    call = {"call_wall_s": time.perf_counter() - wall, "call_cpu_s": time.process_time() - cpu}
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    # the first epoch compiles the fused kernel; the last also holds the one evaluation
    return {
        "epoch_cpu_s": clock.times[1:-1],
        "epoch_wall_s": [row["train_s"] for row in log][1:-1],
        "import_s": imported - start,
        **call,
        "test": test,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", type=Path, required=True, help="folder holding ml-100k/u.data")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--child", choices=PATHS, help="run one path once and print its figures as JSON")
    args = p.parse_args(argv)
    if args.child is not None:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(run_path(args.child, args.data_root, args.epochs, Path(tmp) / "run")))
        return 0
    rows: dict[str, list[dict]] = {path: [] for path in PATHS}
    for rnd in range(args.rounds):
        for path in PATHS if rnd % 2 == 0 else PATHS[::-1]:  # A B, B A, ...: neither always goes first
            cmd = [sys.executable, __file__, "--child", path, "--epochs", str(args.epochs)]
            done = subprocess.run([*cmd, "--data-root", str(args.data_root)], capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"{path} failed:\n{done.stderr[-3000:]}")
            rows[path].append(json.loads(done.stdout.strip().splitlines()[-1]))
            r = rows[path][-1]
            epoch = statistics.median(r["epoch_cpu_s"])
            print(
                f"round {rnd} {path}: median epoch {epoch:.4f} CPU s, call {r['call_wall_s']:.2f} s wall "
                f"{r['call_cpu_s']:.2f} s CPU",
                file=sys.stderr,
            )
    same = all(a["test"] == b["test"] for a, b in zip(rows["api"], rows["cli"]))
    print(f"MF-BPR on ML-100K, {args.epochs} epochs, {args.rounds} rounds; same test metrics: {same}")
    print("| figure | api (median) | cli (median) | api / cli per round | median ratio |")
    print("|---|---|---|---|---|")
    figures = {
        "training epoch, CPU s": lambda r: statistics.median(r["epoch_cpu_s"]),
        "training epoch, wall s": lambda r: statistics.median(r["epoch_wall_s"]),
        "whole call, wall s": lambda r: r["call_wall_s"],
        "whole call, CPU s": lambda r: r["call_cpu_s"],
        "imports, wall s": lambda r: r["import_s"],
    }
    for name, figure in figures.items():
        api = [figure(r) for r in rows["api"]]
        cli = [figure(r) for r in rows["cli"]]
        ratios = [a / c for a, c in zip(api, cli)]
        print(
            f"| {name} | {statistics.median(api):.4f} | {statistics.median(cli):.4f} | "
            f"{', '.join(f'{x:.3f}' for x in ratios)} | {statistics.median(ratios):.3f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
