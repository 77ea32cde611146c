"""Soak: kill -9 one ``advrec study`` (training, a poison step and a probe in its cells, then the report)
at random points, rerun the same command after each kill, and compare the final report's numbers with
an uninterrupted study's, to the last digit.

    python benchmarks/soak_study.py --data ../shared/data/ml-100k/u.data --rows 3000 --kills 20 \\
        --out runs/soak

Kill points are drawn at random: one in five during a process's start-up (imports, the lock, the
split), the others a random fraction of a second after a progress line drawn from the whole
uninterrupted study (a cell's epoch, its probe or poison step; after the last, the report), in study
order, so the kills fall across all of the study's work. The stderr line last written before each
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


@dataclass(frozen=True)
class KillPoint:
    """When to kill an attempt: ``seconds`` after its start; with ``lines``, ``seconds`` after it has
    written that many stderr lines; with ``marker``, ``seconds`` after it has written that progress
    line of a study (see :func:`progress_key`) or one that comes later in the study."""

    seconds: float
    lines: int = 0
    marker: str | None = None


@dataclass
class Attempt:
    point: KillPoint | None  # None: ran to its end
    outcome: str  # "killed", "exit N", or "hung" (ran past the timeout)
    last_line: str  # the last stderr line written before the kill or exit
    n_lines: int = 0  # stderr lines it wrote
    lines: list[str] | None = None


def progress_key(line: str) -> str | None:
    """A study's progress line without what varies between runs: ``[cell 3/6 apr seed 1] epoch 4/8``
    from ``[cell 3/6 apr seed 1] epoch 4/8 valid ndcg@10 0.0044 · ETA 0m14s``; None for other lines."""
    if not line.startswith("[cell "):
        return None
    return line.split(" · ETA")[0].split(" valid ")[0]


def progress_markers(lines: list[str]) -> list[str]:
    """The progress keys of an uninterrupted study's stderr, in order, each once."""
    return list(dict.fromkeys(k for k in map(progress_key, lines) if k is not None))


def run_with_kills(
    argv: list[str],
    points: list[KillPoint],
    cwd: Path,
    timeout: float = 600.0,
    next_argv=None,
    markers: list[str] | None = None,
) -> list[Attempt]:
    """Run ``advrec argv``; SIGKILL it at each kill point in turn, rerunning it after each kill (with
    ``next_argv(attempt_index)`` if given, e.g. adding --resume); finally let it finish. Returns the
    attempts; the last one is the run that ended by itself (its outcome says with which code)."""
    attempts: list[Attempt] = []
    order = {key: i for i, key in enumerate(markers or [])}
    reached = -1  # the furthest progress line any attempt wrote: a marker kill waits for a newer one
    for index, point in enumerate([*points, None]):
        command = next_argv(index) if next_argv is not None and index else argv
        log = cwd / f".attempt{index}.err"
        with open(log, "w") as err:
            proc = subprocess.Popen([*ADVREC, *command], cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
            outcome = _wait(proc, point, log, timeout, order, reached)
        lines = [line for line in log.read_text().splitlines() if line.strip()]
        reached = max([reached, *(order[k] for k in map(progress_key, lines) if k in order)])
        log.unlink()
        attempts.append(Attempt(point, outcome, lines[-1] if lines else "", len(lines), lines))
        if outcome != "killed":
            break
    return attempts


def _wait(
    proc: subprocess.Popen, point: KillPoint | None, log: Path, timeout: float, order: dict, reached: int
) -> str:
    start = time.perf_counter()
    if point is not None and (point.lines or point.marker):
        while proc.poll() is None and not _reached(point, log, order, reached):
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


def _reached(point: KillPoint, log: Path, order: dict[str, int], reached: int) -> bool:
    """Whether the attempt got to its kill point: its line count, or its progress line (or a later one)
    and in any case one no earlier attempt reached, so that every kill falls in new work."""
    text = log.read_text(errors="replace")
    if point.marker is None:
        return text.count("\n") >= point.lines
    seen = [order[k] for k in map(progress_key, text.splitlines()) if k in order]
    newer = min(reached + 1, len(order) - 1)  # past the last line: the last again (its step redone)
    return bool(seen) and max(seen) >= max(order[point.marker], newer)


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


def study_kill_points(rng: random.Random, kills: int, startup: float, markers: list[str]) -> list[KillPoint]:
    """One kill in five (at random places in the sequence) during the start-up, a random share of its
    seconds; the others a random 0-0.3 s after progress lines drawn at random from the whole study, in
    study order: every kill falls in work not done yet, and together they cover the study from its
    first epoch to its report."""
    early_ones = set(rng.sample(range(kills), k=kills // 5))
    in_startup = [i in early_ones for i in range(kills)]
    work = iter(sorted(rng.sample(range(len(markers)), k=min(in_startup.count(False), len(markers)))))
    points = []
    for early in in_startup:
        if early:
            points.append(KillPoint(rng.uniform(0.3, 1.0) * startup))
        elif (index := next(work, None)) is not None:
            points.append(KillPoint(rng.uniform(0.0, 0.3), marker=markers[index]))
    return points


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
    if point.marker:
        return f"{point.seconds:.2f} s after {point.marker}"
    if point.lines:
        return f"{point.seconds:.2f} s after line {point.lines}"
    return f"{point.seconds:.2f} s after the start"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True, type=Path, help="MovieLens-100K u.data")
    parser.add_argument("--rows", type=int, default=3000, help="first rows of --data used (default 3000)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill points")
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
    markers = progress_markers(reference[-1].lines or [])
    points = study_kill_points(random.Random(args.seed), args.kills, startup, markers)
    start = time.perf_counter()
    attempts = run_with_kills(["study", str(study), "--out", "soaked"], points, args.out, markers=markers)
    soaked = time.perf_counter() - start
    kills = [a for a in attempts if a.outcome == "killed"]
    print(f"{len(markers)} progress lines in the study; kill points: one in five in the start-up, the others "
          "after a progress line drawn from the whole study")  # fmt: skip
    print(f"start-up {startup:.1f} s; uninterrupted study {total:.1f} s; soaked study {soaked:.1f} s in "
          f"{len(attempts)} attempts, {len(kills)} killed")  # fmt: skip
    print(f"{'#':>3}  {'kill point':<48}  last line before the kill")
    for i, attempt in enumerate(attempts, start=1):
        when = "-" if attempt.point is None else _shown_point(attempt.point)
        shown = attempt.last_line[:70] if attempt.outcome == "killed" else attempt.outcome
        print(f"{i:>3}  {when:<48}  {shown}")
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
