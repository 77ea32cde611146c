"""The ``study``, ``report`` and ``demo`` subcommands (parsers and commands; cli.py registers them)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_parsers(sub: argparse._SubParsersAction) -> None:
    study = sub.add_parser("study", help="run a grid of runs from one study file (resumable), then report")
    study.add_argument("study", help="study YAML file (see advrec.experiments.study)")
    study.add_argument("--data-root", help="folder that relative data paths resolve against")
    study.add_argument("--out", help="study folder (default: runs/<study name>)")
    study.add_argument("--no-report", action="store_true", help="run the cells only")
    study.add_argument(
        "--tensorboard",
        metavar="DIR",
        help="also write TensorBoard scalars per epoch, one run per cell, under DIR (extra: tensorboard)",
    )
    study.add_argument(
        "--mlflow",
        metavar="DIR",
        help="also log params, per-epoch metrics and the report to the MLflow tracking folder DIR "
        "(local file store; extra: mlflow)",
    )

    report = sub.add_parser("report", help="HTML + Markdown + CSV report of a run or study folder")
    report.add_argument("path", help="a run folder, or a folder of run folders (a study)")
    report.add_argument("--baseline", help="system the others are tested against (default: the first)")
    report.add_argument("--out", help="HTML file (default: PATH/report.html); .md and _*.csv go next to it")
    report.add_argument(
        "--paired-by",
        choices=["auto", "seeds", "users"],
        default="auto",
        help="significance pairs: seeds, users, or auto (seeds if >= 3 in common)",
    )
    report.add_argument("--eps", help="ε of the trade-off plot (default: the middle ε probed)")
    report.add_argument(
        "--no-per-user",
        action="store_true",
        help="never evaluate a run per user to fill in a missing per_user_test.csv",
    )
    report.add_argument(
        "--device", help="device for those per-user evaluations instead of each run's own (e.g. cpu)"
    )


def add_demo_parser(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser(
        "demo", help="BPR-MF vs APR-MF on the embedded synthetic data, robustness probe, HTML report"
    )
    demo.add_argument("--out", default="runs/demo", help="folder for everything (default: runs/demo)")
    demo.add_argument("--epochs", type=int, default=None, help="cap on epochs per run (default: the demo's)")


def cmd_study(args: argparse.Namespace) -> None:
    from advrec.experiments.study import load_study, run_study

    study, cells = load_study(args.study)
    out = Path(args.out) if args.out else Path("runs") / str(study.name)
    result = run_study(
        study,
        cells,
        out,
        data_root=args.data_root,
        report=not args.no_report,
        tensorboard=args.tensorboard,
        mlflow=args.mlflow,
    )
    print(
        f"{result['cells']} cells: {result['trained']} trained, {result['resumed']} resumed, "
        f"{result['skipped']} already finished; {result['steps']} steps run"
    )
    if "report" in result:
        print(result["report"])


def cmd_report(args: argparse.Namespace) -> None:
    from advrec.report.build import build_report

    files = build_report(
        args.path,
        args.out,
        baseline=args.baseline,
        paired_by=args.paired_by,
        eps=args.eps,
        compute_per_user=not args.no_per_user,
        device=args.device,
    )
    print(f"sections: {', '.join(files.sections)}")
    print(f"tables: {files.markdown}" + "".join(f", {p}" for p in files.csvs))
    print(files.html)


def cmd_demo(args: argparse.Namespace) -> None:
    from advrec.experiments.demo import run_demo

    start = time.perf_counter()
    report = run_demo(Path(args.out), epochs=args.epochs)
    print(f"done in {time.perf_counter() - start:.1f} s; report:")
    print(report)
