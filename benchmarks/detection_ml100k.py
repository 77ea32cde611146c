"""Fake-profile detection on ML-100K attacked with 3% fake users: every attack x every detector.

For each attack, the clean training split of ``--config`` (its seed's split) gets ``--size`` × real users
fake profiles (targets ``--targets``, filler = the mean real profile length, as ``advrec attack`` does);
the attacked training set is written as a labelled ``ratings.txt`` / ``labels.txt`` pair under
``--out/<attack>/`` (readable by ``benchmarks/detection_filmtrust.py``) and scored by the built-in
detectors (supervised by stratified CV, unsupervised flagging the number of fakes) and by the GAN
attack's own discriminator (trained once, on the clean data, while generating the ``gan`` profiles).

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 19 .venv/bin/python benchmarks/detection_ml100k.py \\
        --config examples/ml100k_mf_bpr.yaml --data-root ../shared/data --out runs/bench_detection_ml100k
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from advrec.attacks.experiment import _rng, filler_count
from advrec.attacks.gan_attack import discriminator_detector, rating_matrix, train_gan_attack
from advrec.attacks.inject import inject
from advrec.attacks.profiles import AttackSpec
from advrec.attacks.registry import get_attack
from advrec.attacks.targets import select_targets
from advrec.config import load_config
from advrec.data.loading import load_split
from advrec.detection.evaluate import evaluate_detector, run_detectors
from advrec.detection.names import DETECTORS
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="examples/ml100k_mf_bpr.yaml")
    parser.add_argument("--data-root", default="../shared/data")
    parser.add_argument("--attacks", default="average,bandwagon,gan,optimised")
    parser.add_argument("--size", type=float, default=0.03)
    parser.add_argument("--targets", default="mid:5")
    parser.add_argument("--seeds", default="0,1", help="detector seeds (CV folds, models)")
    parser.add_argument("--out", default="runs/bench_detection_ml100k")
    args = parser.parse_args()

    config = load_config(args.config, [])
    clean = load_split(config.data, config.split, args.data_root, numpy_rng(config.seed, "split"))
    train = clean.train
    targets = select_targets(args.targets, train, _rng(config.seed, 0))  # as advrec attack
    spec = AttackSpec(
        n_fake=max(1, int(round(args.size * train.n_users))),
        filler=filler_count(None, train, train.n_items),
        targets=targets,
    )
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out)
    attacks = args.attacks.split(",")
    gan_nets, results, lines, sets = None, {}, [], {}
    for attack in attacks:
        start = time.perf_counter()
        rng = _rng(config.seed, 1)  # the stream advrec attack draws profiles from
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
        print(f"{attack}: generated in {gen_s:.1f} s", flush=True)
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
    header = "| detector | " + " | ".join(f"{a} F1 | {a} AUC" for a in attacks) + " |"
    lines += [
        f"ML-100K train ({train.n_users} real users, {train.n_items} items), {spec.n_fake} fake users "
        f"({args.size:g}), filler {spec.filler}, targets {train.item_map.raw[targets].tolist()}; "
        f"mean over detector seeds {args.seeds}",
        "",
        header,
        "|---|" + "---|---|" * len(attacks),
    ]
    for name in [*DETECTORS, "gan-d", "gan-d, targets hidden"]:
        cells = []
        for attack in attacks:
            ms = results[attack]["detectors"].get(name)
            if not ms:
                cells.append("- | -")
                continue
            f1 = np.mean([m["f1"] for m in ms])
            auc = np.mean([m["auc"] for m in ms])
            cells.append(f"{f1:.3f} | {auc:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    table = "\n".join(lines) + "\n"
    print(table)
    atomic_write_text(out / "table.md", table)
    atomic_write_json(out / "summary.json", {"args": vars(args), "results": results})


if __name__ == "__main__":
    main()
