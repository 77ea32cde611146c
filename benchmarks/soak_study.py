"""Soak: kill -9 one ``advrec study`` (training, a poison step and a probe in its cells, then the report)
at random points, rerun the same command after each kill, and compare the final report's numbers with
an uninterrupted study's, to the last digit.

    python benchmarks/soak_study.py --data ../shared/data/ml-100k/u.data --rows 3000 --kills 20 \\
        --out runs/soak

Each attempt is killed at a random point: one in five during the process start-up (imports, the
lock, the split), the others a random fraction of a second after one of the attempt's first progress
lines (an epoch, a cell, a probe or poison step, the report), so the kills fall across the study's
work and most attempts save some progress before they die. The stderr line last written before each
kill says where it fell. Compared: the report's CSV tables byte for byte, and every number of every
results.json under the study folder (timings and the environment left out), exactly.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ADVREC = [sys.executable, "-m", "advrec"]
VOLATILE = {"timing", "environment"}  # wall-clock seconds and the machine: not results
RESTART_LINES = 3  # lines every rerun writes again before new work: its cell, 'resuming', the lock


@dataclass(frozen=True)
class KillPoint:
    """When to kill an attempt: ``seconds`` after its start, or, with ``lines``, ``seconds`` after it
    has written that many stderr lines (its progress lines: a kill inside the work, not the start-up)."""

    seconds: float
    lines: int = 0


@dataclass
class Attempt:
    point: KillPoint | None  # None: ran to its end
    outcome: str  # "killed", "exit N", or "hung" (ran past the timeout)
    last_line: str  # the last stderr line written before the kill or exit
    n_lines: int = 0  # stderr lines it wrote


def run_with_kills(
    argv: list[str], points: list[KillPoint], cwd: Path, timeout: float = 600.0, next_argv=None
) -> list[Attempt]:
    """Run ``advrec argv``; SIGKILL it at each kill point in turn, rerunning it after each kill (with
    ``next_argv(attempt_index)`` if given, e.g. adding --resume); finally let it finish. Returns the
    attempts; the last one is the run that ended by itself (its outcome says with which code)."""
    attempts: list[Attempt] = []
    for index, point in enumerate([*points, None]):
        command = next_argv(index) if next_argv is not None and index else argv
        log = cwd / f".attempt{index}.err"
        with open(log, "w") as err:
            proc = subprocess.Popen([*ADVREC, *command], cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
            outcome = _wait(proc, point, log, timeout)
        lines = [line for line in log.read_text().splitlines() if line.strip()]
        log.unlink()
        attempts.append(Attempt(point, outcome, lines[-1] if lines else "", len(lines)))
        if outcome != "killed":
            break
    return attempts


def _wait(proc: subprocess.Popen, point: KillPoint | None, log: Path, timeout: float) -> str:
    start = time.perf_counter()
    if point is not None and point.lines:
        while proc.poll() is None and _count_lines(log) < point.lines:
            if time.perf_counter() - start > timeout:
                break
            time.sleep(0.01)
    try:
        proc.wait(timeout if point is None else point.seconds)
        return f"exit {proc.returncode}"
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return "killed" if point is not None else "hung"


def _count_lines(log: Path) -> int:
    return log.read_bytes().count(b"\n")


def result_numbers(folder: Path) -> dict[str, Any]:
    """Every results.json under ``folder`` (relative path -> its content without timings)."""
    out = {}
    for path in sorted(folder.rglob("results.json")):
        data = json.loads(path.read_text())
        out[str(path.relative_to(folder))] = {k: v for k, v in data.items() if k not in VOLATILE}
    return out


def report_tables(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.glob("report*.csv"))}


def differences(reference: Path, other: Path) -> list[str]:
    """What differs between two finished studies: report tables, then results.json numbers."""
    diffs = []
    ref_tables, tables = report_tables(reference), report_tables(other)
    for name in sorted(set(ref_tables) | set(tables)):
        if ref_tables.get(name) != tables.get(name):
            diffs.append(f"{name} differs")
    ref_numbers, numbers = result_numbers(reference), result_numbers(other)
    for name in sorted(set(ref_numbers) | set(numbers)):
        if ref_numbers.get(name) != numbers.get(name):
            diffs.append(f"{name} differs")
    return diffs


def kill_points(rng: random.Random, kills: int, startup: float, max_lines: int) -> list[KillPoint]:
    """One kill in five during the start-up (imports, lock, split, a random share of its seconds), the
    others a random 0-0.3 s after a random one of an attempt's first ``max_lines`` progress lines."""
    return [
        KillPoint(rng.uniform(0.3, 1.0) * startup)
        if rng.random() < 0.2
        else KillPoint(rng.uniform(0.0, 0.3), lines=rng.randint(1, max_lines))
        for _ in range(kills)
    ]


