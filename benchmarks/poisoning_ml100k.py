"""Poisoning benchmark on MovieLens-100K: target Hit@50 of an MF-BPR victim before / after each attack.

For each seed, band (unpopular, mid, random: 5 targets each) and attack (random, average, bandwagon,
segment, optimised), ``advrec.experiments.poisoning.attack_run`` poisons the training split with 3% fake
users, retrains the victim with the same config and seed, and probes the targets' exposure over real
users; the clean victim is trained once per seed and shared (a symlinked ``clean/``). Then the
defences named in ``--defences`` (apr, filter, filter+apr; the filter's detector is ``--detector``,
default the simulated-attack detector of ``advrec.defend.filters``) against the attacks named in
``--defend``, in the bands of ``--defend-bands``. Prints mean ± std over seeds and writes CSV.

    OMP_NUM_THREADS=1 python benchmarks/poisoning_ml100k.py --data-root /work/shared/data \
        --seeds 2020,2021 --out runs/poisoning_ml100k

The defence × attack table alone (mid band; reuses every finished run of the same --out):

    OMP_NUM_THREADS=1 python benchmarks/poisoning_ml100k.py --bands mid --attacks bandwagon,optimised \
        --defences apr,filter,filter+apr --seeds 2020,2021,2022 --out runs/poisoning_ml100k

Rerunning with the same --out reuses every finished run.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import time
from pathlib import Path

import numpy as np

from advrec.attack.inject import read_fake_users
from advrec.defend.defences import Defence, build_defence
from advrec.experiments.poisoning import (
    PoisonConfig,
    attack_run,
    defended_folder,
    parse_fillers,
    poison_config,
    train_or_reuse,
)
from advrec.runs.config import load_config
from advrec.utils.files import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("target_hit@10", "target_hit@50", "target_ndcg@50", "ndcg@10")


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default=str(ROOT / "examples" / "basics" / "ml100k_mf_bpr.yaml"))
    parser.add_argument("--data-root", default="/work/shared/data")
    parser.add_argument("--seeds", default="2020,2021,2022,2023,2024")
    parser.add_argument("--bands", default="unpopular,mid,random")
    parser.add_argument("--attacks", default="random,average,bandwagon,segment,optimised")
    parser.add_argument("--defend", default="bandwagon,optimised", help="attacks to run the defences against")
    parser.add_argument("--defences", default="apr", help="defences to run: apr, filter, filter+apr")
    parser.add_argument("--defend-bands", default="unpopular,mid,random", help="bands the defences run in")
    parser.add_argument("--detector", default="simulated", help="the filter defences' detector")
    parser.add_argument("--size", type=float, default=0.03)
    parser.add_argument(
        "--filler",
        default="",
        help="filler per attack, e.g. template=60 (items; < 1: share of the catalogue); "
        "unnamed attacks: the mean real profile length",
    )
    parser.add_argument("--n-targets", type=int, default=5)
    parser.add_argument("--out", default="runs/poisoning_ml100k")
    return parser.parse_args()


def _clean(config, out: Path, data_root: str) -> Path:
    folder = out / "clean"
    train_or_reuse(config, folder, data_root)
    return folder


def _cell(config, folder: Path, clean: Path, settings: PoisonConfig, data_root: str) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "clean"
    if not link.exists():
        link.symlink_to(clean.resolve(), target_is_directory=True)
    defence = build_defence(settings.defence, settings.size, config.seed)
    if defence.detector is not None:
        _share_filtered_split(folder, settings, defence)
    p = attack_run(config, folder, settings, data_root=data_root, detector=defence.detector)["poisoning"]
    if defence.detector is not None:  # who the filter dropped, counted against the true fakes (unseen by it)
        report = json.loads((defended_folder(folder, defence) / "defence.json").read_text())
        fake = set(read_fake_users(folder / "poisoned" / "split"))
        flagged = {str(u) for u in report["flagged_ids"]}
        p["fakes_flagged"], p["real_flagged"] = len(flagged & fake), len(flagged - fake)
    return p


def _share_filtered_split(folder: Path, settings: PoisonConfig, defence: Defence) -> None:
    """filter+apr trains on exactly the split the same seeded detector gave filter: copy it rather
    than run the detector twice (attack_run keeps a defended folder's finished split)."""
    target = defended_folder(folder, defence)
    other = next(d for d in ("filter", "filter+apr") if d != settings.defence.name)
    source = defended_folder(folder, Defence(other, detector=defence.detector))
    if (target / "split" / "test.tsv").exists() or not (source / "split" / "test.tsv").exists():
        return
    report = json.loads((source / "defence.json").read_text())
    shutil.copytree(source / "split", target / "split.tmp", dirs_exist_ok=True)
    (target / "split.tmp").replace(target / "split")  # whole or absent
    own = {"defence": settings.defence.name, "settings": settings.defence.model_dump(mode="json")}
    atomic_write_json(target / "defence.json", {**report, **own, "split_from": source.name})


def _ms(values: list[float]) -> str:
    return f"{np.mean(values):.4f} ± {np.std(values):.4f}"


def main() -> None:
    args = _args()
    out = Path(args.out)
    seeds = [int(s) for s in args.seeds.split(",")]
    bands, attacks = args.bands.split(","), args.attacks.split(",")
    defend = [a for a in args.defend.split(",") if a]
    defences = [d for d in args.defences.split(",") if d]
    defend_bands = args.defend_bands.split(",")
    fillers = parse_fillers(args.filler)
    rows: list[dict] = []
    start = time.perf_counter()
    for seed in seeds:
        config = load_config(args.config, [f"seed={seed}"])
        clean = _clean(config, out / f"seed{seed}", args.data_root)
        for band in bands:
            for attack in attacks:
                defended = attack in defend and band in defend_bands
                for defence in ["none", *(defences if defended else [])]:
                    chosen = {"name": defence}
                    if defence.startswith("filter"):
                        chosen["detector"] = args.detector
                    raw = {"attack": attack, "size": args.size, "targets": f"{band}:{args.n_targets}"}
                    settings = poison_config(
                        {**raw, "filler": fillers.get(attack), "defence": chosen}, "settings"
                    )
                    t0 = time.perf_counter()
                    folder = out / f"seed{seed}" / band / attack
                    p = _cell(config, folder, clean, settings, args.data_root)
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
                    if "fakes_flagged" in p:
                        row.update(fakes_flagged=p["fakes_flagged"], real_flagged=p["real_flagged"])
                    rows.append(row)
                    print(
                        f"seed {seed} {band:9s} {attack:9s} {defence:10s} hit@50 "
                        f"{p['before']['target_hit@50']:.4f} -> {p['after']['target_hit@50']:.4f}"
                        + (f" -> {p['defended']['target_hit@50']:.4f}" if "defended" in p else "")
                        + (
                            f" flagged {p['fakes_flagged']} fake / {p['real_flagged']} real"
                            if "fakes_flagged" in p
                            else ""
                        )
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
    print("\nDefences: target Hit@50 and clean test NDCG@10 (mean ± std over seeds)")
    heads = ["band", "attack", "defence", "hit@50 before", "after", "defended", "gain removed (per seed)"]
    heads += ["NDCG@10 before", "defended", "defended vs before (per-seed mean ± std)"]
    heads += ["fakes dropped", "real users dropped"]
    print("| " + " | ".join(heads) + " |")
    print("|" + "---|" * len(heads))
    for band in bands:
        for attack in attacks:
            for defence in sorted({r["defence"] for r in defended}):
                sel = [
                    r for r in defended if (r["band"], r["attack"], r["defence"]) == (band, attack, defence)
                ]
                if sel:
                    print("| " + " | ".join([band, attack, defence, *_defence_cells(sel)]) + " |")


def _defence_cells(sel: list[dict]) -> list[str]:
    hit = {c: [r[f"{c}_target_hit@50"] for r in sel] for c in ("before", "after", "defended")}
    b, a, d = (np.mean(hit[c]) for c in ("before", "after", "defended"))
    removed = (a - d) / (a - b) if a > b else float("nan")  # of the means
    per_seed = [r["defended_ndcg@10"] / r["before_ndcg@10"] - 1 for r in sel]
    seeds = [
        f"{100 * (r['after_target_hit@50'] - r['defended_target_hit@50']) / gain:.0f}"
        if (gain := r["after_target_hit@50"] - r["before_target_hit@50"]) > 1e-4  # < 1 hit: no gain
        else "n/a"
        for r in sel
    ]
    cells = [*(_ms(hit[c]) for c in ("before", "after", "defended"))]
    cells.append(f"{100 * removed:.0f}% ({', '.join(seeds)})")
    cells += [_ms([r[f"{c}_ndcg@10"] for r in sel]) for c in ("before", "defended")]
    cells.append(f"{100 * np.mean(per_seed):+.1f}% ± {100 * np.std(per_seed):.1f}%")
    if "fakes_flagged" in sel[0]:
        cells += [
            f"{np.mean([r['fakes_flagged'] for r in sel]):.1f} / {sel[0]['n_fake']}",
            f"{np.mean([r['real_flagged'] for r in sel]):.1f}",
        ]
    else:
        cells += ["—", "—"]
    return cells


if __name__ == "__main__":
    main()
