"""Fake-profile detection on a labelled profile set: precision, recall, F1 and AUC of every detector.

Supervised detectors (gbdt, rf) are scored by stratified k-fold cross-validation (out-of-fold scores),
unsupervised ones (pca, iforest) without labels, flagging as many profiles as the set has fakes (or
``--attack-size`` × profiles). Each seed redraws the folds and the models' randomness; the table shows
mean ± std over seeds. Any ``user item rating`` + ``user label`` pair works, e.g. an attacked ML-100K
written by the attack generators.

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python benchmarks/detection_filmtrust.py \\
        --ratings ../shared/data/shilling-sdlib-averageattack/ratings.txt \\
        --labels ../shared/data/shilling-sdlib-averageattack/labels.txt --out runs/bench_detection

``--cap-rating 4`` clips every rating to 4 before detection: in the SDLib FilmTrust set the attackers push
their target with 5, a value no genuine FilmTrust user gives (their scale ends at 4.0), and the cap shows
what the detectors find without that giveaway.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from advrec.data.labelled_profiles import load_labelled_profiles
from advrec.defend.evaluate import parse_detector_names, run_detectors
from advrec.defend.features import ProfileFeatures
from advrec.defend.names import DETECTORS, SUPERVISED
from advrec.measure.detection import roc_auc
from advrec.utils.files import atomic_write_json, atomic_write_text

METRICS = ("precision", "recall", "f1", "auc")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ratings", required=True)
    parser.add_argument("--labels", required=True)
    parser.add_argument("--detector", default="all")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default: %(default)s)")
    parser.add_argument("--attack-size", type=float, help="share flagged by unsupervised detectors")
    parser.add_argument("--cap-rating", type=float, help="clip ratings to this value before detection")
    parser.add_argument("--implicit", action="store_true")
    parser.add_argument("--out", default="runs/bench_detection")
    args = parser.parse_args()

    names = parse_detector_names(args.detector, DETECTORS)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    profiles = load_labelled_profiles(args.ratings, args.labels, implicit=args.implicit)
    matrix = profiles.matrix.copy()
    if args.cap_rating is not None:
        matrix.data = np.minimum(matrix.data, args.cap_rating)
    share = float(profiles.labels.mean()) if args.attack_size is None else args.attack_size
    n_flag = int(round(share * profiles.n_users))

    per_seed: dict[str, list[dict]] = {name: [] for name in names}
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for seed in seeds:
        for name in names:
            start = time.perf_counter()
            result = run_detectors(
                matrix,
                profiles.labels,
                [name],
                folds=args.folds,
                seed=seed,
                n_flag=n_flag,
                implicit=args.implicit,
            )[name]
            seconds[name].append(time.perf_counter() - start)
            per_seed[name].append(result.metrics)
            m = result.metrics
            print(f"seed {seed} {name}: " + ", ".join(f"{k} {m[k]:.4f}" for k in METRICS), flush=True)

    lines = [
        f"{profiles.n_users} profiles ({int(profiles.labels.sum())} fake), {profiles.n_items} items, "
        f"{matrix.nnz} ratings; seeds {args.seeds}; supervised: stratified {args.folds}-fold CV; "
        f"unsupervised flag {n_flag}"
        + (f"; ratings capped at {args.cap_rating:g}" if args.cap_rating else ""),
        "",
        "| detector | kind | precision | recall | F1 | AUC | s per seed |",
        "|---|---|---|---|---|---|---|",
    ]
    summary = {}
    for name in names:
        kind = "supervised, CV" if name in SUPERVISED else "unsupervised"
        stats = {}
        for metric in METRICS:
            values = np.array([m[metric] for m in per_seed[name]], dtype=float)
            stats[metric] = {
                "mean": float(values.mean()),
                "std": float(values.std()),
                "values": values.tolist(),
            }
        summary[name] = {"metrics": stats, "seconds": seconds[name]}
        cells = " | ".join(f"{stats[m]['mean']:.3f} ± {stats[m]['std']:.3f}" for m in METRICS)
        lines.append(f"| {name} | {kind} | {cells} | {np.mean(seconds[name]):.2f} |")
    # Each feature alone as a score (AUC; below 0.5 = fakes score lower): which cue the detectors can use.
    features = ProfileFeatures(implicit=args.implicit)
    values = features.transform(matrix)
    feature_auc = {name: roc_auc(values[:, j], profiles.labels) for j, name in enumerate(features.names)}
    lines += ["", "single-feature AUC: " + ", ".join(f"{n} {a:.3f}" for n, a in feature_auc.items())]
    table = "\n".join(lines) + "\n"
    print(table)
    out = Path(args.out)
    atomic_write_text(out / "table.md", table)
    atomic_write_json(
        out / "summary.json",
        {"args": vars(args), "n_flag": n_flag, "detectors": summary, "feature_auc": feature_auc},
    )


if __name__ == "__main__":
    main()
