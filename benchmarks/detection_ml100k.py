"""Fake-profile detection on ML-100K attacked with 3% fake users: every attack x every detector.

For each attack, the clean training split of ``--config`` (its seed's split) gets ``--size`` × real users
fake profiles (targets ``--targets``, filler = the mean real profile length, as ``advrec attack`` does);
the attacked training set is written as a labelled ``ratings.txt`` / ``labels.txt`` pair under
``--out/<attack>/`` (readable by ``benchmarks/detection_filmtrust.py``) and scored by the built-in
detectors (supervised by stratified CV, unsupervised flagging the number of fakes) and by the GAN
attack's own discriminator (trained once, on the clean data, while generating the ``gan`` profiles).

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 19 .venv/bin/python benchmarks/detection_ml100k.py \\
        --config examples/basics/ml100k_mf_bpr.yaml --data-root ../shared/data --out
        runs/bench_detection_ml100k

``--split-seeds 2020,2021,...`` repeats it on other seeds of the config (split, targets, attack draws) and
reports precision / recall / F1 / AUC as mean ± std over every (split seed, detector seed).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from advrec.attack.gan_attack import rating_matrix, train_gan_attack
from advrec.attack.inject import inject
from advrec.attack.profiles import AttackSpec
from advrec.attack.registry import get_attack
from advrec.attack.targets import select_targets
from advrec.data.loading import load_split
from advrec.defend.evaluate import evaluate_detector, run_detectors
from advrec.defend.gan_discriminator import discriminator_detector
from advrec.defend.names import DETECTORS
from advrec.experiments.poisoning import attack_rng, filler_count
from advrec.runs.config import load_config
from advrec.utils.files import atomic_write_json, atomic_write_text
from advrec.utils.seeding import numpy_rng

METRICS = ("precision", "recall", "f1", "auc")


def write_labelled(folder: Path, train, fake: np.ndarray) -> None:
    users = train.user_map.raw[train.users]
    items = train.item_map.raw[train.items]
    ratings = train.ratings if train.ratings is not None else np.ones(len(train))
    atomic_write_text(
        folder / "ratings.txt", "".join(f"{u} {i} {r:g}\n" for u, i, r in zip(users, items, ratings))
    )
    atomic_write_text(
        folder / "labels.txt", "".join(f"{u} {int(f)}\n" for u, f in zip(train.user_map.raw, fake))
    )


def attacked_sets(config, args, out: Path) -> tuple[dict, dict, dict]:
    """One split seed: every attack's labelled training set, its detector metrics, and the GAN's own
    discriminator on every set (with and without the target columns)."""
    clean = load_split(config.data, config.split, args.data_root, numpy_rng(config.seed, "split"))
    train = clean.train
    targets = select_targets(args.targets, train, attack_rng(config.seed, 0))  # as advrec attack
    spec = AttackSpec(
        n_fake=max(1, int(round(args.size * train.n_users))),
        filler=filler_count(None, train, train.n_items),
        targets=targets,
    )
    seeds = [int(s) for s in args.seeds.split(",")]
    attacks = args.attacks.split(",")
    gan_nets, results, sets = None, {}, {}
    for attack in attacks:
        start = time.perf_counter()
        rng = attack_rng(config.seed, 1)  # the stream advrec attack draws profiles from
        if attack == "gan":
            made = train_gan_attack(spec, train, rng)
            profiles, gan_nets = made.profiles, made.nets
        else:
            profiles = get_attack(attack)(spec, train, rng)
        gen_s = time.perf_counter() - start
        poisoned, _ = inject(clean, profiles)
        ptrain = poisoned.train
        fake = np.arange(ptrain.n_users) >= train.n_users  # fake users take the indices after real ones
        write_labelled(out / attack, ptrain, fake)
        matrix, labels = rating_matrix(ptrain), fake.astype(np.int64)
        sets[attack] = (matrix, labels)
        rows = {}
        for seed in seeds:
            for name, res in run_detectors(
                matrix, labels, list(DETECTORS), seed=seed, n_flag=spec.n_fake
            ).items():
                rows.setdefault(name, []).append(res.metrics)
        print(f"split seed {config.seed} {attack}: generated in {gen_s:.1f} s", flush=True)
        results[attack] = {"generate_s": gen_s, "detectors": rows}
    if gan_nets is not None:  # the GAN's discriminator on every attacked set (deterministic: one seed)
        for attack in attacks:
            matrix, labels = sets[attack]
            res = evaluate_detector(discriminator_detector(gan_nets, n_flag=spec.n_fake), matrix, labels)
            results[attack]["detectors"]["gan-d"] = [res.metrics]
            # the same with the target columns emptied: how much of it is "rates the targets"
            hidden = matrix.tolil()
            hidden[:, targets] = 0
            res = evaluate_detector(
                discriminator_detector(gan_nets, n_flag=spec.n_fake), hidden.tocsr(), labels
            )
            results[attack]["detectors"]["gan-d, targets hidden"] = [res.metrics]
    info = {
        "n_real": int(train.n_users),
        "n_items": int(train.n_items),
        "n_fake": spec.n_fake,
        "filler": spec.filler,
        "targets": train.item_map.raw[targets].tolist(),
    }
    return results, info, sets


def summary_table(per_split: dict[int, dict], attacks: list[str], detectors: list[str]) -> list[str]:
    """Rows attack x detector; P / R / F1 / AUC as mean ± std over every (split seed, detector seed)."""
    lines = ["| attack | detector | precision | recall | F1 | AUC |", "|---|---|---|---|---|---|"]
    for attack in attacks:
        for name in detectors:
            ms = [m for res in per_split.values() for m in res[attack]["detectors"].get(name, [])]
            if not ms:
                continue
            cells = [f"{np.mean([m[k] for m in ms]):.3f} ± {np.std([m[k] for m in ms]):.3f}" for k in METRICS]
            lines.append(f"| {attack} | {name} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="examples/basics/ml100k_mf_bpr.yaml")
    parser.add_argument("--data-root", default="../shared/data")
    parser.add_argument("--attacks", default="average,bandwagon,gan,optimised")
    parser.add_argument("--size", type=float, default=0.03)
    parser.add_argument("--targets", default="mid:5")
    parser.add_argument("--seeds", default="0,1", help="detector seeds (CV folds, models)")
    parser.add_argument(
        "--split-seeds", default="", help="config seeds (split, targets, attack draws); default: the config's"
    )
    parser.add_argument("--out", default="runs/bench_detection_ml100k")
    args = parser.parse_args()

    out = Path(args.out)
    attacks = args.attacks.split(",")
    split_seeds = [int(s) for s in args.split_seeds.split(",") if s] or [load_config(args.config, []).seed]
    per_split, infos = {}, {}
    for split_seed in split_seeds:
        config = load_config(args.config, [f"seed={split_seed}"])
        folder = out if len(split_seeds) == 1 else out / f"seed{split_seed}"
        per_split[split_seed], infos[split_seed], _ = attacked_sets(config, args, folder)
    detectors = [*DETECTORS, "gan-d", "gan-d, targets hidden"]
    lines = [
        f"ML-100K train, split seeds {split_seeds}: "
        + "; ".join(f"{s}: {i['n_real']} real users, targets {i['targets']}" for s, i in infos.items()),
        f"{infos[split_seeds[0]]['n_fake']} fake users ({args.size:g}), filler = mean real profile; "
        f"detector seeds {args.seeds}; mean ± std over every (split seed, detector seed)",
        "",
        *summary_table(per_split, attacks, detectors),
    ]
    table = "\n".join(lines) + "\n"
    print(table)
    atomic_write_text(out / "table.md", table)
    atomic_write_json(
        out / "summary.json",
        {"args": vars(args), "info": infos, "results": {str(k): v for k, v in per_split.items()}},
    )


if __name__ == "__main__":
    main()
