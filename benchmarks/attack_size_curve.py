"""Target exposure against attack size on MovieLens-100K: how many fake users an attack needs.

For each seed, one clean victim (``--config``, trained once and shared); for each attack and each share
of fake users in ``--sizes``, ``advrec.experiments.poisoning.attack_run`` poisons the training split, retrains
the victim and probes the targets' Hit@50 over real users (the same seeded targets at every size, so the
"before" figures are the same). Prints mean ± sample std over seeds and the gain (mean after / mean
before) per size, and writes ``size_curve.csv`` and ``size_curve.png`` into ``--out``.

    OMP_NUM_THREADS=1 python benchmarks/attack_size_curve.py --data-root /work/shared/data \
        --seeds 2020,2021,2022,2023,2024 --band mid --attacks template --filler template=60 \
        --sizes 0.01,0.02,0.03,0.04,0.05 --out runs/size_curve

Rerunning with the same --out reuses every finished run; a killed run resumes.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from advrec.errors import ConfigError
from advrec.experiments.poisoning import attack_run, parse_fillers, poison_config, train_or_reuse
from advrec.measure.size_curve import plot_size_curve, summarise
from advrec.runs.config import load_config
from advrec.utils.files import atomic_write

ROOT = Path(__file__).resolve().parents[1]


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default=str(ROOT / "examples" / "basics" / "ml100k_mf_bpr.yaml"))
    parser.add_argument("--data-root", default="/work/shared/data")
    parser.add_argument("--seeds", default="2020,2021,2022,2023,2024")
    parser.add_argument("--band", default="mid", help="target band: unpopular, mid or random")
    parser.add_argument("--n-targets", type=int, default=5)
    parser.add_argument("--attacks", default="template")
    parser.add_argument("--sizes", default="0.01,0.02,0.03,0.04,0.05", help="shares of real users")
    parser.add_argument("--filler", default="", help="filler per attack, e.g. template=60 (items)")
    parser.add_argument("--out", default="runs/size_curve")
    return parser.parse_args()


def _numbers(flag: str, text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: expected comma-separated numbers") from None
    if not values:
        raise ConfigError(f"{flag} {text!r}: expected at least one number")
    return values


def main() -> None:
    args = _args()
    out = Path(args.out)
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        raise ConfigError(f"--seeds {args.seeds!r}: expected comma-separated whole numbers") from None
    sizes = _numbers("--sizes", args.sizes)
    if not all(0 < size <= 1 for size in sizes):
        raise ConfigError(f"--sizes {args.sizes!r}: expected shares of real users in (0, 1], e.g. 0.01,0.03")
    attacks = [a for a in args.attacks.split(",") if a]
    fillers = parse_fillers(args.filler)
    targets = f"{args.band}:{args.n_targets}"
    settings = {  # every bad setting fails here, before any training
        (attack, size): poison_config(
            {"attack": attack, "size": size, "targets": targets, "filler": fillers.get(attack)}, "settings"
        )
        for attack in attacks
        for size in sizes
    }
    runs = []
    start = time.perf_counter()
    for seed in seeds:
        config = load_config(args.config, [f"seed={seed}"])
        clean = out / f"seed{seed}" / "clean"
        train_or_reuse(config, clean, args.data_root)
        for (attack, size), s in settings.items():
            t0 = time.perf_counter()
            folder = out / f"seed{seed}" / attack / f"size{size:g}"
            p = attack_run(config, folder, s, data_root=args.data_root, clean_dir=clean)["poisoning"]
            runs.append(
                {
                    "attack": attack,
                    "size": size,
                    "seed": seed,
                    "n_fake": p["n_fake"],
                    "before": p["before"]["target_hit@50"],
                    "after": p["after"]["target_hit@50"],
                    "before_ndcg@10": p["before"]["ndcg@10"],
                    "after_ndcg@10": p["after"]["ndcg@10"],
                }
            )
            print(
                f"seed {seed} {attack} {100 * size:g}% ({p['n_fake']} fakes): target hit@50 "
                f"{runs[-1]['before']:.4f} -> {runs[-1]['after']:.4f}  ({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
    summary = summarise(runs)
    _write_csv(out / "size_curve.csv", runs)
    plot_size_curve(summary, runs, out / "size_curve.png")
    print(f"\nTarget Hit@50 ({targets}), mean ± sample std over {len(seeds)} seeds")
    print("| attack | fake users | before | after | gain |\n|---|---|---|---|---|")
    for row in summary:
        print(
            f"| {row['attack']} | {100 * row['size']:g}% | {row['before']:.4f} | "
            f"{row['after']:.4f} ± {row['after_std']:.4f} | {row['gain']:.1f}× |"
        )
    print(f"wall {time.perf_counter() - start:.0f} s; {out / 'size_curve.csv'}, {out / 'size_curve.png'}")


def _write_csv(path: Path, rows: list[dict]) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)


if __name__ == "__main__":
    main()
