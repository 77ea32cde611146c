"""``advrec detect``: score a labelled profile set with one or more detectors and report P/R/F1/AUC."""

from __future__ import annotations

import argparse
from pathlib import Path

from advrec.errors import ConfigError
from advrec.utils.seeding import check_seed


def add_parser(sub: argparse._SubParsersAction) -> None:
    from advrec.defend.names import DETECTORS

    detect = sub.add_parser(
        "detect",
        help="score a labelled profile set (user item rating + user label files) with fake-profile detectors",
    )
    detect.add_argument("--ratings", required=True, help="whitespace-separated 'user item rating' file")
    detect.add_argument("--labels", required=True, help="'user label' file, 1 = fake, 0 = genuine")
    detect.add_argument(
        "--detector",
        default="all",
        help=f"comma-separated detectors from {', '.join(DETECTORS)}, or all (default: %(default)s)",
    )
    detect.add_argument("--folds", type=int, default=5, help="cross-validation folds of supervised detectors")
    detect.add_argument("--seed", type=int, default=0)
    detect.add_argument(
        "--attack-size",
        type=float,
        help="share of profiles the unsupervised detectors flag (default: the labelled share of fakes)",
    )
    detect.add_argument("--implicit", action="store_true", help="treat every rating as 1 (implicit feedback)")
    detect.add_argument("--out", required=True, help="folder for results.json, scores CSV and curves PNG")


def run(args: argparse.Namespace) -> None:
    from advrec.data.labelled_profiles import load_labelled_profiles
    from advrec.defend.detection_report import plot_curves, write_results, write_scores
    from advrec.defend.evaluate import parse_detector_names, run_detectors
    from advrec.defend.names import DETECTORS

    names = parse_detector_names(args.detector, DETECTORS)
    if args.folds < 2:
        raise ConfigError(f"--folds: must be at least 2, got {args.folds}")
    check_seed(args.seed, "--seed")
    if args.attack_size is not None and not 0 < args.attack_size < 1:
        raise ConfigError(f"--attack-size: expected a share between 0 and 1, got {args.attack_size}")
    profiles = load_labelled_profiles(args.ratings, args.labels, implicit=args.implicit)
    share = float(profiles.labels.mean()) if args.attack_size is None else args.attack_size
    n_flag = int(round(share * profiles.n_users))
    results = run_detectors(
        profiles.matrix,
        profiles.labels,
        names,
        folds=args.folds,
        seed=args.seed,
        n_flag=n_flag,
        implicit=args.implicit,
    )
    out = Path(args.out)
    settings = {
        "ratings": str(args.ratings),
        "labels": str(args.labels),
        "n_users": profiles.n_users,
        "n_items": profiles.n_items,
        "n_ratings": int(profiles.matrix.nnz),
        "n_fake": int(profiles.labels.sum()),
        "implicit": args.implicit,
        "folds": args.folds,
        "seed": args.seed,
        "supervised_evaluation": f"stratified {args.folds}-fold cross-validation, out-of-fold scores",
        "unsupervised_n_flag": n_flag,
        "unsupervised_n_flag_from": "labels" if args.attack_size is None else "--attack-size",
    }
    detection = {name: result.metrics for name, result in results.items()}
    path = write_results(out, detection, settings)
    scores = write_scores(out, profiles.user_ids, profiles.labels, results)
    curves = plot_curves(out, profiles.labels, results, title=Path(args.ratings).name)
    print(f"{profiles.n_users} profiles ({settings['n_fake']} fake), {profiles.n_items} items")
    print("  " + "detector".ljust(10) + "".join(m.rjust(11) for m in ("precision", "recall", "f1", "auc")))
    for name, result in results.items():
        m = result.metrics
        auc = "n/a" if m["auc"] is None else f"{m['auc']:.4f}"
        print(
            "  "
            + name.ljust(10)
            + "".join(f"{m[k]:11.4f}" for k in ("precision", "recall", "f1"))
            + auc.rjust(11)
        )
    print(f"results in {path}; scores in {scores}; curves in {curves}")
