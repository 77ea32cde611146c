"""LightGCN vs SimGCL vs XSimGCL on MovieLens-100K: test accuracy, epochs to best, cost per epoch.

Not a test: ``python benchmarks/simgcl_vs_lightgcn.py --data-root ../shared/data --out /tmp/simgcl-bench``.
For each seed it trains ``examples/ml100k_lightgcn.yaml``, ``examples/ml100k_simgcl.yaml`` and
``examples/ml100k_xsimgcl.yaml`` (same data, model and training settings; the split is drawn per seed)
and prints one Markdown table: test NDCG@10 and Recall@10 (mean ± sample std over seeds), best epoch per
seed (0-based; selection on valid NDCG@10), seconds per training epoch, that cost relative to LightGCN's,
and training seconds until the best epoch. Finished runs (a ``results.json`` under ``--out``) are reused.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from advrec.config import load_config
from advrec.experiment import train_run

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {
    "LightGCN": "examples/ml100k_lightgcn.yaml",
    "SimGCL": "examples/ml100k_simgcl.yaml",
    "XSimGCL": "examples/ml100k_xsimgcl.yaml",
}


def _fmt(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {std:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--out", default="/tmp/simgcl-bench")
    parser.add_argument("--seeds", default="2020,2021,2022")
    parser.add_argument("--methods", default=",".join(CONFIGS), help="comma-separated subset of the three")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override for every run (repeatable)"
    )
    for name in ("simgcl", "xsimgcl"):
        parser.add_argument(
            f"--{name}-set", action="append", default=[], metavar="KEY=VALUE", help=f"{name} runs only"
        )
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = [m for m in CONFIGS if m in args.methods.split(",")]
    extra = {"LightGCN": [], "SimGCL": args.simgcl_set, "XSimGCL": args.xsimgcl_set}
    runs: dict[str, list[dict]] = {name: [] for name in methods}
    for seed in seeds:
        for name in methods:
            run_dir = Path(args.out) / name / f"seed{seed}"
            result_path = run_dir / "results.json"
            start = time.perf_counter()
            if not result_path.exists():
                config = load_config(REPO / CONFIGS[name], [f"seed={seed}", *args.set, *extra[name]])
                train_run(config, run_dir, data_root=args.data_root, show_progress=False)
            results = json.loads(result_path.read_text())
            runs[name].append(results)
            print(
                f"{name} seed {seed}: test ndcg@10 {results['test']['ndcg@10']:.4f}, best epoch "
                f"{results['best_epoch']}/{results['epochs_run']}, "
                f"{results['timing']['train_s_per_epoch']:.3f} s/epoch, {time.perf_counter() - start:.0f} s",
                flush=True,
            )
    base = statistics.mean(r["timing"]["train_s_per_epoch"] for r in runs.get("LightGCN", [])) or None
    header = [
        "method",
        "test NDCG@10",
        "test Recall@10",
        "best epoch / epochs run",
        "s/epoch",
        "cost ÷ LightGCN",
        "train s to best",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, results in runs.items():
        s_epoch = [r["timing"]["train_s_per_epoch"] for r in results]
        to_best = [s * (r["best_epoch"] + 1) for s, r in zip(s_epoch, results)]
        cells = [
            name,
            _fmt([r["test"]["ndcg@10"] for r in results]),
            _fmt([r["test"]["recall@10"] for r in results]),
            ", ".join(f"{r['best_epoch']}/{r['epochs_run']}" for r in results),
            f"{statistics.mean(s_epoch):.3f}",
            f"{statistics.mean(s_epoch) / base:.2f}×" if base else "—",
            f"{statistics.mean(to_best):.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "table.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
