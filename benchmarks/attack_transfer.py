"""How much of a poisoning figure is the draw of the fake profiles, and how much the victim's training seed?

For each seed, as ``advrec attack`` does: the clean victim (trained with that seed) and the seeded targets;
then ``--draws`` independent draws of the attack's fake profiles (draw 0 is ``advrec attack``'s own, stream 1;
draw k uses stream 1 + k), each injected into the training split and the victim retrained with
``--victim-seeds`` training seeds (the first is the seed itself, the victim of ``advrec attack``; the others
seed + 500, seed + 501, ...). The split, the targets and the fakes stay fixed across training seeds; only
the victim's initialisation and sampling change.

Prints, per seed, target Hit@50 after each draw on each training seed, the spread over draws and over
training seeds, and what an attacker would get who retrains the victim's model on the data with its own
training seeds (the other columns) and keeps the draw that did best there ("picked"), against the mean
draw and the best draw on the victim's own seed (an oracle). Writes CSV.

    OMP_NUM_THREADS=1 python benchmarks/attack_transfer.py --data-root /work/shared/data \\
        --seeds 2025,2026,2027,2028,2029 --draws 6 --victim-seeds 3 --out runs/attack_transfer
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from advrec.attack.inject import inject, write_poisoned_split
from advrec.attack.profiles import AttackSpec
from advrec.attack.registry import get_attack
from advrec.attack.targets import select_targets
from advrec.data.split import load_saved_split
from advrec.experiments.poisoning import attack_rng, filler_count, probe, train_or_reuse
from advrec.measure.poisoning import exposure_metrics
from advrec.runs.config import load_config
from advrec.runs.fingerprint import split_complete

ROOT = Path(__file__).resolve().parents[1]


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default=str(ROOT / "examples" / "basics" / "ml100k_mf_bpr.yaml"))
    parser.add_argument("--data-root", default="/work/shared/data")
    parser.add_argument("--seeds", default="2025,2026,2027,2028,2029")
    parser.add_argument("--attack", default="template")
    parser.add_argument("--filler", type=float, default=60)
    parser.add_argument("--size", type=float, default=0.03)
    parser.add_argument("--targets", default="mid:5")
    parser.add_argument("--draws", type=int, default=6)
    parser.add_argument("--victim-seeds", type=int, default=3, help="training seeds per draw (at least 2)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.draws < 1 or args.victim_seeds < 2:
        parser.error("--draws must be at least 1 and --victim-seeds at least 2")
    return args


def _seed_rows(args: argparse.Namespace, seed: int, out: Path) -> list[dict]:
    clean_dir = out / f"seed{seed}" / "clean"
    train_or_reuse(load_config(args.config, [f"seed={seed}", "threads=1"]), clean_dir, args.data_root)
    clean = load_saved_split(clean_dir / "split")
    train = clean.train
    targets = select_targets(args.targets, train, attack_rng(seed, 0))
    spec = AttackSpec(
        n_fake=max(1, int(round(args.size * train.n_users))),
        filler=filler_count(args.filler, train, train.n_items),
        targets=targets,
        n_selected=10,
    )
    real, eligible = train.user_map.raw, train.csr()[:, targets].toarray() == 0

    def hit50(run_dir: Path) -> float:
        return exposure_metrics(probe(run_dir, real, train, targets)["ranks"], eligible)["target_hit@50"]

    before = hit50(clean_dir)
    rows = []
    for draw in range(args.draws):
        profiles = get_attack(args.attack)(spec, train, attack_rng(seed, 1 + draw))
        poisoned, fake_ids = inject(clean, profiles)
        for j in range(args.victim_seeds):
            victim_seed = seed if j == 0 else seed + 499 + j
            folder = out / f"seed{seed}" / f"draw{draw}" / f"victim{victim_seed}"
            if not split_complete(folder / "split"):
                write_poisoned_split(folder / "split", poisoned, fake_ids)
            train_or_reuse(load_config(args.config, [f"seed={victim_seed}", "threads=1"]), folder)
            rows.append(
                {
                    "seed": seed,
                    "draw": draw,
                    "victim_seed": victim_seed,
                    "own": j == 0,
                    "before": before,
                    "after": hit50(folder),
                }
            )
            print(
                f"seed {seed} draw {draw} victim seed {victim_seed}: "
                f"hit@50 {before:.4f} -> {rows[-1]['after']:.4f}",
                flush=True,
            )
    return rows


def _summary(rows: list[dict], seeds: list[int]) -> None:
    print(
        "\nseed | before | after: mean draw | picked on other seeds | best draw (oracle) | "
        "sd over draws | sd over victim seeds"
    )
    befores, means, picks, bests = [], [], [], []
    for seed in seeds:
        sel = [r for r in rows if r["seed"] == seed]
        draws = sorted({r["draw"] for r in sel})
        grid = np.array([[r["after"] for r in sel if r["draw"] == d] for d in draws])  # [draws, victim seeds]
        own, others = grid[:, 0], grid[:, 1:].mean(1)
        befores.append(sel[0]["before"])
        means.append(own.mean())
        picks.append(own[int(np.argmax(others))])
        bests.append(own.max())
        sd_draws = grid.mean(1).std(ddof=1) if len(draws) > 1 else float("nan")
        print(
            f"{seed} | {befores[-1]:.4f} | {means[-1]:.4f} | {picks[-1]:.4f} | {bests[-1]:.4f} | "
            f"{sd_draws:.4f} | {grid.std(1, ddof=1).mean():.4f}"
        )
    b = np.mean(befores)
    print(
        f"ratio of means over {len(seeds)} seeds: mean draw {np.mean(means) / b:.2f}x, "
        f"picked {np.mean(picks) / b:.2f}x, oracle {np.mean(bests) / b:.2f}x"
    )


def main() -> None:
    args = _args()
    out = Path(args.out)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = [row for seed in seeds for row in _seed_rows(args, seed, out)]
    with open(out / "attack_transfer.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    _summary(rows, seeds)


if __name__ == "__main__":
    main()
