"""``advrec attack``: the poisoning experiment from the command line (parser and command)."""

from __future__ import annotations

import argparse
from pathlib import Path

from advrec.errors import ConfigError
from advrec.utils.seeding import check_seed


def add_parser(sub: argparse._SubParsersAction) -> None:
    from advrec.attack.registry import ATTACKS
    from advrec.defend.defences import DEFENCES

    attack = sub.add_parser(
        "attack",
        help="poison the training split with fake users, retrain, and probe the targets' exposure",
    )
    attack.add_argument("config", help="YAML config of the victim")
    attack.add_argument("--attack", required=True, help=f"one of: {', '.join(ATTACKS)}")
    attack.add_argument("--size", required=True, help="fake users as a share of real users, e.g. 0.03")
    attack.add_argument(
        "--targets", required=True, help="unpopular:K, mid:K, random:K or comma-separated original item ids"
    )
    attack.add_argument(
        "--filler",
        help="filler items per profile: a share of the catalogue (< 1) or a count (default: the mean "
        "real training profile length)",
    )
    attack.add_argument("--defence", default="none", help=f"one of: {', '.join(DEFENCES)} (default: none)")
    attack.add_argument(
        "--detector",
        default="simulated",
        help="the filter defences' detector: simulated (default; supervised, trained on fake profiles "
        "the defender simulates itself), simulated+template (the same, also simulating the template "
        "attack), iforest or pca (unsupervised, flag the expected attack size), co-rating (users who "
        "hold a group of items co-rated far beyond chance, e.g. an attack's targets)",
    )
    attack.add_argument("--data-root", help="folder that relative data paths resolve against")
    attack.add_argument("--seed", help="run seed (default: the config's)")
    attack.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="config override"
    )
    attack.add_argument("--out", required=True, help="experiment folder (rerun it to resume)")
    attack.add_argument("--quiet", action="store_true", help="no progress bars")


def _number(text: str | None, flag: str, kind: type) -> float | int | None:
    if text is None:
        return None
    try:
        return kind(text)
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: expected a {'whole ' if kind is int else ''}number") from None


def run(args: argparse.Namespace) -> None:
    from advrec.config.loading import load_config
    from advrec.experiments.poisoning import AttackSettings, attack_run, default_detector

    settings = AttackSettings(
        attack=args.attack,
        size=_number(args.size, "--size", float),
        targets=args.targets,
        filler=_number(args.filler, "--filler", float),
        defence=args.defence,
    )
    settings.check()  # bad arguments fail before any training
    from advrec.defend.filters import FILTER_DETECTORS

    if args.detector not in FILTER_DETECTORS:
        raise ConfigError(f"--detector {args.detector!r}: expected one of {', '.join(FILTER_DETECTORS)}")
    config = load_config(args.config, args.overrides)
    seed = _number(args.seed, "--seed", int)
    if seed is not None:
        config = config.model_copy(update={"seed": check_seed(seed, "--seed")})
    detector = default_detector(settings, seed=config.seed, name=args.detector)
    if settings.defence != "none":
        from advrec.defend.defences import build_defence

        build_defence(settings.defence, detector)
    out = Path(args.out)
    results = attack_run(
        config, out, settings, data_root=args.data_root, detector=detector, show_progress=not args.quiet
    )
    p = results["poisoning"]
    columns = [c for c in ("before", "after", "defended") if c in p]
    print(
        f"{p['attack']} attack: {p['n_fake']} fake users, {p['filler']} filler items, targets {p['targets']}"
    )
    print("  " + "metric".ljust(18) + "".join(c.rjust(12) for c in columns))
    for key in (
        "target_hit@10",
        "target_hit@20",
        "target_hit@50",
        "target_ndcg@50",
        "target_mean_rank",
        "ndcg@10",
    ):
        print("  " + key.ljust(18) + "".join(f"{p[c][key]:12.4f}" for c in columns))
    print(f"results in {out / 'results.json'}, plot in {out / 'poisoning.png'}")
