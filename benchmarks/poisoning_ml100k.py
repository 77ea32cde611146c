"""Poisoning benchmark on MovieLens-100K: target Hit@50 of an MF-BPR victim before / after each attack.

For each seed, band (unpopular, mid, random: 5 targets each) and attack (random, average, bandwagon,
segment, optimised), ``advrec.attacks.experiment.attack_run`` poisons the training split with 3% fake
users, retrains the victim with the same config and seed, and probes the targets' exposure over real
users; the clean victim is trained once per seed and shared (a symlinked ``clean/``). Then the APR
defence against the attacks named in ``--defend``. Prints mean ± std over seeds and writes CSV.

    OMP_NUM_THREADS=1 python benchmarks/poisoning_ml100k.py --data-root /work/shared/data \
        --seeds 2020,2021 --out runs/poisoning_ml100k

Rerunning with the same --out reuses every finished run.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from advrec.attacks.experiment import AttackSettings, attack_run
from advrec.config import load_config
from advrec.experiment import train_run

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("target_hit@10", "target_hit@50", "target_ndcg@50", "ndcg@10")


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default=str(ROOT / "examples" / "ml100k_mf_bpr.yaml"))
    parser.add_argument("--data-root", default="/work/shared/data")
    parser.add_argument("--seeds", default="2020,2021,2022,2023,2024")
    parser.add_argument("--bands", default="unpopular,mid,random")
    parser.add_argument("--attacks", default="random,average,bandwagon,segment,optimised")
    parser.add_argument(
        "--defend", default="bandwagon,optimised", help="attacks to run the APR defence against"
    )
    parser.add_argument("--size", type=float, default=0.03)
    parser.add_argument("--n-targets", type=int, default=5)
    parser.add_argument("--out", default="runs/poisoning_ml100k")
    return parser.parse_args()


def _clean(config, out: Path, data_root: str) -> Path:
    folder = out / "clean"
    if not (folder / "results.json").exists():
        train_run(
            config,
            folder,
            data_root=data_root,
            resume=(folder / "checkpoints" / "last.pt").exists(),
            show_progress=False,
        )
    return folder


def _cell(config, folder: Path, clean: Path, settings: AttackSettings, data_root: str) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "clean"
    if not link.exists():
        link.symlink_to(clean.resolve(), target_is_directory=True)
    return attack_run(config, folder, settings, data_root=data_root)["poisoning"]


def _ms(values: list[float]) -> str:
    return f"{np.mean(values):.4f} ± {np.std(values):.4f}"


def main() -> None:
    args = _args()
    out = Path(args.out)
    seeds = [int(s) for s in args.seeds.split(",")]
    bands, attacks = args.bands.split(","), args.attacks.split(",")
    defend = [a for a in args.defend.split(",") if a]
    rows: list[dict] = []
    start = time.perf_counter()
    for seed in seeds:
        config = load_config(args.config, [f"seed={seed}"])
        clean = _clean(config, out / f"seed{seed}", args.data_root)
        for band in bands:
            for attack in attacks:
                for defence in ["none", *(["apr"] if attack in defend else [])]:
                    settings = AttackSettings(attack, args.size, f"{band}:{args.n_targets}", defence=defence)
                    t0 = time.perf_counter()
                    p = _cell(config, out / f"seed{seed}" / band / attack, clean, settings, args.data_root)
                    row = {
                        "seed": seed,
                        "band": band,
                        "attack": attack,
                        "defence": defence,
                        "targets": " ".join(map(str, p["targets"])),
                        "n_fake": p["n_fake"],
                    }
                    for column in ("before", "after", "defended"):
                        if column in p:
                            row.update({f"{column}_{k}": p[column][k] for k in COLUMNS})
                    row["prediction_shift"] = p["shift"]["after"]["prediction_shift"]
                    rows.append(row)
                    print(
                        f"seed {seed} {band:9s} {attack:9s} {defence:4s} hit@50 "
                        f"{p['before']['target_hit@50']:.4f} -> {p['after']['target_hit@50']:.4f}"
                        + (f" -> {p['defended']['target_hit@50']:.4f}" if "defended" in p else "")
                        + f"  ({time.perf_counter() - t0:.0f} s)",
                        flush=True,
                    )
    _write_csv(out / "poisoning.csv", rows)
    _print_tables(rows, bands, attacks, len(seeds))
    print(f"wall {time.perf_counter() - start:.0f} s; CSV in {out / 'poisoning.csv'}")


def _write_csv(path: Path, rows: list[dict]) -> None:
    keys = sorted({k for r in rows for k in r}, key=lambda k: list(rows[0]).index(k) if k in rows[0] else 99)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


def _print_tables(rows: list[dict], bands: list[str], attacks: list[str], n_seeds: int) -> None:
    plain = [r for r in rows if r["defence"] == "none"]
    print(
        f"\nTarget Hit@50 of real users without the target, mean ± std over {n_seeds} seeds (5 targets each)"
    )
    print("| attack | " + " | ".join(f"{b} before | {b} after | ×" for b in bands) + " |")
    print("|---|" + "---|---|---|" * len(bands))
    for attack in attacks:
        cells = []
        for band in bands:
            sel = [r for r in plain if r["band"] == band and r["attack"] == attack]
            b = [r["before_target_hit@50"] for r in sel]
            a = [r["after_target_hit@50"] for r in sel]
            ratio = f"{np.mean(a) / np.mean(b):.1f}" if np.mean(b) >= 1e-4 else "n/a"  # no base to scale
            cells += [_ms(b), _ms(a), ratio]
        print(f"| {attack} | " + " | ".join(cells) + " |")
    defended = [r for r in rows if r["defence"] != "none"]
    if not defended:
        return
    print("\nAPR defence: target Hit@50 and clean test NDCG@10 (mean ± std over seeds)")
    heads = ["band", "attack", "hit@50 before", "after", "APR", "gain removed"]
    heads += ["NDCG@10 before", "after", "APR", "APR cost vs before"]
    print("| " + " | ".join(heads) + " |")
    print("|" + "---|" * len(heads))
    for band in bands:
        for attack in attacks:
            sel = [r for r in defended if r["band"] == band and r["attack"] == attack]
            if not sel:
                continue
            col = {
                f"{c}_{k}": [r[f"{c}_{k}"] for r in sel]
                for c in ("before", "after", "defended")
                for k in COLUMNS
            }
            b, a, d = (np.mean(col[f"{c}_target_hit@50"]) for c in ("before", "after", "defended"))
            removed = (a - d) / (a - b) if a > b else float("nan")
            nb, nd = np.mean(col["before_ndcg@10"]), np.mean(col["defended_ndcg@10"])
            cells = [band, attack, *(_ms(col[f"{c}_target_hit@50"]) for c in ("before", "after", "defended"))]
            cells.append(f"{100 * removed:.0f}%")
            cells += [_ms(col[f"{c}_ndcg@10"]) for c in ("before", "after", "defended")]
            cells.append(f"{100 * (nd / nb - 1):+.1f}%")
            print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
