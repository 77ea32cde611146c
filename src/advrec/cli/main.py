"""Command line: ``advrec train | evaluate | download | attack | detect | study | report | demo``.

Input errors print one line, exit code 2."""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import math
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

from advrec.errors import AdvrecError, AdvrecWarning, ConfigError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="advrec", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train and evaluate a recommender from a YAML config")
    train.add_argument("config", help="YAML config file")
    train.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set train.epochs=5 (repeatable)",
    )
    train.add_argument("--data-root", help="folder that relative data paths resolve against")
    train.add_argument("--out", help="run folder (default: runs/<config name>)")
    train.add_argument("--resume", action="store_true", help="continue a killed run from its last checkpoint")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.add_argument(
        "--no-test",
        action="store_true",
        help="select on valid and leave test unread (for tuning); 'advrec evaluate RUN' reads and records it",
    )

    evaluate = sub.add_parser("evaluate", help="re-evaluate a run folder's best model on its test split")
    evaluate.add_argument("run_dir")
    evaluate.add_argument(
        "--export-topk", metavar="FILE", help="write each test user's top-K items (original ids) as TSV"
    )
    evaluate.add_argument(
        "--device", help="cpu, cuda or cuda:N instead of the run's own (e.g. cpu for a run trained on a GPU)"
    )
    evaluate.add_argument(
        "--attack",
        metavar="fgsm|pgd|fgsm,pgd",
        help="robustness probe: perturb every embedding row adversarially (several attacks: "
        "comma-separated); merged into results.json 'robustness', curves in the run folder's robustness/ "
        "(CSV and PNG)",
    )
    evaluate.add_argument(
        "--eps", default="0.1,0.25,0.5,1.0", help="comma-separated per-row budgets (default: %(default)s)"
    )
    evaluate.add_argument("--eps-mode", choices=["absolute", "relative"], default="absolute")
    evaluate.add_argument("--pgd-steps", type=int, default=10, help="PGD steps (default: %(default)s)")
    evaluate.add_argument(
        "--targets",
        help="comma-separated tables to perturb, e.g. item_features (default: all the model's tables); "
        "recorded apart, in results.json 'robustness_<tables>' and the folder robustness_<tables>/",
    )
    evaluate.add_argument(
        "--split",
        choices=["test", "valid"],
        default="test",
        help="split the robustness probe ranks (default: %(default)s); valid, for choosing adversarial "
        "training settings without reading test, is recorded apart under a '_valid' suffix",
    )

    evaluate.add_argument(
        "--text-attack",
        metavar="promo|popular",
        help="text-side probe for runs trained on data.item_text: edit the target items' texts, re-embed, "
        "swap the rows in (no retraining); merged into results.json 'text_attack'",
    )
    evaluate.add_argument(
        "--text-targets",
        default="random:5",
        help="target items of --text-attack: unpopular:K, mid:K, random:K or item ids (default: %(default)s)",
    )

    download = sub.add_parser("download", help="download and verify a public dataset (ml-100k, ml-1m)")
    download.add_argument("name", help="dataset name, e.g. ml-100k")
    download.add_argument(
        "--cache-dir",
        default=str(Path.home() / ".cache" / "advrec"),
        help="where archives and extracted files go (default: ~/.cache/advrec)",
    )

    from advrec.cli import detect as detection_cli

    detection_cli.add_parser(sub)
    from advrec.cli.report import add_demo_parser, add_parsers

    add_parsers(sub)  # study, report
    add_demo_parser(sub)
    from advrec.cli.attack import add_parser as add_attack_parser

    add_attack_parser(sub)
    return parser


def _print_metrics(title: str, metrics: dict[str, float]) -> None:
    print(title)
    names = sorted({k.split("@")[0] for k in metrics if "@" in k})
    ks = sorted({int(k.split("@")[1]) for k in metrics if "@" in k})
    print("  " + "metric".ljust(10) + "".join(f"@{k}".rjust(10) for k in ks))
    for name in names:
        row = "".join(f"{metrics.get(f'{name}@{k}', float('nan')):10.4f}" for k in ks)
        print("  " + name.ljust(10) + row)
    if "auc" in metrics:
        print("  " + "auc".ljust(10) + f"{metrics['auc']:10.4f}")


def _cmd_train(args: argparse.Namespace) -> None:
    from advrec.runs.config import load_config
    from advrec.runs.train import train_run

    config = load_config(args.config, args.overrides)
    out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
    results = train_run(
        config,
        out,
        data_root=args.data_root,
        resume=args.resume,
        show_progress=not args.quiet,
        read_test=not args.no_test,
    )
    if results.get("world_size", 1) > 1 and not _is_rank_zero():
        return
    if results["test"] is None:
        _print_metrics(f"valid (best epoch {results['best_epoch'] + 1}):", results["valid"])
        print(f"test not read (--no-test): 'advrec evaluate {out}' reads it once and records it")
    else:
        _print_metrics(f"test (best epoch {results['best_epoch'] + 1}):", results["test"])
    t = results["timing"]
    print(
        f"train {t['train_s_per_epoch']:.3f} s/epoch, eval {t['eval_s']:.3f} s, best epoch after "
        f"{t['time_to_best_s']:.1f} s; results in {out}/results.json"
    )


