"""MF-BPR with sharded tables (TorchRec, two CPU ranks) beside the single-process MF run on one dataset.

Runs, one after the other in fresh processes, on the same config (``--config``, default the ML-100K
example) for a fixed number of epochs (no early stopping): single-process ``mf`` (its default kernel, the
fused numba step, and autograd), and ``sharded_mf`` under ``torchrun --standalone --nproc-per-node 2``,
row-wise and table-wise. Each with the same optimizer (``sharded_mf`` trains with sgd or adagrad: FBGEMM's
fused CPU kernels). Prints one Markdown table: seconds per training epoch, per evaluation, test NDCG@10,
the largest parameter difference to the single-process autograd run, and the peak RSS of the largest
process (a rank, for torchrun).

    python benchmarks/sharded_mf.py --data-root DATA --epochs 10 --out runs/bench_sharded
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import torch
import yaml

from advrec.runs.config import load_config
from advrec.train.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


def run(command: list[str]) -> int:
    """Run ``command`` in a fresh child and return its peak RSS in MiB (the largest of its processes)."""
    probe = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", probe, *command], check=True, capture_output=True, text=True, env=env
    )
    return int(out.stdout.strip().splitlines()[-1]) // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(ROOT / "examples/scale/ml100k_sharded_mf.yaml"))
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = load_config(args.config).model_dump(mode="json")
    base["train"].update(epochs=args.epochs, patience=args.epochs + 1)
    base["threads"] = 1
    dense = {k: v for k, v in base["model"].items() if k != "sharding"} | {"name": "mf"}
    variants = {  # label -> (model settings, train settings, ranks)
        "mf, 1 process, autograd": (dense, {"kernel": "autograd"}, 1),
        "mf, 1 process, fused step": (dense, {}, 1),
        "sharded_mf row_wise, 2 ranks": (dense | {"name": "sharded_mf", "sharding": "row_wise"}, {}, 2),
        "sharded_mf table_wise, 2 ranks": (dense | {"name": "sharded_mf", "sharding": "table_wise"}, {}, 2),
    }
    rows = []
    reference: dict[str, torch.Tensor] = {}
    for label, (model, train, ranks) in variants.items():
        name = "".join(c if c.isalnum() else "_" for c in label)
        config = out / f"{name}.yaml"
        config.write_text(yaml.safe_dump({**base, "model": model, "train": {**base["train"], **train}}))
        launcher = TORCHRUN if ranks > 1 else [sys.executable]
        folder = out / name
        rss = run(
            [
                *launcher,
                "-m",
                "advrec",
                "train",
                str(config),
                "--out",
                str(folder),
                "--quiet",
                "--data-root",
                args.data_root,
            ]
        )
        results = json.loads((folder / "results.json").read_text())
        weights = load_checkpoint(folder / "checkpoints" / "last.pt")["model"]
        if train.get("kernel") == "autograd":
            reference = weights
        diff = max((float((weights[k] - reference[k]).abs().max()) for k in reference), default=float("nan"))
        timing = results["timing"]
        rows.append(
            (label, timing["train_s_per_epoch"], timing["eval_s"], results["test"]["ndcg@10"], diff, rss)
        )
    lines = [
        f"| run ({args.epochs} epochs) | s/epoch | s/eval | test NDCG@10 | max param diff to autograd "
        "| peak RSS MiB |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {r[0]} | {r[1]:.3f} | {r[2]:.3f} | {r[3]:.4f} | {r[4]:.2g} | {r[5]} |" for r in rows]
    table = "\n".join(lines)
    (out / "table.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
