"""``advrec attack``: the poisoning experiment from the command line (parser and command)."""

from __future__ import annotations

import argparse
from pathlib import Path

from advrec.errors import ConfigError
from advrec.utils.seeding import check_seed


def add_parser(sub: argparse._SubParsersAction) -> None:
    attack = sub.add_parser(
        "attack",
        help="poison the training split with fake users, retrain, and probe the targets' exposure",
    )
    attack.add_argument("config", help="YAML config of the victim")
    attack.add_argument(
        "--attack",
        required=True,
        help="a registered attack, e.g. bandwagon or template (a wrong name lists them)",
    )
    attack.add_argument(
        "--attack-set",
        dest="attack_overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting of the attack, e.g. --attack-set n_selected=5 (repeatable)",
    )
    attack.add_argument("--size", required=True, help="fake users as a share of real users, e.g. 0.03")
    attack.add_argument(
        "--targets", required=True, help="unpopular:K, mid:K, random:K or comma-separated original item ids"
    )
    attack.add_argument(
        "--filler",
        help="filler items per profile: a share of the catalogue (< 1) or a count (default: the mean "
        "real training profile length)",
    )
    attack.add_argument("--defence", default="none", help="none, apr, filter or filter+apr (default: none)")
    attack.add_argument(
        "--defence-set",
        dest="defence_overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting of the defence, e.g. --defence-set adversary.eps=0.25 (repeatable)",
    )
    attack.add_argument(
        "--detector",
        help="the filter defences' detector: simulated (the default; supervised, trained on fake profiles "
        "the defender simulates itself), simulated+template (the same, also simulating the template "
        "attack), iforest or pca (unsupervised, flag the expected attack size), co-rating (users who "
        "hold a group of items co-rated far beyond chance, e.g. an attack's targets); the same as "
        "--defence-set detector=NAME",
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


def poison_settings(args: argparse.Namespace):
    """The experiment's settings from the command line, validated before any training."""
    from advrec.config.loading import merge, parse_overrides
    from advrec.experiments.poisoning import poison_config

    defence: dict = {"name": args.defence}
    if args.detector is not None:
        defence["detector"] = args.detector
    raw = {
        "attack": merge({"name": args.attack}, parse_overrides(args.attack_overrides), "--attack-set"),
        "size": _number(args.size, "--size", float),
        "targets": args.targets,
        "filler": _number(args.filler, "--filler", float),
        "defence": merge(defence, parse_overrides(args.defence_overrides), "--defence-set"),
    }
    flags = {key: f"--{key}" for key in ("attack", "size", "targets", "filler", "defence")}
    return poison_config(raw, "advrec attack", flags)


def run(args: argparse.Namespace) -> None:
    from advrec.experiments.poisoning import attack_run
    from advrec.runs.config import load_config

    settings = poison_settings(args)  # bad arguments fail before any training
    config = load_config(args.config, args.overrides)
    seed = _number(args.seed, "--seed", int)
    if seed is not None:
        config = config.model_copy(update={"seed": check_seed(seed, "--seed")})
    out = Path(args.out)
    results = attack_run(config, out, settings, data_root=args.data_root, show_progress=not args.quiet)
    p = results["poisoning"]
    columns = [c for c in ("before", "after", "defended") if c in p]
    print(
        f"{p['attack']} attack: {p['n_fake']} fake users, {p['filler']} filler items, targets {p['targets']}"
    )
    print("  " + "metric".ljust(18) + "".join(c.rjust(12) for c in columns))
    shown = (
        "target_hit@10",
        "target_hit@20",
        "target_hit@50",
        "target_ndcg@50",
        "target_mean_rank",
        "ndcg@10",
    )
    for key in (k for k in shown if all(k in p[c] for c in columns)):  # ndcg@10 only if eval.ks has 10
        print("  " + key.ljust(18) + "".join(f"{p[c][key]:12.4f}" for c in columns))
    print(f"results in {out / 'results.json'}, plot in {out / 'poisoning.png'}")