def _is_rank_zero() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from advrec.runs.load import evaluate_run, export_topk
    from advrec.runs.probe import robustness_run

    if args.attack:  # bad probe arguments fail before any work
        from advrec.measure.robustness import parse_attacks, robustness_key

        try:
            attacks = parse_attacks(args.attack)
        except ValueError as exc:
            raise ConfigError(f"--attack {args.attack!r}: {exc}") from None
        eps_list = _parse_eps(args.eps)
        if args.pgd_steps < 1:
            raise ConfigError(f"--pgd-steps: must be at least 1, got {args.pgd_steps}")
        targets = None
        if args.targets is not None:
            targets = [t.strip() for t in args.targets.split(",") if t.strip()]
            if not targets:
                raise ConfigError(f"--targets {args.targets!r}: expected comma-separated table names")
    if args.text_attack:
        from advrec.attack.text_attack import KINDS

        if args.text_attack not in KINDS:
            raise ConfigError(f"--text-attack {args.text_attack!r}: expected one of {', '.join(KINDS)}")
    if args.split == "valid":  # tuning on valid: nothing of test is computed or shown
        if not args.attack or args.export_topk or args.text_attack:
            raise ConfigError(
                "--split valid: only for the robustness probe (--attack), without "
                "--export-topk or --text-attack, which read test"
            )
    else:
        _print_metrics(f"test ({args.run_dir}):", evaluate_run(args.run_dir, args.device))
    if args.export_topk:
        rows = export_topk(args.run_dir, args.export_topk, device=args.device)
        print(f"wrote {rows} rows to {args.export_topk}")
    if args.attack:
        key = robustness_key(targets, args.split)  # the results.json entry and the folder
        earlier = _earlier_curves(Path(args.run_dir) / "results.json", key)
        robustness = robustness_run(
            args.run_dir,
            eps_list,
            attack=attacks,
            eps_mode=args.eps_mode,
            pgd_steps=args.pgd_steps,
            targets=targets,
            split=args.split,
            device=args.device,
        )
        for attack in attacks:
            _print_robustness(robustness, attack)
            if attack in earlier and earlier[attack] != _curve_id(robustness, attack):
                mode, eps, steps = earlier[attack]
                print(
                    f"  (replaced the earlier {attack} curve of {key}: eps_mode {mode}, eps {', '.join(eps)}"
                    + (f", {steps} steps" if steps else "")
                    + "; one curve per attack is kept, so copy results.json first to keep both)"
                )
        written = ", ".join([f"{a}.csv" for a in attacks] + ["curves.png"])
        print(
            f"{key} ({', '.join(robustness['settings'])}) in {Path(args.run_dir) / 'results.json'}; "
            f"{written} in {Path(args.run_dir) / key}"
        )
    if args.text_attack:
        _print_text_attack(args.run_dir, args.text_attack, args.text_targets, args.device)


def _print_text_attack(run_dir: str, kind: str, targets: str, device: str | None) -> None:
    from advrec.attack.text_attack import text_attack_run

    entry = text_attack_run(run_dir, kind, targets, device=device)
    print(f"text attack {kind!r} on {targets} (items {entry['target_ids']}):")
    for key in ("target_hit@10", "target_hit@50", "target_mean_rank"):
        print(f"  {key.ljust(18)}{entry['before'][key]:12.4f} -> {entry['after'][key]:.4f}")
    print(f"  rank gain {entry['rank_gain']:.1f} (mean over targets of the mean rank improvement)")
    print(f"text_attack.{kind}.{targets} in {Path(run_dir) / 'results.json'}")


def _curve_id(entry: dict, attack: str) -> tuple[str, tuple[str, ...], int | None]:
    """What tells two probes of one attack apart: eps mode, eps values and PGD steps."""
    settings = entry.get("settings", {}).get(attack, {})
    return settings.get("eps_mode", "absolute"), tuple(entry.get(attack, {})), settings.get("pgd_steps")


def _earlier_curves(results: Path, key: str) -> dict[str, tuple[str, tuple[str, ...], int | None]]:
    """The curves a probe may replace: attack -> its ``_curve_id`` in the run's ``results.json``."""
    try:
        entry = json.loads(results.read_text(encoding="utf-8")).get(key)
    except (OSError, ValueError):
        return {}  # no results yet (or unreadable: the probe itself reports that)
    if not isinstance(entry, dict):
        return {}
    return {a: _curve_id(entry, a) for a in entry.get("settings", {}) if isinstance(entry.get(a), dict)}