def write_study(path: Path, data: Path, epochs: int) -> Path:
    """Two seeds of MF-BPR, APR-MF and MF-BPR under a bandwagon attack, each probed by FGSM."""
    import yaml

    study = {
        "name": "soak",
        "base": {
            "seed": 1,
            "threads": 1,
            "data": {"format": "movielens-100k", "path": str(data)},
            "model": {"name": "mf", "dim": 8},
            "train": {"epochs": epochs, "batch_size": 256, "patience": 100},
            "eval": {"ks": [10]},
        },
        "axes": {
            "method": {
                "bpr": {},
                "apr": {"adversary.name": "apr", "adversary.eps": 0.5},
                "bpr_poisoned": {
                    "steps": {"poison": {"attack": "bandwagon", "targets": "random:3", "size": 0.05}}
                },
            }
        },
        "seeds": [1, 2],
        "probe": {"attack": "fgsm", "eps": [0.25, 0.5]},
    }
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def startup_seconds(cwd: Path) -> float:
    """Wall seconds of a command that imports everything and does nothing (the floor of every attempt)."""
    start = time.perf_counter()
    subprocess.run([*ADVREC, "report", str(cwd / "no-such-folder")], cwd=cwd, capture_output=True)
    return time.perf_counter() - start


def _shown_point(point: KillPoint) -> str:
    if point.lines:
        return f"{point.seconds:.2f} s after line {point.lines}"
    return f"{point.seconds:.2f} s after start"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True, type=Path, help="MovieLens-100K u.data")
    parser.add_argument("--rows", type=int, default=3000, help="first rows of --data used (default 3000)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill points")
    parser.add_argument(
        "--max-lines",
        type=int,
        help="a kill falls after one of an attempt's first N progress lines (default: twice the "
        "uninterrupted study's lines per kill, plus the few every restart repeats)",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/soak"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    data = args.out / "u.data"
    data.write_text("".join(args.data.read_text().splitlines(keepends=True)[: args.rows]))
    study = write_study(args.out / "soak.yaml", data.resolve(), args.epochs)
    for name in ("reference", "soaked"):
        if (args.out / name).exists():
            raise SystemExit(f"{args.out / name} exists; choose a fresh --out")

    startup = startup_seconds(args.out)
    start = time.perf_counter()
    reference = run_with_kills(["study", str(study), "--out", "reference"], [], args.out)
    total = time.perf_counter() - start
    if reference[-1].outcome != "exit 0":
        raise SystemExit(f"the uninterrupted study failed: {reference[-1]}")
    # twice the work per kill on average, plus what a restart repeats (its cell, resuming, the lock)
    max_lines = args.max_lines or max(4, round(2 * reference[-1].n_lines / args.kills) + RESTART_LINES)
    points = kill_points(random.Random(args.seed), args.kills, startup, max_lines)
    start = time.perf_counter()
    attempts = run_with_kills(["study", str(study), "--out", "soaked"], points, args.out)
    soaked = time.perf_counter() - start
    kills = [a for a in attempts if a.outcome == "killed"]
    print(f"kill points: one in five in the start-up, the others after an attempt's line 1 to {max_lines}")
    print(f"start-up {startup:.1f} s; uninterrupted study {total:.1f} s; soaked study {soaked:.1f} s in "
          f"{len(attempts)} attempts, {len(kills)} killed")  # fmt: skip
    print(f"{'#':>3}  {'kill point':>22}  last line before the kill")
    for i, attempt in enumerate(attempts, start=1):
        when = "-" if attempt.point is None else _shown_point(attempt.point)
        shown = attempt.last_line[:90] if attempt.outcome == "killed" else attempt.outcome
        print(f"{i:>3}  {when:>8}  {shown}")
    diffs = differences(args.out / "reference", args.out / "soaked")
    n_results = len(result_numbers(args.out / "reference"))
    n_tables = len(report_tables(args.out / "reference"))
    final = attempts[-1].outcome
    if final == "exit 0" and not diffs:
        print(f"equal: {n_tables} report tables byte for byte, {n_results} results.json files exactly")
        return 0
    print(f"NOT EQUAL (final attempt: {final}): " + "; ".join(diffs))
    return 1


if __name__ == "__main__":
    sys.exit(main())
