"""BPR-MF, APR-MF, PGD-trained MF on MovieLens-100K: clean accuracy, FGSM and PGD ε curves, over seeds.

Not a test: ``python benchmarks/apr_robustness.py --data-root ../shared/data --out /tmp/apr-bench``.
For each seed it trains ``examples/basics/ml100k_mf_bpr.yaml``,
``examples/adversarial/ml100k_apr_mf.yaml`` and
``examples/adversarial/ml100k_pgd_mf.yaml`` (same data, same per-user 80/10/10 split for a given seed), unless
``OUT/<method>/seed<S>/results.json`` exists, in which case that run is reused after checking that its
config is the one it would train (``threads`` aside). It then probes every best model with each attack
(``advrec evaluate RUN --attack fgsm,pgd``: the APR paper's L2 construction, absolute ε, PGD with
``--pgd-steps``) next to the same-norm random-direction control, and writes, under ``--out``:

- ``curves.csv``: method, attack, control (adversarial | random), eps, metric, n_seeds, and mean and
  sample std over seeds of the clean value, the perturbed value and the relative drop, for every metric;
- ``curves.png`` (or ``--plot``): test NDCG@10 and its relative drop against ε, methods side by side;
- ``table.md``: the relative drops of NDCG@10 and of Recall@10, mean ± std, per method and attack (also
  printed).

Every run folder stays under ``--out`` with its own ``robustness/`` curves. ``--methods`` also offers
``APR-MF-robust`` (``examples/adversarial/ml100k_apr_mf_robust.yaml``), ``LightGCN`` and
``APR-LightGCN``; each run's
line gives the median plain and adversarial epoch of that run (the adversary's cost under one load).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import sys
import time
from pathlib import Path

import yaml

from advrec.measure.plots import plot_method_comparison
from advrec.measure.robustness import parse_attacks, upgrade_layout
from advrec.runs.config import load_config, parse_config
from advrec.runs.probe import robustness_run
from advrec.runs.train import train_run
from advrec.utils.files import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {
    "BPR-MF": "examples/basics/ml100k_mf_bpr.yaml",
    "APR-MF": "examples/adversarial/ml100k_apr_mf.yaml",
    "PGD-MF": "examples/adversarial/ml100k_pgd_mf.yaml",
    # not run by default (--methods): the robustness-first APR-MF, and LightGCN with and without APR
    "APR-MF-robust": "examples/adversarial/ml100k_apr_mf_robust.yaml",
    "LightGCN": "examples/basics/ml100k_lightgcn.yaml",
    "APR-LightGCN": "examples/adversarial/ml100k_apr_lightgcn.yaml",
}
DEFAULT_METHODS = ("BPR-MF", "APR-MF", "PGD-MF")
FIELDS = [
    "method",
    "attack",
    "control",
    "eps",
    "metric",
    "n_seeds",
    "clean_mean",
    "clean_std",
    "perturbed_mean",
    "perturbed_std",
    "drop_mean",
    "drop_std",
]


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _fmt(values: list[float], pct: bool = False) -> str:
    mean, std = _mean_std(values)
    return f"{100 * mean:.1f}% ± {100 * std:.1f}" if pct else f"{mean:.4f} ± {std:.4f}"


def _same_config(run_dir: Path, expected) -> bool:
    saved = parse_config(yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")))
    return saved.model_copy(update={"threads": expected.threads}) == expected


def epoch_costs(run_dir: Path) -> tuple[float | None, float | None]:
    """Median training seconds of the run's plain epochs and of its adversarial ones (``adv_eps`` in the
    log): the cost of the adversary measured within one run, under one machine load."""
    plain, adv = [], []
    for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        (adv if "adv_eps" in entry else plain).append(entry["train_s"])
    return (
        statistics.median(plain) if plain else None,
        statistics.median(adv) if adv else None,
    )


def saved_probe(results: dict, eps_list: list[float], attacks: list[str], pgd_steps: int) -> dict | None:
    """The run's recorded ``robustness`` entry if it already holds every (attack, ε) asked for, with
    absolute ε, all tables perturbed and the same PGD steps (the probe is deterministic); else None."""
    entry = upgrade_layout(results["robustness"]) if "robustness" in results else None
    if entry is None:
        return None
    for attack in attacks:
        settings = entry["settings"].get(attack, {})
        if (
            attack not in entry
            or any(str(e) not in entry[attack] for e in eps_list)
            or settings.get("eps_mode") != "absolute"
            or (attack == "pgd" and settings.get("pgd_steps") != pgd_steps)
        ):
            return None
    return entry


def summarise(probes: dict[str, list[dict]], attacks: list[str]) -> list[dict]:
    """CSV rows: mean and std over seeds of each (method, attack, control, ε, metric)."""
    rows = []
    for method, runs in probes.items():
        for attack in attacks:
            for control in ("adversarial", "random"):
                curves = [r[attack] if control == "adversarial" else r["random"][attack] for r in runs]
                for eps in curves[0]:
                    for metric in runs[0]["clean"]:
                        drops = [c[eps][f"{metric}_drop"] for c in curves]
                        drops = [d for d in drops if d is not None]
                        values = [
                            method,
                            attack,
                            control,
                            eps,
                            metric,
                            len(runs),
                            *_mean_std([r["clean"][metric] for r in runs]),
                            *_mean_std([c[eps][metric] for c in curves]),
                            *(_mean_std(drops) if drops else (None, None)),
                        ]
                        rows.append(dict(zip(FIELDS, values)))
    return rows


def table(probes: dict[str, list[dict]], attacks: list[str], eps_list: list[float], metric: str) -> str:
    header = ["method", f"clean {metric}", "probe"]
    header += [f"ε={e}" for e in eps_list] + [f"random ε={e}" for e in eps_list]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method, runs in probes.items():
        for attack in attacks:
            cells = [method, _fmt([r["clean"][metric] for r in runs]), attack.upper()]
            for source in ("adversarial", "random"):
                for e in eps_list:
                    curves = [r[attack] if source == "adversarial" else r["random"][attack] for r in runs]
                    cells.append(_fmt([c[str(e)][f"{metric}_drop"] for c in curves], pct=True))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--out", default="/tmp/apr-bench")
    parser.add_argument("--seeds", default="2020,2021,2022,2023,2024")
    parser.add_argument("--eps", default="0.1,0.25,0.5,1.0")
    parser.add_argument("--attacks", default="fgsm,pgd", help="probe attacks (default: %(default)s)")
    parser.add_argument("--pgd-steps", type=int, default=10, help="PGD probe steps (default: %(default)s)")
    parser.add_argument(
        "--methods", default=",".join(DEFAULT_METHODS), help=f"subset of {', '.join(CONFIGS)}"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override for every run, e.g. threads=1 (repeatable)",
    )
    parser.add_argument(
        "--apr-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra config override for the APR-MF runs only (repeatable)",
    )
    parser.add_argument(
        "--reuse-probes",
        action="store_true",
        help="use a run's recorded probe when it covers every attack and ε asked for (it is deterministic)",
    )
    parser.add_argument("--plot", help="comparison PNG (default: OUT/curves.png)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    eps_list = [float(e) for e in args.eps.split(",")]
    attacks = parse_attacks(args.attacks)
    methods = [m for m in args.methods.split(",") if m]
    if unknown := [m for m in methods if m not in CONFIGS]:
        sys.exit(f"unknown method {', '.join(unknown)}; valid: {', '.join(CONFIGS)}")
    out = Path(args.out)
    if not seeds or not methods:
        sys.exit("need at least one seed and one method")
    probes: dict[str, list[dict]] = {name: [] for name in methods}
    for seed in seeds:
        for name in methods:
            run_dir = out / name / f"seed{seed}"
            extra = args.apr_set if name == "APR-MF" else []
            config = load_config(REPO / CONFIGS[name], [f"seed={seed}", *args.overrides, *extra])
            start = time.perf_counter()
            reused = (run_dir / "results.json").exists()
            if reused and not _same_config(run_dir, config):
                sys.exit(f"{run_dir} holds a run with another config than {CONFIGS[name]} (seed {seed})")
            if not reused:
                train_run(config, run_dir, data_root=args.data_root, show_progress=False)
            trained = time.perf_counter()
            results = json.loads((run_dir / "results.json").read_text())
            probe = saved_probe(results, eps_list, attacks, args.pgd_steps) if args.reuse_probes else None
            if probe is None:
                probe = robustness_run(run_dir, eps_list, attack=attacks, pgd_steps=args.pgd_steps)
                results = json.loads((run_dir / "results.json").read_text())
            probes[name].append(probe)
            plain_s, adv_s = epoch_costs(run_dir)
            cost = (
                f", median epoch {plain_s:.3f} s plain / {adv_s:.3f} s adversarial ({adv_s / plain_s:.2f}x)"
                if plain_s and adv_s
                else ""
            )
            print(
                f"{name} seed {seed}: test ndcg@10 {results['test']['ndcg@10']:.4f}, best epoch "
                f"{results['best_epoch']}, {results['timing']['train_s_per_epoch']:.3f} s/epoch, "
                f"{'reused' if reused else f'trained in {trained - start:.0f} s'}, "
                f"probed in {time.perf_counter() - trained:.0f} s{cost}",
                flush=True,
            )
    rows = summarise(probes, attacks)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "curves.csv", buffer.getvalue())
    plot = Path(args.plot) if args.plot else out / "curves.png"
    plot_method_comparison(
        rows,
        plot,
        metric="ndcg@10",
        title=f"MovieLens-100K, mean ± std over {len(seeds)} seeds; PGD probe {args.pgd_steps} steps",
    )
    text = "\n\n".join(table(probes, attacks, eps_list, m) for m in ("ndcg@10", "recall@10"))
    print(text)
    atomic_write_text(out / "table.md", text + "\n")
    print(f"wrote {out / 'curves.csv'}, {plot}, {out / 'table.md'}")


if __name__ == "__main__":
    main()
