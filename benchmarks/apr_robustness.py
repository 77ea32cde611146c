"""BPR-MF vs APR-MF on MovieLens-100K: clean accuracy and the FGSM robustness probe, over seeds.

Not a test: ``python benchmarks/apr_robustness.py --data-root ../shared/data --out /tmp/apr-bench``.
For each seed it trains ``examples/ml100k_mf_bpr.yaml`` and ``examples/ml100k_apr_mf.yaml`` (same data,
same per-user 80/10/10 split for a given seed), probes both best models with FGSM (the paper's L2
construction, absolute ε) and the same-norm random control, and prints mean ± std of test NDCG@10 and
of its relative drop at each ε. Every run folder stays under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from advrec.config import load_config
from advrec.experiment import robustness_run, train_run

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {"BPR-MF": "examples/ml100k_mf_bpr.yaml", "APR-MF": "examples/ml100k_apr_mf.yaml"}


def _fmt(values: list[float], pct: bool = False) -> str:
    scale = 100.0 if pct else 1.0
    mean = statistics.mean(values) * scale
    std = statistics.stdev(values) * scale if len(values) > 1 else 0.0
    return f"{mean:.1f}% ± {std:.1f}" if pct else f"{mean:.4f} ± {std:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--out", default="/tmp/apr-bench")
    parser.add_argument("--seeds", default="2020,2021,2022,2023,2024")
    parser.add_argument("--eps", default="0.1,0.25,0.5,1.0")
    parser.add_argument(
        "--apr-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra config override for the APR-MF runs only (repeatable)",
    )
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    eps_list = [float(e) for e in args.eps.split(",")]
    rows: dict[str, list[dict]] = {name: [] for name in CONFIGS}
    for seed in seeds:
        for name, path in CONFIGS.items():
            run_dir = Path(args.out) / name / f"seed{seed}"
            result_path = run_dir / "results.json"
            start = time.perf_counter()
            if not result_path.exists():
                extra = args.apr_set if name == "APR-MF" else []
                config = load_config(REPO / path, [f"seed={seed}", *extra])
                train_run(config, run_dir, data_root=args.data_root, show_progress=False)
            probe = robustness_run(run_dir, eps_list, attack="fgsm")
            results = json.loads(result_path.read_text())
            rows[name].append({"results": results, "probe": probe})
            print(
                f"{name} seed {seed}: test ndcg@10 {results['test']['ndcg@10']:.4f}, best epoch "
                f"{results['best_epoch']}, {results['timing']['train_s_per_epoch']:.3f} s/epoch, "
                f"{time.perf_counter() - start:.0f} s",
                flush=True,
            )
    header = ["method", "clean NDCG@10", "s/epoch"]
    header += [f"FGSM ε={e} drop" for e in eps_list] + [f"random ε={e} drop" for e in eps_list]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, runs in rows.items():
        cells = [name, _fmt([r["results"]["test"]["ndcg@10"] for r in runs])]
        cells.append(f"{statistics.mean(r['results']['timing']['train_s_per_epoch'] for r in runs):.3f}")
        for kind in ("fgsm", "random"):
            for e in eps_list:
                drops = [r["probe"][kind][str(e)]["ndcg@10_drop"] for r in runs]
                cells.append(_fmt(drops, pct=True))
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    (Path(args.out) / "table.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