def _parse_eps(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"--eps {text!r}: expected comma-separated numbers, e.g. 0.1,0.5") from None
    if not values or not all(math.isfinite(v) and v >= 0 for v in values):
        raise ConfigError(f"--eps {text!r}: expected one or more finite, non-negative numbers")
    return values


def _print_robustness(robustness: dict, attack: str) -> None:
    keys = [k for k in ("ndcg@10", "recall@10", "hit@10", "auc") if k in robustness["clean"]]
    settings = robustness["settings"][attack]
    tables = f", tables {', '.join(settings['targets'])}" if "targets" in settings else ""
    print(f"robustness ({attack}, eps_mode {settings['eps_mode']}{tables}): metric (relative drop)")
    norms = settings.get("mean_row_norm")  # older results.json entries lack it
    if norms:
        listed = ", ".join(f"{name} {value:.3g}" for name, value in norms.items())
        why = (
            " (an absolute eps is large or small only against these)"
            if settings["eps_mode"] == "absolute"
            else ""
        )
        print(f"  mean row norm of the perturbed tables: {listed}{why}")
    print("  " + "eps".ljust(14) + "".join(k.rjust(20) for k in keys))
    print("  " + "clean".ljust(14) + "".join(f"{robustness['clean'][k]:20.4f}" for k in keys))
    for eps in robustness[attack]:
        for label, source in ((attack, robustness[attack]), ("random", robustness["random"][attack])):
            values = source[eps]
            cells = "".join(f"{values[k]:10.4f} ({_pct(values[f'{k}_drop'])})".rjust(20) for k in keys)
            print("  " + f"{label} {eps}".ljust(14) + cells)


def _pct(drop: float | None) -> str:
    return "   n/a" if drop is None else f"{100 * drop:5.1f}%"


def _cmd_download(args: argparse.Namespace) -> None:
    from advrec.data.download import DATASETS, fetch

    folder = fetch(args.name, args.cache_dir)
    info = DATASETS.get(args.name)
    print(folder / info.ratings if info else folder)


def _cmd_demo(args: argparse.Namespace) -> None:
    from advrec.cli.report import cmd_demo

    cmd_demo(args)


def _cmd_study(args: argparse.Namespace) -> None:
    from advrec.cli.report import cmd_study

    cmd_study(args)


def _cmd_report(args: argparse.Namespace) -> None:
    from advrec.cli.report import cmd_report

    cmd_report(args)


def _cmd_detect(args: argparse.Namespace) -> None:
    from advrec.cli import detect as detection_cli

    detection_cli.run(args)


def _cmd_attack(args: argparse.Namespace) -> None:
    from advrec.cli.attack import run

    run(args)


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _resource_exhausted(exc: BaseException) -> str | None:
    """One line for what the machine ran out of (memory, disk), wherever it was noticed; None for any
    other exception. (Files advrec writes atomically already say so as a StorageError naming the file.)"""
    if isinstance(exc, MemoryError) or (
        isinstance(exc, RuntimeError) and ("can't allocate memory" in str(exc) or "out of memory" in str(exc))
    ):
        detail = str(exc).split("DefaultCPUAllocator: ")[-1].splitlines()[0] if str(exc) else ""
        return (
            f"out of memory{': ' + detail if detail else ''}; lower model.dim, train.batch_size or "
            "eval.memory_budget_mb, or use a machine with more memory"
        )
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}cannot write: {exc.strerror}; free some space (a killed run continues with --resume)"
    return None


@contextlib.contextmanager
def _warnings_on_one_line() -> Iterator[None]:
    """advrec's own warnings as ``advrec: warning: ...`` log lines (shown on stderr by ``console_log``),
    each time they happen; other warnings as usual."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", AdvrecWarning)
        default = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, AdvrecWarning):  # through the log: stderr, and run.log in a run
                logging.getLogger("advrec.warnings").warning("advrec: warning: %s", message)
            else:
                default(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands = {
        "train": _cmd_train,
        "evaluate": _cmd_evaluate,
        "download": _cmd_download,
        "demo": _cmd_demo,
        "detect": _cmd_detect,
        "study": _cmd_study,
        "report": _cmd_report,
        "attack": _cmd_attack,
    }
    from advrec.utils.log import console_log

    try:
        level = logging.WARNING if getattr(args, "quiet", False) else logging.INFO
        with console_log(level), _warnings_on_one_line():
            commands[args.command](args)
    except AdvrecError as exc:
        print(f"advrec: error: {exc}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError, OSError) as exc:
        reason = _resource_exhausted(exc)
        if reason is None:  # a bug, not the machine: the traceback is what explains it
            raise
        print(f"advrec: error: {reason}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("advrec: interrupted; continue with --resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
