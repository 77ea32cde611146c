"""LightGCN vs SimGCL vs XSimGCL on MovieLens-100K: test accuracy, epochs to best, cost per epoch.

Not a test: ``python benchmarks/simgcl_vs_lightgcn.py --data-root ../shared/data --out /tmp/simgcl-bench``.
For each seed it trains ``examples/basics/ml100k_lightgcn.yaml``,
``examples/adversarial/ml100k_simgcl.yaml`` and
``examples/adversarial/ml100k_xsimgcl.yaml`` (same data, model and training settings; the split is drawn
per seed)
and prints one Markdown table: test NDCG@10 and Recall@10 (mean ± sample std over seeds), the difference
in test NDCG@10 from LightGCN's run with the same seed (same split; mean ± std), best epoch per
seed (0-based; selection on valid NDCG@10), seconds per training epoch, that cost relative to LightGCN's,
and the training time to the best epoch at that cost. Finished runs (``results.json`` under ``--out``) are
reused.

On a shared machine the runs' own s/epoch depend on what else ran meanwhile, so ``--timing-rounds R``
(default 3) also times every method in short runs (``--timing-epochs`` epochs, seed 2020) interleaved
round by round (LightGCN, SimGCL, XSimGCL, LightGCN, ...), and the cost columns use their medians
(kept in ``OUT/timing.json`` and reused, like the runs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from advrec.runs.config import load_config
from advrec.runs.train import train_run

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {
    "LightGCN": "examples/basics/ml100k_lightgcn.yaml",
    "SimGCL": "examples/adversarial/ml100k_simgcl.yaml",
    "XSimGCL": "examples/adversarial/ml100k_xsimgcl.yaml",
}


def _fmt(values: list[float], sign: bool = False) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):{'+' if sign else ''}.4f} ± {std:.4f}"


def interleaved_seconds_per_epoch(
    methods: list[str], overrides: dict[str, list[str]], data_root: str, rounds: int, epochs: int
) -> dict[str, float]:
    """Median training s/epoch of each method over ``rounds`` short runs, interleaved across methods."""
    seconds: dict[str, list[float]] = {name: [] for name in methods}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for name in methods:
                sets = ["seed=2020", f"train.epochs={epochs}", *overrides[name]]
                config = load_config(REPO / CONFIGS[name], sets)
                result = train_run(config, Path(tmp) / f"{name}{r}", data_root=data_root, show_progress=False)
                seconds[name].append(result["timing"]["train_s_per_epoch"])
    return {name: statistics.median(values) for name, values in seconds.items()}


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
    parser.add_argument("--timing-rounds", type=int, default=3, help="0: cost from the runs themselves")
    parser.add_argument("--timing-epochs", type=int, default=3)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = [m for m in CONFIGS if m in args.methods.split(",")]
    extra = {
        "LightGCN": [*args.set],
        "SimGCL": [*args.set, *args.simgcl_set],
        "XSimGCL": [*args.set, *args.xsimgcl_set],
    }
    runs: dict[str, list[dict]] = {name: [] for name in methods}
    for seed in seeds:
        for name in methods:
            run_dir = Path(args.out) / name / f"seed{seed}"
            result_path = run_dir / "results.json"
            start = time.perf_counter()
            if not result_path.exists():
                config = load_config(REPO / CONFIGS[name], [f"seed={seed}", *extra[name]])
                train_run(config, run_dir, data_root=args.data_root, show_progress=False)
            results = json.loads(result_path.read_text())
            runs[name].append(results)
            print(
                f"{name} seed {seed}: test ndcg@10 {results['test']['ndcg@10']:.4f}, best epoch "
                f"{results['best_epoch']}/{results['epochs_run']}, "
                f"{results['timing']['train_s_per_epoch']:.3f} s/epoch, {time.perf_counter() - start:.0f} s",
                flush=True,
            )
    interleaved: dict[str, float] = {}
    timing_path = Path(args.out) / "timing.json"
    if args.timing_rounds > 0:
        if timing_path.exists():
            interleaved = json.loads(timing_path.read_text())
        if set(interleaved) != set(methods):
            interleaved = interleaved_seconds_per_epoch(
                methods, extra, args.data_root, args.timing_rounds, args.timing_epochs
            )
            Path(args.out).mkdir(parents=True, exist_ok=True)
            timing_path.write_text(json.dumps(interleaved) + "\n")
        print("interleaved median s/epoch: " + ", ".join(f"{n} {v:.3f}" for n, v in interleaved.items()))
    run_cost = {name: statistics.mean(r["timing"]["train_s_per_epoch"] for r in runs[name]) for name in runs}
    cost = interleaved or run_cost
    base = cost.get("LightGCN")
    header = [
        "method",
        "test NDCG@10",
        "test Recall@10",
        "NDCG@10 − LightGCN's, same seed",
        "best epoch / epochs run",
        "s/epoch (runs)",
        "s/epoch (interleaved)",
        "cost ÷ LightGCN",
        "s/epoch × (best epoch + 1)",
    ]
    lightgcn = runs.get("LightGCN", [])  # paired by seed: each seed draws its own split
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, results in runs.items():
        to_best = statistics.mean(cost[name] * (r["best_epoch"] + 1) for r in results)
        cells = [
            name,
            _fmt([r["test"]["ndcg@10"] for r in results]),
            _fmt([r["test"]["recall@10"] for r in results]),
            _fmt([r["test"]["ndcg@10"] - b["test"]["ndcg@10"] for r, b in zip(results, lightgcn)], sign=True)
            if lightgcn and name != "LightGCN"
            else "—",
            ", ".join(f"{r['best_epoch']}/{r['epochs_run']}" for r in results),
            f"{run_cost[name]:.3f}",
            f"{interleaved[name]:.3f}" if interleaved else "—",
            f"{cost[name] / base:.2f}×" if base else "—",
            f"{to_best:.0f} s",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "table.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
