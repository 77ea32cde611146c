"""CFGAN, CFGAN without its discriminator, IRGAN and BPR-MF on MovieLens-100K, over seeds.

Not a test: ``python benchmarks/gan_ml100k.py --data-root ../shared/data --out /tmp/gan-bench``.
Default protocol for every method (implicit, per-user random 80/10/10 split drawn per seed, full ranking
with train items masked, train + valid at test, selection on valid NDCG@10). Configs:
``examples/gan/ml100k_cfgan.yaml`` (also with ``model.use_discriminator=false``: reconstruction only),
``examples/gan/ml100k_irgan.yaml`` and ``examples/basics/ml100k_mf_bpr.yaml``; every run gets
``eval.ks=[5,10,20]``.
Prints one Markdown table (mean ± sample std over seeds of test P@5, NDCG@5, NDCG@10) and writes it to
``OUT/table.md``. Finished runs under ``--out`` are reused; every run folder (with ``gan.png``) stays there.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from advrec.runs.config import load_config
from advrec.runs.train import train_run

REPO = Path(__file__).resolve().parents[1]
METHODS = {
    "CFGAN": ("examples/gan/ml100k_cfgan.yaml", []),
    "CFGAN without D": ("examples/gan/ml100k_cfgan.yaml", ["model.use_discriminator=false"]),
    "IRGAN": ("examples/gan/ml100k_irgan.yaml", []),
    "BPR-MF": ("examples/basics/ml100k_mf_bpr.yaml", []),
}
METRICS = ["precision@5", "ndcg@5", "ndcg@10"]


def _fmt(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {std:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--out", default="/tmp/gan-bench")
    parser.add_argument("--seeds", default="2020,2021,2022")
    parser.add_argument("--only", default=",".join(METHODS), help="comma-separated subset of the methods")
    for flag, what in [("--set", "every run"), ("--cfgan-set", "both CFGAN rows"), ("--irgan-set", "IRGAN")]:
        parser.add_argument(
            flag, action="append", default=[], metavar="KEY=VALUE", help=f"override for {what}"
        )
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    chosen = [m.strip() for m in args.only.split(",")]
    unknown = set(chosen) - set(METHODS)
    if unknown:
        parser.error(f"--only: unknown {sorted(unknown)}; valid: {', '.join(METHODS)}")
    rows: dict[str, list[dict]] = {name: [] for name in chosen}
    for seed in seeds:
        for name in chosen:
            path, extra = METHODS[name]
            extra = [
                *extra,
                *(args.cfgan_set if "CFGAN" in name else args.irgan_set if name == "IRGAN" else []),
            ]
            run_dir = Path(args.out) / name.replace(" ", "_") / f"seed{seed}"
            result_path = run_dir / "results.json"
            start = time.perf_counter()
            if not result_path.exists():
                overrides = [f"seed={seed}", "eval.ks=[5,10,20]", *args.set, *extra]
                train_run(
                    load_config(REPO / path, overrides),
                    run_dir,
                    data_root=args.data_root,
                    show_progress=False,
                )
            results = json.loads(result_path.read_text())
            rows[name].append(results)
            print(
                f"{name} seed {seed}: "
                + ", ".join(f"{m} {results['test'][m]:.4f}" for m in METRICS)
                + f", best/run epochs {results['best_epoch'] + 1}/{results['epochs_run']}, "
                f"{results['timing']['train_s_per_epoch']:.3f} s/epoch, {time.perf_counter() - start:.0f} s",
                flush=True,
            )
    header = ["method", "test P@5", "test NDCG@5", "test NDCG@10", "best/run epochs", "s/epoch"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, runs in rows.items():
        cells = [name, *(_fmt([r["test"][m] for r in runs]) for m in METRICS)]
        cells.append(", ".join(f"{r['best_epoch'] + 1}/{r['epochs_run']}" for r in runs))
        cells.append(f"{statistics.mean(r['timing']['train_s_per_epoch'] for r in runs):.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(f"seeds {args.seeds}\n{table}")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "table.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
