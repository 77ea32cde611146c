"""Fault drill: hundreds of hostile inputs, tried as a new user and an attacker would, each through the
real command line, each classified; prints one table and every case that was not clean.

    python benchmarks/fault_drill.py --data ../shared/data/ml-100k/u.data --out runs/drill

Categories: data files, configs, CLI arguments, checkpoints, logs and run-folder files, concurrency,
a full disk, divergence. Each case runs ``advrec`` in its own process (forked from this one after the
imports, so a case costs its work, not four seconds of start-up; the concurrency and kill cases start
real processes), in a fresh folder, under a wall-clock limit (a hang) and an address-space limit (so a
hostile size fails as it would on a small machine instead of swapping this one).

Outcomes:

- ``ok``: exit 0 where success was expected, with finite numbers (and, where a reference exists, the
  reference's numbers);
- ``clean``: exit 2 with exactly one error line (``advrec: error: ...``, or argparse's usage error) and
  no traceback, where an error was expected (or allowed);
- ``traceback``: an exception escaped, or a traceback was printed, or an exit code other than 0/2;
- ``hang``: the case ran past its limit and was killed;
- ``silent``: a silent wrong result: exit 0 on input that must be refused, a number that is NaN or not
  the reference's, or a result written from a damaged file;
- ``refused``: exit 2 on input that should have worked (a false alarm).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

OK, CLEAN, TRACEBACK, HANG, SILENT, REFUSED = "ok", "clean", "traceback", "hang", "silent", "refused"
COLUMNS = [OK, CLEAN, TRACEBACK, HANG, SILENT, REFUSED]
MEMORY_LIMIT = 6 << 30  # address space of a case: a hostile size fails like on a small machine


@dataclass
class Result:
    code: int | None  # None: killed (hang)
    out: str
    err: str
    seconds: float


@dataclass
class Case:
    category: str
    name: str
    argv: list[str]  # 'advrec' arguments; {w} is replaced by the case's folder
    expect: str = "error"  # "error", "ok" or "either"
    setup: Callable[[Path], None] | None = None
    check: Callable[[Path, Result], str | None] | None = None  # a reason when a result is wrong
    timeout: float = 60.0
    file_limit: int | None = None  # RLIMIT_FSIZE: writes past this many bytes fail (a full disk)
    runner: Callable[[Case, Path], Result] | None = None  # instead of one forked advrec run


@dataclass
class World:
    """What the cases are made of: small data, configs and finished runs, made once."""

    root: Path
    data: Path
    lines: list[str]
    config: dict[str, Any]
    run: Path  # a finished run of ``config``
    reference: dict[str, float]  # its test metrics
    killed: Path  # a run of ``config`` with 4 epochs killed before epoch 2
    study: Path
    profiles: Path
    labels: Path
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------
# running one case
# --------------------------------------------------------------------------------------------------


def run_forked(argv: list[str], cwd: Path, timeout: float, file_limit: int | None = None) -> Result:
    """``advrec argv`` in a forked child (this process imported advrec already), its output captured."""
    out_path, err_path = cwd / ".drill.out", cwd / ".drill.err"
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 99
        try:
            os.chdir(cwd)
            fd_out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            fd_err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd_out, 1)
            os.dup2(fd_err, 2)
            resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
            if file_limit is not None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))
            from advrec.cli.main import main

            try:
                code = main(argv)
            except SystemExit as exc:  # argparse
                code = exc.code if isinstance(exc.code, int) else 2
        except BaseException:
            traceback.print_exc()
            code = 99
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code if isinstance(code, int) else 99)
    code = _wait(pid, timeout)
    seconds = time.perf_counter() - start
    out = out_path.read_text(errors="replace") if out_path.exists() else ""
    err = err_path.read_text(errors="replace") if err_path.exists() else ""
    out_path.unlink(missing_ok=True)
    err_path.unlink(missing_ok=True)
    return Result(code, out, err, seconds)


def _wait(pid: int, timeout: float) -> int | None:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(0.005)


def classify(case: Case, folder: Path, result: Result) -> tuple[str, str]:
    """(outcome, detail) of one case."""
    if result.code is None:
        return HANG, f"killed after {result.seconds:.0f} s"
    text = result.err
    if "Traceback (most recent call last)" in text or result.code not in (0, 2):
        last = [line for line in text.splitlines() if line.strip()]
        return TRACEBACK, (last[-1] if last else f"exit {result.code}")[:160]
    if result.code == 2:
        errors = [line for line in text.splitlines() if line.startswith("advrec") and ": error: " in line]
        if len(errors) != 1:
            return TRACEBACK, f"exit 2 with {len(errors)} error lines"
        if "np.int64(" in text or "np.float64(" in text:
            return SILENT, "a numpy repr in the message: " + errors[0][:120]
        if case.expect == "ok":
            return REFUSED, errors[0][:160]
        return CLEAN, errors[0][:160]
    if case.expect == "error":
        return SILENT, "exit 0 on input that must be refused"
    reason = case.check(folder, result) if case.check is not None else None
    return (SILENT, reason) if reason else (OK, "")


def run_case(case: Case, scratch: Path) -> tuple[str, str, float]:
    folder = Path(tempfile.mkdtemp(dir=scratch, prefix="case."))
    try:
        if case.setup is not None:
            case.setup(folder)
        argv = [a.replace("{w}", str(folder)) for a in case.argv]
        if case.runner is not None:
            result = case.runner(case, folder)
        else:
            result = run_forked(argv, folder, case.timeout, case.file_limit)
        outcome, detail = classify(case, folder, result)
        return outcome, detail, result.seconds
    except Exception as exc:  # the drill's own setup failed: say so, never count it as clean
        return TRACEBACK, f"drill setup: {type(exc).__name__}: {exc}"[:160], 0.0
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# checks of successful results
# --------------------------------------------------------------------------------------------------


def finite_results(run: str = "run") -> Callable[[Path, Result], str | None]:
    """results.json's test metrics exist, are finite, and lie in [0, 1]."""

    def check(folder: Path, result: Result) -> str | None:
        path = folder / run / "results.json"
        if not path.exists():
            return f"exit 0 but no {run}/results.json"
        test = json.loads(path.read_text()).get("test") or {}
        bad = {
            k: v for k, v in test.items() if not (isinstance(v, float) and math.isfinite(v) and 0 <= v <= 1)
        }
        return f"test metrics out of range: {bad}" if bad else None

    return check


def equals_reference(world: World, run: str = "run") -> Callable[[Path, Result], str | None]:
    def check(folder: Path, result: Result) -> str | None:
        reason = finite_results(run)(folder, result)
        if reason:
            return reason
        test = json.loads((folder / run / "results.json").read_text())["test"]
        return None if test == world.reference else "test metrics differ from the uninterrupted run's"

    return check


def printed_reference(world: World) -> Callable[[Path, Result], str | None]:
    """``advrec evaluate`` printed the reference's NDCG@10 (a damaged file must not give another)."""
    expected = f"{world.reference['ndcg@10']:10.4f}"

    def check(folder: Path, result: Result) -> str | None:
        row = [line for line in result.out.splitlines() if line.strip().startswith("ndcg")]
        return None if row and expected in row[0] else f"evaluate printed {row[:1]}, not the reference"

    return check


# --------------------------------------------------------------------------------------------------
# the world
# --------------------------------------------------------------------------------------------------


def make_world(root: Path, source: Path | None, rows: int) -> World:
    root.mkdir(parents=True, exist_ok=True)
    data = root / "u.data"
    if source is not None:
        with open(source, encoding="utf-8") as fh:
            lines = [next(fh) for _ in range(rows)]
    else:  # no MovieLens at hand: the same layout, made here
        rng = random.Random(0)
        lines = [
            f"{u}\t{rng.randint(1, 300)}\t{rng.randint(1, 5)}\t{880000000 + i}\n"
            for i, u in enumerate(rng.randint(1, 150) for _ in range(rows))
        ]
    data.write_text("".join(lines))
    config = {
        "seed": 1,
        "threads": 1,
        "data": {"format": "movielens-100k", "path": str(data)},
        "split": {"method": "ratio", "ratios": [0.8, 0.1, 0.1]},
        "model": {"name": "mf", "dim": 8},
        "train": {"epochs": 3, "batch_size": 256, "patience": 10},
        "eval": {"ks": [10]},
    }
    write_yaml(root / "base.yaml", config)
    made = run_forked(["train", str(root / "base.yaml"), "--out", "run", "--quiet"], root, 300)
    if made.code != 0:
        raise SystemExit(f"the drill's reference run failed: {made.err}")
    reference = json.loads((root / "run" / "results.json").read_text())["test"]
    killed = root / "killed"
    write_yaml(root / "four.yaml", {**config, "train": {**config["train"], "epochs": 4}})
    _make_killed(root / "four.yaml", killed, at_epoch=2)
    study = root / "study.yaml"
    write_yaml(study, {"name": "drill", "base": config, "axes": {"m": {"bpr": {}}}, "per_user": False})
    profiles = root / "profiles.txt"
    profiles.write_text("".join(" ".join(line.split("\t")[:3]) + "\n" for line in lines[:600]))
    users = sorted({line.split("\t")[0] for line in lines[:600]})
    labels = root / "labels.txt"
    labels.write_text("".join(f"{u} {int(i % 7 == 0)}\n" for i, u in enumerate(users)))
    return World(root, data, lines, config, root / "run", reference, killed, study, profiles, labels)


def _make_killed(config: Path, run: Path, at_epoch: int) -> None:
    """A run of ``config`` interrupted when epoch ``at_epoch`` starts (after the previous checkpoint), in a
    forked child, as a kill there would leave it."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            from advrec.runs.config import load_config
            from advrec.runs.train import train_run
            from advrec.train.hooks import TrainHook

            class Crash(TrainHook):
                def on_epoch_start(self, epoch: int) -> None:
                    if epoch == at_epoch:
                        os._exit(0)

            train_run(load_config(config), run, hooks=[Crash()], show_progress=False)
            code = 1  # the crash never came
        except BaseException:
            traceback.print_exc()
            code = 1
        os._exit(code)
    if _wait(pid, 300) != 0 or not (run / "checkpoints" / "last.pt").exists():
        raise SystemExit("the drill could not make its interrupted run")


def write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def merged(base: dict, changes: dict) -> dict:
    out = json.loads(json.dumps(base))
    for dotted, value in changes.items():
        node = out
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def with_config(world: World, changes: dict | None = None, text: str | None = None) -> Callable[[Path], None]:
    """Setup: the case's config.yaml (the base config changed, or a text as given)."""

    def setup(folder: Path) -> None:
        if text is not None:
            (folder / "config.yaml").write_text(text)
        else:
            write_yaml(folder / "config.yaml", merged(world.config, changes or {}))

    return setup


def with_data(
    world: World, content: bytes | str, name: str = "u.data", **changes: Any
) -> Callable[[Path], None]:
    """Setup: a data file with this content, and a config reading it."""

    def setup(folder: Path) -> None:
        path = folder / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        write_yaml(folder / "config.yaml", merged(world.config, {"data.path": str(path), **changes}))

    return setup


def with_run(world: World, damage: Callable[[Path], None] | None = None, source: str = "run") -> Callable:
    """Setup: a copy of a finished (or killed) run in ``run/``, then ``damage(run)``."""

    def setup(folder: Path) -> None:
        shutil.copytree(world.root / source, folder / "run", ignore=shutil.ignore_patterns(".advrec.lock"))
        write_yaml(folder / "config.yaml", world.config)
        write_yaml(folder / "four.yaml", merged(world.config, {"train.epochs": 4}))
        if damage is not None:
            damage(folder / "run")

    return setup


TRAIN = ["train", "{w}/config.yaml", "--out", "{w}/run", "--quiet"]
NEW = ["train", "{w}/config.yaml", "--out", "{w}/new", "--quiet"]  # beside a finished run/
EVALUATE = ["evaluate", "{w}/run"]


# --------------------------------------------------------------------------------------------------
# the cases
# --------------------------------------------------------------------------------------------------

Check = Callable[[Path, Result], "str | None"]


def warned(text: str, run: str = "run") -> Check:
    """Success with finite numbers, and a warning saying ``text``."""

    def check(folder: Path, result: Result) -> str | None:
        reason = finite_results(run)(folder, result)
        return reason or (None if text in result.err else f"no warning saying '{text}'")

    return check


def table(category: str, argv: list[str], rows: list[tuple]) -> list[Case]:
    """Cases from rows ``(name, expect, setup[, check])`` sharing one category and argument list."""
    return [Case(category, row[0], argv, row[1], row[2], row[3] if len(row) > 3 else None) for row in rows]


def data_cases(w: World) -> list[Case]:
    good = "".join(w.lines)
    refused: dict[str, bytes | str] = {
        "empty file": "",
        "only blank lines": "\n\n   \n",
        "binary garbage": bytes(range(256)) * 40,
        "NUL bytes inside": good[:2000] + "\0\0\0" + good[2000:],
        "UTF-16 text": good.encode("utf-16"),
        "Latin-1 byte": good[:500] + "caf\xe9\n",
        "a header line": "user\titem\trating\ttime\n" + good,
        "three columns": "".join("\t".join(line.split("\t")[:3]) + "\n" for line in w.lines),
        "five columns": "".join(line.rstrip("\n") + "\t9\n" for line in w.lines),
        "space separated": good.replace("\t", " "),
        "comma separated": good.replace("\t", ","),
        "letters as a user id": good + "abc\t1\t3\t881250949\n",
        "float user id": good + "1.5\t1\t3\t881250949\n",
        "20-digit id": good + "1\t12345678901234567890\t3\t881250949\n",
        "100000-digit id": good + "1\t" + "9" * 100000 + "\t3\t4\n",
        "rating nan": good + "1\t2\tnan\t881250949\n",
        "rating inf": good + "1\t2\tinf\t881250949\n",
        "rating of 400 digits": good + "1\t2\t" + "9" * 400 + "\t881250949\n",
        "rating text": good + "1\t2\tgood\t881250949\n",
        "timestamp text": good + "1\t2\t3\tyesterday\n",
        "timestamp float": good + "1\t2\t3\t8812.5\n",
        "a line with one field": good + "42\n",
        "a line with a trailing tab": good + "1\t2\t3\t4\t\n",
        "one item only": "".join(f"{u}\t1\t3\t{880000000 + u}\n" for u in range(1, 60)),
        "one interaction": "1\t1\t3\t880000000\n",
        "quoted fields": good + '"1"\t"2"\t"3"\t"4"\n',
        "CR-only line ends": good.replace("\n", "\r"),
    }
    accepted: dict[str, bytes | str] = {
        "CRLF line ends": good.replace("\n", "\r\n"),
        "blank lines between": good.replace("\n", "\n\n", 50),
        "no final newline": good.rstrip("\n"),
        "a UTF-8 BOM": "\ufeff" + good,
        "repeated rows": good + "".join(w.lines[:200]),
        "a negative item id (ids are labels)": good + "1\t-5\t3\t881250949\n",
    }
    one_user = "".join(f"1\t{i}\t3\t{880000000 + i}\n" for i in range(1, 60))
    two_columns = "".join("\t".join(line.split("\t")[:2]) + "\n" for line in w.lines)
    tsv = {"data.format": "table", "data.header": False, "data.columns": {"user": 0, "item": 1, "rating": 2}}
    lightgcn = "".join(f"{u} " + " ".join(str((u * 7 + k) % 90) for k in range(12)) + "\n" for u in range(60))
    lg = {"data.format": "lightgcn"}
    cases = [Case("data", f"u.data: {n}", TRAIN, "error", with_data(w, c)) for n, c in refused.items()]
    cases += [
        Case("data", f"u.data: {n}", TRAIN, "ok", with_data(w, c), finite_results())
        for n, c in accepted.items()
    ]
    cases += table(
        "data",
        TRAIN,
        [
            (
                "u.data: one user who rated everything (AUC undefined, said)",
                "ok",
                with_data(w, one_user),
                warned_nan("auc undefined"),
            ),
            (
                "u.data: duplicates policy error",
                "error",
                with_data(w, good + w.lines[5], **{"data.duplicates": "error"}),
            ),
            (
                "u.data: rating threshold above every rating",
                "error",
                with_data(w, good, **{"data.rating_threshold": 6}),
            ),
            ("u.data: k-core that removes everyone", "error", with_data(w, good, **{"data.k_core": 500})),
            (
                "u.data: a folder instead of a file",
                "error",
                _path_setup(w, lambda f: (f / "d").mkdir() or f / "d"),
            ),
            (
                "u.data: a dangling symlink",
                "error",
                _path_setup(w, lambda f: os.symlink(f / "no", f / "u") or f / "u"),
            ),
            ("u.data: missing file", "error", with_config(w, {"data.path": "/nonexistent/u.data"})),
            ("u.data: relative path without --data-root", "error", with_config(w, {"data.path": "u.data"})),
            (
                "loo split of data without timestamps",
                "error",
                with_data(
                    w,
                    two_columns,
                    "u.tsv",
                    **{**tsv, "data.columns": {"user": 0, "item": 1}, "split.method": "loo"},
                ),
            ),
            (
                "table: column name on a headerless file",
                "error",
                with_data(w, good, "u.tsv", **{**tsv, "data.columns": {"user": "uid", "item": 1}}),
            ),
            (
                "table: column position past the last",
                "error",
                with_data(w, good, "u.tsv", **{**tsv, "data.columns": {"user": 0, "item": 9}}),
            ),
            (
                "table: unknown column key",
                "error",
                with_data(w, good, "u.tsv", **{**tsv, "data.columns": {"user": 0, "item": 1, "colour": 2}}),
            ),
            (
                "table: separator of two characters",
                "error",
                with_data(w, good, "u.tsv", **{**tsv, "data.sep": "::"}),
            ),
            ("table: unknown suffix without sep", "error", with_data(w, good, "u.xyz", **tsv)),
            ("table: a valid tab file", "ok", with_data(w, good, "u.tsv", **tsv), finite_results()),
            ("parquet: not a parquet file", "error", with_data(w, good, "u.parquet", **tsv)),
            ("lightgcn: valid", "ok", with_data(w, lightgcn, "train.txt", **lg), finite_results()),
            (
                "lightgcn: a user without items (said)",
                "ok",
                with_data(w, lightgcn + "61\n", "train.txt", **lg),
                warned("list a user and no item"),
            ),
            ("lightgcn: letters", "error", with_data(w, lightgcn + "61 a b\n", "train.txt", **lg)),
            ("lightgcn: negative id", "error", with_data(w, lightgcn + "61 -3\n", "train.txt", **lg)),
            ("lightgcn: only user lines", "error", with_data(w, "1\n2\n3\n", "train.txt", **lg)),
        ],
    )
    return cases + given_split_cases(w)


def warned_nan(text: str) -> Check:
    """Success whose NaN metrics were said to be undefined (the other metrics finite)."""

    def check(folder: Path, result: Result) -> str | None:
        test = json.loads((folder / "run" / "results.json").read_text())["test"]
        bad = [k for k, v in test.items() if not (math.isfinite(v) or (math.isnan(v) and k in result.err))]
        return f"not finite and not said: {bad}" if bad or text not in result.err else None

    return check


def _path_setup(w: World, make: Callable[[Path], Path]) -> Callable[[Path], None]:
    return lambda f: write_yaml(f / "config.yaml", merged(w.config, {"data.path": str(make(f))}))


def given_split_cases(w: World) -> list[Case]:
    pairs = [(u, (u * 7 + k * 3) % 40) for u in range(30) for k in range(8)]
    held = [(u, (u * 7 + 1) % 40) for u in range(30)]

    def given(train, test, valid=None, **changes) -> Callable[[Path], None]:
        def setup(folder: Path) -> None:
            for name, rows in (("train", train), ("test", test), ("valid", valid)):
                if rows is not None:
                    (folder / f"{name}.tsv").write_text("".join(f"{u}\t{i}\n" for u, i in rows))
            keys = {
                "data.format": "table",
                "data.path": str(folder / "train.tsv"),
                "split.method": "given",
                "data.test_path": str(folder / "test.tsv"),
                "data.header": False,
                "data.columns": {"user": 0, "item": 1},
            }
            if valid is not None:
                keys["data.valid_path"] = str(folder / "valid.tsv")
            write_yaml(folder / "config.yaml", merged(w.config, {**keys, **changes}))

        return setup

    return table(
        "data",
        TRAIN,
        [
            ("given: valid pair", "ok", given(pairs, held), finite_results()),
            ("given: test overlaps train", "error", given(pairs, pairs[::8])),
            ("given: valid overlaps train", "error", given(pairs, held, pairs[::8])),
            (
                "given: test users absent from train (said)",
                "ok",
                given(pairs, held + [(99, 1)]),
                warned("have no training interactions"),
            ),
            ("given: empty test file", "error", given(pairs, [])),
            ("given: test path missing", "error", given(pairs, held, **{"data.test_path": "/none.tsv"})),
            ("given: k_core with a given split", "error", given(pairs, held, **{"data.k_core": 2})),
        ],
    )


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["l0: &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


HOSTILE_VALUES = {
    "train.epochs": [0, -1, 1.5, "ten", None, [3], math.nan, True],
    "train.batch_size": [0, -64, 2.5, "x"],
    "train.optimizer.lr": [0, -0.1, "fast", math.nan, math.inf],
    "train.optimizer.name": ["adamm", 3],
    "train.objective": ["hinge"],
    "train.kernel": ["gpu"],
    "train.patience": [0],
    "train.n_negatives": [0],
    "train.grad_clip": [0, -1],
    "train.max_loss_growth": [1, 0.5],
    "model.name": ["svd", "", [], {}],
    "model.dim": [0, -8, 2.5],
    "model.dropout": [1, -0.1, 1.5],
    "model.init_std": [0, -1],
    "split.method": ["random"],
    "split.ratios": [[0.5, 0.5], [0.9, 0.2, 0.1], [-0.1, 0.6, 0.5], [0, 0.5, 0.5], [1, 0, 0], "0.8,0.1,0.1"],
    "split.valid_ratio_of_train": [0, 1, 2],
    "data.format": ["csv"],
    "data.duplicates": ["merge"],
    "data.k_core": [-1, 1.5],
    "eval.ks": [[0], [-5], [], "10"],
    "eval.metrics": [["ndcg", "bleu"], []],
    "eval.select_metric": ["ndcg@11", "bleu@10", ""],
    "eval.memory_budget_mb": [0, -1, math.inf],
    "adversary.name": ["fgsm", []],
    "adversary.eps": [-0.5],
    "device": ["cuda", "cuda:9", "tpu", ""],
    "threads": [-1],
    "seed": [-1, 1.5, "one", 2**64],
    "colour": ["red"],
    "train.colour": ["red"],
}
BAD_COMBINATIONS = [
    {"model.name": "mf_features"},
    {"model.name": "sasrec"},
    {"data.item_features": {"path": "/none.npy"}},
    {"model.name": "cfgan", "eval.adversarial_valid": {"eps": 0.5}},
    {"adversary.name": "apr", "adversary.targets": ["nope"]},
    {"augment.feature_noise": {"level": 0.1}},
    {"train.init_from": "/none"},
    {"train.optimizer.name": "sparse_adam", "train.kernel": "autograd"},
    {"train.kernel": "fused", "model.name": "neumf"},
    {"train.average_from": 99},
    {"eval.select_metric": "auc", "eval.metrics": ["ndcg"]},
]
GOOD_COMBINATIONS = [
    {"train.epochs": 1},
    {"model.name": "lightgcn", "model.n_layers": 1},
    {"model.name": "neumf", "model.mlp_layers": [8, 4]},
    {"adversary.name": "apr", "adversary.eps": 0.5},
    {"split.method": "loo"},
    {"split.method": "temporal"},
    {"train.optimizer.name": "sparse_adam", "train.optimizer.lr": 0.01},
    {"train.optimizer.name": "sgd", "train.kernel": "fused_epoch", "train.optimizer.lr": 0.05},
    {"eval.memory_budget_mb": 0.01},
    {"seed": 2**40},
    {"train.optimizer.lr": "1e-3"},
]


def config_cases(w: World) -> list[Case]:
    base = yaml.safe_dump(w.config, sort_keys=False)

    def text(content: str | bytes) -> Callable[[Path], None]:
        if isinstance(content, bytes):
            return lambda f: (f / "config.yaml").write_bytes(content)
        return with_config(w, text=content)

    cases = table(
        "configs",
        TRAIN,
        [
            ("YAML: alias bomb, 9 x 9 levels", "error", text(base + alias_bomb())),
            ("YAML: duplicate key (two train sections)", "error", text(base + "train: {epochs: 1}\n")),
            ("YAML: empty file", "error", text("")),
            ("YAML: unclosed bracket", "error", text(base + "x: [1, 2\n")),
            ("YAML: a tab indent", "error", text(base + "model:\n\tdim: 3\n")),
            (
                "YAML: python object tag",
                "error",
                text(base + "x: !!python/object/apply:os.system [echo pwned]\n"),
            ),
            ("YAML: a list at the top", "error", text("- 1\n- 2\n")),
            ("YAML: a scalar at the top", "error", text("42\n")),
            ("YAML: two documents", "error", text(base + "---\nseed: 2\n")),
            ("YAML: binary file", "error", text(bytes(range(256)) * 10)),
            ("YAML: 1000-deep nesting", "error", text("x: " + "[" * 1000 + "]" * 1000 + "\n")),
            ("YAML: extends a missing file", "error", text(base + "extends: none.yaml\n")),
            ("YAML: extends itself", "error", text(base + "extends: config.yaml\n")),
        ],
    )
    cases += [
        Case("configs", "config file missing", ["train", "{w}/none.yaml", "--out", "{w}/run"], "error"),
        Case("configs", "config is a folder", ["train", "{w}", "--out", "{w}/run"], "error"),
    ]
    cases += [
        Case("configs", f"{key}: {value!r}", TRAIN, "error", with_config(w, {key: value}))
        for key, values in HOSTILE_VALUES.items()
        for value in values
    ]
    cases += [
        Case("configs", f"combination {c}", TRAIN, "error", with_config(w, c)) for c in BAD_COMBINATIONS
    ]
    cases += [
        Case("configs", f"valid {c}", TRAIN, "ok", with_config(w, c), finite_results())
        for c in GOOD_COMBINATIONS
    ]
    return cases


ATTACK = ["attack", "{w}/config.yaml", "--out", "{w}/a"]
DETECT = ["detect", "--out", "{w}/d"]
CLI_ARGUMENTS: dict[str, tuple[list[str], str]] = {
    "evaluate --attack cw": ([*EVALUATE, "--attack", "cw"], "error"),
    "evaluate --attack ','": ([*EVALUATE, "--attack", ","], "error"),
    "evaluate --pgd-steps 0": ([*EVALUATE, "--attack", "pgd", "--pgd-steps", "0"], "error"),
    "evaluate --pgd-steps x": ([*EVALUATE, "--attack", "pgd", "--pgd-steps", "x"], "error"),
    "evaluate --targets nope": ([*EVALUATE, "--attack", "fgsm", "--targets", "nope"], "error"),
    "evaluate --targets ','": ([*EVALUATE, "--attack", "fgsm", "--targets", ","], "error"),
    "evaluate --eps-mode x": ([*EVALUATE, "--attack", "fgsm", "--eps-mode", "x"], "error"),
    "evaluate --split valid alone": ([*EVALUATE, "--split", "valid"], "error"),
    "evaluate --split valid --export-topk": (
        [*EVALUATE, "--split", "valid", "--attack", "fgsm", "--export-topk", "{w}/t.tsv"],
        "error",
    ),
    "evaluate --device cuda": ([*EVALUATE, "--device", "cuda"], "error"),
    "evaluate --device x": ([*EVALUATE, "--device", "x"], "error"),
    "evaluate --text-attack on an id run": ([*EVALUATE, "--text-attack", "promo"], "error"),
    "evaluate --text-attack x": ([*EVALUATE, "--text-attack", "x"], "error"),
    "evaluate --export-topk onto a folder": ([*EVALUATE, "--export-topk", "{w}"], "error"),
    "evaluate --export-topk under a file": ([*EVALUATE, "--export-topk", "{w}/config.yaml/x.tsv"], "error"),
    "evaluate a missing folder": (["evaluate", "{w}/none"], "error"),
    "evaluate a file": (["evaluate", "{w}/config.yaml"], "error"),
    "evaluate an empty folder": (["evaluate", "{w}/empty"], "error"),
    "evaluate (valid)": (EVALUATE, "ok"),
    "evaluate --eps '0.1,,0.2' (empty parts skipped)": (
        [*EVALUATE, "--attack", "fgsm", "--eps=0.1,,0.2"],
        "ok",
    ),
    "evaluate --attack fgsm,pgd (valid)": (
        [*EVALUATE, "--attack", "fgsm,pgd", "--eps", "0.1", "--pgd-steps", "2"],
        "ok",
    ),
    "evaluate --export-topk (valid)": ([*EVALUATE, "--export-topk", "{w}/top.tsv"], "ok"),
    "train --set without =": ([*NEW, "--set", "train.epochs"], "error"),
    "train --set =5": ([*NEW, "--set", "=5"], "error"),
    "train --set into a value": ([*NEW, "--set", "train.epochs.x=1"], "error"),
    "train --set unparsable": ([*NEW, "--set", "train.epochs=[1"], "error"),
    "train --set seed=-1": ([*NEW, "--set", "seed=-1"], "error"),
    "train --set an alias bomb": ([*NEW, "--set", "x=[&a [1,1], *a]"], "error"),
    "train --resume on a fresh folder": ([*NEW, "--resume"], "error"),
    "train --resume with another config": (
        ["train", "{w}/four.yaml", "--out", "{w}/run", "--resume"],
        "error",
    ),
    "train into a finished run": (TRAIN, "error"),
    "train --out onto a file": (["train", "{w}/config.yaml", "--out", "{w}/config.yaml"], "error"),
    "train --data-root missing (absolute data path)": ([*NEW, "--data-root", "{w}/none"], "ok"),
    "no such subcommand": (["trian", "{w}/config.yaml"], "error"),
    "no arguments": ([], "error"),
    "report an empty folder": (["report", "{w}/empty"], "error"),
    "report a missing folder": (["report", "{w}/none"], "error"),
    "report --baseline unknown": (["report", "{w}/run", "--baseline", "nope"], "error"),
    "report --eps x (no probe to pick from)": (
        ["report", "{w}/run", "--eps", "x", "--no-per-user"],
        "either",
    ),
    "report --paired-by x": (["report", "{w}/run", "--paired-by", "x"], "error"),
    "report (valid)": (["report", "{w}/run", "--no-per-user"], "ok"),
    "study a missing file": (["study", "{w}/none.yaml"], "error"),
    "study name with a path": (["study", "{w}/evil.yaml", "--no-report"], "error"),
    "study duplicate key": (["study", "{w}/dup.yaml"], "error"),
    "study alias bomb": (["study", "{w}/bomb.yaml"], "error"),
    "study empty file": (["study", "{w}/empty.yaml"], "error"),
    "study unknown step": (["study", "{w}/step.yaml"], "error"),
    "study probe eps nan": (["study", "{w}/nan.yaml"], "error"),
    "attack unknown attack": ([*ATTACK, "--attack", "x", "--size", "0.1", "--targets", "random:2"], "error"),
    "attack --size 0": ([*ATTACK, "--attack", "random", "--size", "0", "--targets", "random:2"], "error"),
    "attack --size nan": ([*ATTACK, "--attack", "random", "--size", "nan", "--targets", "random:2"], "error"),
    "attack --size 2": ([*ATTACK, "--attack", "random", "--size", "2", "--targets", "random:2"], "error"),
    "attack --filler inf": (
        [*ATTACK, "--attack", "random", "--size", "0.1", "--filler", "inf", "--targets", "random:2"],
        "error",
    ),
    "attack --filler 2.5": (
        [*ATTACK, "--attack", "random", "--size", "0.1", "--filler", "2.5", "--targets", "random:2"],
        "error",
    ),
    "attack --targets x:1": ([*ATTACK, "--attack", "random", "--size", "0.1", "--targets", "x:1"], "error"),
    "attack --targets unknown id": (
        [*ATTACK, "--attack", "random", "--size", "0.1", "--targets", "999999"],
        "error",
    ),
    "attack --targets repeated id": (
        [*ATTACK, "--attack", "random", "--size", "0.1", "--targets", "1,1"],
        "error",
    ),
    "attack --defence x": (
        [*ATTACK, "--attack", "random", "--size", "0.1", "--targets", "random:2", "--defence", "x"],
        "error",
    ),
    "attack --seed -1": (
        [*ATTACK, "--attack", "random", "--size", "0.1", "--targets", "random:2", "--seed", "-1"],
        "error",
    ),
    "attack (valid)": (
        [*ATTACK, "--attack", "bandwagon", "--size", "0.05", "--targets", "random:2", "--quiet"],
        "ok",
    ),
    "detect missing ratings": ([*DETECT, "--ratings", "{w}/none", "--labels", "{w}/labels.txt"], "error"),
    "detect --folds 1": (
        [*DETECT, "--ratings", "{w}/profiles.txt", "--labels", "{w}/labels.txt", "--folds", "1"],
        "error",
    ),
    "detect --seed -1": (
        [*DETECT, "--ratings", "{w}/profiles.txt", "--labels", "{w}/labels.txt", "--seed", "-1"],
        "error",
    ),
    "detect labels file of ratings": (
        [*DETECT, "--ratings", "{w}/profiles.txt", "--labels", "{w}/profiles.txt"],
        "error",
    ),
    "detect --detector x": (
        [*DETECT, "--ratings", "{w}/profiles.txt", "--labels", "{w}/labels.txt", "--detector", "x"],
        "error",
    ),
    "download unknown name": (["download", "nope", "--cache-dir", "{w}/c"], "error"),
    "download a path as name": (["download", "../evil", "--cache-dir", "{w}/c"], "error"),
    "download empty name": (["download", "", "--cache-dir", "{w}/c"], "error"),
}


def cli_cases(w: World) -> list[Case]:
    run = with_run(w)

    def setup(folder: Path) -> None:
        run(folder)
        (folder / "empty").mkdir()
        shutil.copy(w.profiles, folder / "profiles.txt")
        shutil.copy(w.labels, folder / "labels.txt")
        study = yaml.safe_load(w.study.read_text())
        write_yaml(folder / "evil.yaml", {**study, "name": "../../evil"})
        (folder / "dup.yaml").write_text(yaml.safe_dump(study) + "seeds: [1]\nseeds: [2]\n")
        (folder / "bomb.yaml").write_text(yaml.safe_dump(study) + alias_bomb())
        (folder / "empty.yaml").write_text("")
        write_yaml(folder / "step.yaml", {**study, "axes": {"m": {"a": {"steps": {"poisson": {}}}}}})
        write_yaml(folder / "nan.yaml", {**study, "probe": {"eps": [float("nan")]}})

    eps = ["nan", "inf", "-inf", "-0.1", "", "x", "1e400", "0.1;0.2"]
    cases = [
        Case("cli", f"evaluate --eps {e!r}", [*EVALUATE, "--attack", "fgsm", f"--eps={e}"], "error", run)
        for e in eps
    ]
    for name, (argv, expect) in CLI_ARGUMENTS.items():
        check = finite_results("new") if expect == "ok" and argv[:1] == ["train"] else None
        cases.append(Case("cli", name, argv, expect, setup, check))
    return cases


def _flip(offset: float, count: int = 64) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        path = run / "checkpoints" / "best.pt"
        data = bytearray(path.read_bytes())
        start = min(int(len(data) * offset), len(data) - count)
        for i in range(start, start + count):
            data[i] ^= 0xA5
        path.write_bytes(bytes(data))

    return damage


def _truncate(keep: float | int) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        path = run / "checkpoints" / "best.pt"
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep) if isinstance(keep, float) else keep])

    return damage


def _rewrite(name: str, change: Callable[[dict], Any], plain_torch: bool = False) -> Callable[[Path], None]:
    """Load a checkpoint, change it, and save it back: with advrec's checksum, or as plain torch.save."""

    def damage(run: Path) -> None:
        import torch

        from advrec.train.checkpoint import save_checkpoint

        path = run / "checkpoints" / name
        state = torch.load(path, weights_only=True)
        state = change(state) or state
        if plain_torch:
            torch.save(state, path)
        else:
            save_checkpoint(path, state)

    return damage


def _replace(content: Callable[[], Any]) -> Callable[[Path], None]:
    """best.pt replaced by bytes, or by a torch file of some other object."""

    def damage(run: Path) -> None:
        import torch

        path, obj = run / "checkpoints" / "best.pt", content()
        if isinstance(obj, bytes):
            path.write_bytes(obj)
        else:
            torch.save(obj, path)

    return damage


def _models(change: Callable[[Any], Any]) -> Callable[[dict], dict]:
    return lambda state: {"model": {k: change(v) for k, v in state["model"].items()}}


def checkpoint_cases(w: World) -> list[Case]:
    flips = [0.0, 0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.97, 0.999]
    cases = [
        Case("checkpoints", f"best.pt: 64 bytes flipped at {o:.1%}", EVALUATE, "error", with_run(w, _flip(o)))
        for o in flips
    ]
    cases += [
        Case("checkpoints", f"best.pt: cut to {k}", EVALUATE, "error", with_run(w, _truncate(k)))
        for k in (0, 10, 100, 1000, 0.5, 0.99)
    ]
    first = lambda s: next(iter(s["model"]))  # noqa: E731
    cases += table(
        "checkpoints",
        EVALUATE,
        [
            ("best.pt: random bytes", "error", with_run(w, _replace(lambda: os.urandom(5000)))),
            ("best.pt: a zip of something else", "error", with_run(w, _zip_of_text)),
            ("best.pt: deleted", "error", with_run(w, lambda r: (r / "checkpoints" / "best.pt").unlink())),
            (
                "best.pt: a folder",
                "error",
                with_run(w, lambda r: _unlink_then(r / "checkpoints" / "best.pt", Path.mkdir)),
            ),
            ("best.pt: a torch list", "error", with_run(w, _replace(lambda: [1, 2, 3]))),
            ("best.pt: no model entry", "error", with_run(w, _replace(lambda: {"weights": {}}))),
            ("best.pt: model entry a list", "error", with_run(w, _replace(lambda: {"model": [1]}))),
            ("best.pt: a pickle that runs code", "error", with_run(w, _evil_pickle)),
            ("best.pt: wrong shapes", "error", with_run(w, _rewrite("best.pt", _models(lambda v: v[:-1])))),
            (
                "best.pt: integer weights",
                "error",
                with_run(w, _rewrite("best.pt", _models(lambda v: v.long()))),
            ),
            (
                "best.pt: NaN weights (advrec's checksum)",
                "error",
                with_run(w, _rewrite("best.pt", _models(lambda v: v * float("nan")))),
            ),
            (
                "best.pt: inf weights (plain torch.save)",
                "error",
                with_run(w, _rewrite("best.pt", _models(lambda v: v * float("inf")), plain_torch=True)),
            ),
            (
                "best.pt: a missing weight",
                "error",
                with_run(w, _rewrite("best.pt", lambda s: {"model": dict(list(s["model"].items())[1:])})),
            ),
            (
                "best.pt: an extra weight",
                "error",
                with_run(
                    w, _rewrite("best.pt", lambda s: {"model": {**s["model"], "extra": s["model"][first(s)]}})
                ),
            ),
            (
                "best.pt: written without a checksum (older advrec)",
                "ok",
                with_run(w, _rewrite("best.pt", lambda s: None, plain_torch=True)),
                printed_reference(w),
            ),
            ("best.pt: intact (the reference)", "ok", with_run(w), printed_reference(w)),
        ],
    )
    resume = ["train", "{w}/four.yaml", "--out", "{w}/run", "--quiet", "--resume"]
    trainer = {
        "trainer.epoch = 1e9": lambda s: s["trainer"].update(epoch=1e9),
        "trainer.epoch = -1": lambda s: s["trainer"].update(epoch=-1),
        "trainer.epoch = '2'": lambda s: s["trainer"].update(epoch="2"),
        "trainer.epoch = 10**9 (an int past the run's epochs)": lambda s: s["trainer"].update(epoch=10**9),
        "trainer.best = nan": lambda s: s["trainer"].update(best=float("nan")),
        "trainer.best_epoch past epoch": lambda s: s["trainer"].update(best_epoch=9),
        "no trainer entry": lambda s: {k: v for k, v in s.items() if k != "trainer"},
        "trainer a list": lambda s: s.update(trainer=[1]),
        "model state of another shape": lambda s: s.update(model={k: v[:-1] for k, v in s["model"].items()}),
    }
    cases += [
        Case(
            "checkpoints",
            f"last.pt: {name}, --resume",
            resume,
            "error",
            with_run(w, _rewrite("last.pt", c), "killed"),
        )
        for name, c in trainer.items()
    ]
    cases += [
        Case(
            "checkpoints",
            f"last.pt: a byte flipped at {o:.0%}, --resume",
            resume,
            "error",
            with_run(w, _flip_last(o), "killed"),
        )
        for o in (0.1, 0.5, 0.9)
    ]
    cases.append(
        Case(
            "checkpoints",
            "last.pt: intact, --resume",
            resume,
            "ok",
            with_run(w, source="killed"),
            finite_results(),
        )
    )
    return cases


def _unlink_then(path: Path, make: Callable[[Path], Any]) -> None:
    path.unlink()
    make(path)


def _flip_last(offset: float) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        path = run / "checkpoints" / "last.pt"
        data = bytearray(path.read_bytes())
        data[int(len(data) * offset)] ^= 0xFF
        path.write_bytes(bytes(data))

    return damage


def _zip_of_text(run: Path) -> None:
    import zipfile

    with zipfile.ZipFile(run / "checkpoints" / "best.pt", "w") as archive:
        archive.writestr("archive/data.pkl", b"not a pickle")


def _evil_pickle(run: Path) -> None:
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch pwned",))

    (run / "checkpoints" / "best.pt").write_bytes(pickle.dumps({"model": Evil()}))


def _edit(name: str, change: Callable[[str], str]) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        path = run / name
        path.write_text(change(path.read_text()))

    return damage


def _append(name: str, text: str) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        with open(run / name, "a") as fh:
            fh.write(text)

    return damage


def _delete(name: str) -> Callable[[Path], None]:
    return lambda run: shutil.rmtree(run / name) if (run / name).is_dir() else (run / name).unlink()


def _delete_all(*names: str) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        for name in names:
            _delete(name)(run)

    return damage


def log_cases(w: World) -> list[Case]:
    resume = ["train", "{w}/four.yaml", "--out", "{w}/run", "--quiet", "--resume"]
    report = ["report", "{w}/run", "--no-per-user"]
    nan_curve = ', "robustness": {"fgsm": {"nan": {"ndcg@10": 0.1}}}}\n'
    stray = "checkpoints/.last.pt.abcd1234.tmp"
    cases = table(
        "logs",
        resume,
        [
            (
                "metrics.jsonl: a torn last line, --resume",
                "ok",
                with_run(w, _append("metrics.jsonl", '{"epoch": 2, "lo'), "killed"),
                finite_results(),
            ),
            (
                "metrics.jsonl: a damaged inner line, --resume",
                "error",
                with_run(w, _edit("metrics.jsonl", lambda t: t.replace("}", "", 1)), "killed"),
            ),
            (
                "metrics.jsonl: deleted, --resume",
                "ok",
                with_run(w, _delete("metrics.jsonl"), "killed"),
                finite_results(),
            ),
            (
                "split/: of other inputs under a killed run, --resume",
                "error",
                with_run(w, lambda r: _other_data(r, w), "killed"),
            ),
            (
                "stray .tmp of a killed run, --resume (removed, said)",
                "ok",
                with_run(w, _append(stray, "half"), "killed"),
                lambda f, r: (
                    None
                    if not list((f / "run").rglob("*.tmp")) and "temporary file" in r.err
                    else "kept or unsaid"
                ),
            ),
        ],
    )
    cases += [
        Case(
            "logs",
            "metrics.jsonl: bytes that are not UTF-8, --resume",
            resume,
            "error",
            with_run(w, lambda r: (r / "metrics.jsonl").write_bytes(b"\xff\xfe\x00garbage\n{}\n"), "killed"),
        ),
        Case(
            "logs",
            "metrics.jsonl: an epoch that is text, --resume",
            resume,
            "error",
            with_run(
                w, lambda r: (r / "metrics.jsonl").write_text('{"epoch": "0"}\n{"epoch": 1}\n'), "killed"
            ),
        ),
        Case(
            "logs",
            "metrics.jsonl: an epoch line without its seconds, --resume",
            resume,
            "error",
            with_run(w, lambda r: (r / "metrics.jsonl").write_text('{"epoch": 0}\n'), "killed"),
        ),
        Case(
            "logs",
            "metrics.jsonl: a line that is a JSON list, --resume",
            resume,
            "error",
            with_run(w, lambda r: (r / "metrics.jsonl").write_text("[0, 0.69]\n"), "killed"),
        ),
        Case(
            "logs",
            "metrics.jsonl: a line nested 100,000 deep, --resume",
            resume,
            "error",
            with_run(w, lambda r: (r / "metrics.jsonl").write_text("[" * 100_000 + "\n{}\n"), "killed"),
        ),
    ]
    cases += table(
        "logs",
        EVALUATE,
        [
            (
                "results.json: truncated, evaluate",
                "error",
                with_run(w, _edit("results.json", lambda t: t[: len(t) // 2])),
            ),
            (
                "results.json: a list, evaluate",
                "error",
                with_run(w, _edit("results.json", lambda t: "[1, 2]")),
            ),
            ("results.json: empty, evaluate", "error", with_run(w, _edit("results.json", lambda t: ""))),
            ("config.yaml: deleted, evaluate", "error", with_run(w, _delete("config.yaml"))),
            (
                "config.yaml: duplicate key, evaluate",
                "error",
                with_run(w, _append("config.yaml", "seed: 5\n")),
            ),
            ("config.yaml: invalid YAML, evaluate", "error", with_run(w, _append("config.yaml", "x: [\n"))),
            (
                "config.yaml: another model size, evaluate",
                "error",
                with_run(w, _edit("config.yaml", lambda t: t.replace("dim: 8", "dim: 16"))),
            ),
            ("split/test.tsv: deleted, evaluate", "error", with_run(w, _delete("split/test.tsv"))),
            (
                "split/train.tsv: a line added, evaluate",
                "error",
                with_run(w, _append("split/train.tsv", "1\t2\n")),
            ),
            (
                "split/valid.tsv: garbage, evaluate",
                "error",
                with_run(w, _edit("split/valid.tsv", lambda t: "\x00\x01")),
            ),
            ("split/: deleted, evaluate", "error", with_run(w, _delete("split"))),
            (
                "split/fingerprint.json: garbage, evaluate (unchecked then)",
                "ok",
                with_run(w, _edit("split/fingerprint.json", lambda t: "{")),
                printed_reference(w),
            ),
        ],
    )
    cases += table(
        "logs",
        report,
        [
            (
                "results.json: NaN metric, report",
                "error",
                with_run(
                    w, _edit("results.json", lambda t: t.replace('"ndcg@10": ', '"ndcg@10": NaN, "x": ', 1))
                ),
            ),
            (
                "results.json: a 'nan' probe curve, report",
                "error",
                with_run(w, _edit("results.json", lambda t: t[:-2] + nan_curve)),
            ),
            (
                "results.json: invalid JSON, report",
                "error",
                with_run(w, _edit("results.json", lambda t: "{x")),
            ),
        ],
    )
    cases.append(
        Case(
            "logs",
            "split/ without fingerprint (a kill before it), train (rebuilt)",
            TRAIN,
            "ok",
            with_run(w, _delete_all("split/fingerprint.json", "checkpoints", "results.json")),
            finite_results(),
        )
    )
    return cases


def _other_data(run: Path, w: World) -> None:
    """The data file the killed run was made from changes before --resume (its configs follow the file)."""
    changed = run.parent / "u.data"
    changed.write_text("".join(reversed(w.lines)))
    for path in (run.parent / "config.yaml", run.parent / "four.yaml", run / "config.yaml"):
        cfg = yaml.safe_load(path.read_text())
        cfg["data"]["path"] = str(changed)
        write_yaml(path, cfg)


def _popen(folder: Path, *argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "advrec", *argv], cwd=folder, stderr=subprocess.DEVNULL)


def _while_held(folder: Path, holder: list[str], then: list[str], before=None) -> Result:
    """Run ``then`` (forked) while a real process running ``holder`` holds the lock of ``--out``."""
    out = folder / holder[holder.index("--out") + 1]
    first = _popen(folder, *holder)
    try:
        _wait_for_lock(out, first.pid)
        if before is not None:
            before()
        result = run_forked(then, folder, 60)
    finally:
        first.kill()
        first.wait()
    if result.code == 2 and "in use by process" in result.err and f"process {first.pid}" not in result.err:
        result.err += "\nadvrec: error: (the message does not name the holder's pid)"
    return result


def concurrency_cases(w: World) -> list[Case]:
    long = merged(w.config, {"train.epochs": 100000, "train.patience": 100000})
    study = yaml.safe_load(w.study.read_text())
    study["base"] = merged(study["base"], {"train.epochs": 100000, "train.patience": 100000})

    def two_trains(case: Case, folder: Path) -> Result:
        write_yaml(folder / "long.yaml", long)
        train = ["train", "long.yaml", "--out", "run", "--quiet"]
        return _while_held(
            folder,
            train,
            [*train[:1], str(folder / "long.yaml"), "--out", str(folder / "run"), "--set", "seed=2"],
        )

    def two_studies(case: Case, folder: Path) -> Result:
        write_yaml(folder / "s.yaml", study)
        return _while_held(
            folder,
            ["study", "s.yaml", "--out", "st"],
            ["study", str(folder / "s.yaml"), "--out", str(folder / "st")],
        )

    def evaluate_while_training(case: Case, folder: Path) -> Result:
        write_yaml(folder / "long.yaml", long)
        run = folder / "run"

        def when_best_exists() -> None:
            deadline = time.monotonic() + 60
            while not (run / "checkpoints" / "best.pt").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            (run / "results.json").write_text('{"test": null}')  # so evaluate would record test

        return _while_held(
            folder,
            ["train", "long.yaml", "--out", "run", "--quiet"],
            ["evaluate", str(run)],
            when_best_exists,
        )

    def takeover(case: Case, folder: Path) -> Result:
        write_yaml(folder / "config.yaml", w.config)
        first = _popen(folder, "train", "config.yaml", "--out", "run", "--quiet")
        _wait_for_lock(folder / "run", first.pid)
        first.kill()
        first.wait()
        resume = ["--resume"] if (folder / "run" / "checkpoints" / "last.pt").exists() else []
        again = run_forked(
            ["train", str(folder / "config.yaml"), "--out", str(folder / "run"), "--quiet", *resume],
            folder,
            120,
        )
        if again.code == 0 and f"lock of process {first.pid}" not in again.err:
            again.err += "\nadvrec: error: (the takeover was not said)"
            again.code = 2
        return again

    cases = [
        Case("concurrency", "two trains into one --out", [], "error", runner=two_trains),
        Case("concurrency", "two studies into one --out", [], "error", runner=two_studies),
        Case(
            "concurrency",
            "evaluate recording test while the run trains",
            [],
            "error",
            runner=evaluate_while_training,
        ),
        Case(
            "concurrency",
            "a killed holder's lock taken over",
            [],
            "ok",
            runner=takeover,
            check=finite_results(),
        ),
    ]
    cases += [
        Case(
            "concurrency",
            f"train killed -9 at a random point ({k + 1}), rerun",
            [],
            "ok",
            runner=_killed_train(w, seed=k),
            check=equals_reference(w),
        )
        for k in range(4)
    ]
    return cases


def _killed_train(w: World, seed: int) -> Callable[[Case, Path], Result]:
    def runner(case: Case, folder: Path) -> Result:
        write_yaml(folder / "config.yaml", w.config)
        proc = _popen(folder, "train", "config.yaml", "--out", "run", "--quiet")
        try:
            proc.wait(random.Random(seed).uniform(2.0, 6.0))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        if (folder / "run" / "results.json").exists():
            return Result(0, "", "", 0.0)
        resume = ["--resume"] if (folder / "run" / "checkpoints" / "last.pt").exists() else []
        return run_forked(
            ["train", str(folder / "config.yaml"), "--out", str(folder / "run"), "--quiet", *resume],
            folder,
            120,
        )

    return runner


def _wait_for_lock(run: Path, pid: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    lock = run / ".advrec.lock"
    while time.monotonic() < deadline:
        if lock.exists() and lock.read_text().strip() == str(pid):
            return
        time.sleep(0.02)
    raise RuntimeError("the first process never took the lock")


def disk_cases(w: World) -> list[Case]:
    cases = []
    study = lambda f: shutil.copy(w.study, f / "study.yaml")  # noqa: E731
    for limit in (256, 2048, 8192, 32768):
        capped = f"capped at {limit} bytes"
        cases += [
            Case(
                "disk",
                f"train, files {capped}",
                TRAIN,
                "either",
                with_config(w),
                finite_results(),
                file_limit=limit,
            ),
            Case(
                "disk",
                f"evaluate --export-topk {capped}",
                [*EVALUATE, "--export-topk", "{w}/top.tsv"],
                "either",
                with_run(w),
                file_limit=limit,
            ),
            Case(
                "disk",
                f"evaluate --attack {capped}",
                [*EVALUATE, "--attack", "fgsm", "--eps", "0.5"],
                "either",
                with_run(w),
                file_limit=limit,
            ),
            Case(
                "disk",
                f"study {capped}",
                ["study", "{w}/study.yaml", "--out", "{w}/st"],
                "either",
                study,
                file_limit=limit,
            ),
            Case(
                "disk",
                f"train {capped}, then resumed uncapped",
                [],
                "ok",
                runner=_full_then_resume(w, limit),
                check=equals_reference(w),
            ),
        ]
    return cases


def _full_then_resume(w: World, limit: int) -> Callable[[Case, Path], Result]:
    """The disk fills mid-run; space is freed; the rerun (resumed if a checkpoint exists) must end with the
    numbers of a run that never failed."""

    def runner(case: Case, folder: Path) -> Result:
        write_yaml(folder / "config.yaml", w.config)
        argv = ["train", str(folder / "config.yaml"), "--out", str(folder / "run"), "--quiet"]
        first = run_forked(argv, folder, 120, file_limit=limit)
        if first.code != 2 or "Traceback" in first.err:
            return first
        resume = ["--resume"] if (folder / "run" / "checkpoints" / "last.pt").exists() else []
        return run_forked([*argv, *resume], folder, 120)

    return runner


DIVERGING = {
    "adam lr 1e6": {"train.optimizer.lr": 1e6},
    "adam lr 1e30": {"train.optimizer.lr": 1e30},
    "adamw lr 1e30": {"train.optimizer.name": "adamw", "train.optimizer.lr": 1e30},
    "adagrad lr 1e30": {"train.optimizer.name": "adagrad", "train.optimizer.lr": 1e30},
    "sgd lr 1e6 (fused step)": {"train.optimizer.name": "sgd", "train.optimizer.lr": 1e6},
    "sgd lr 1e6 (autograd)": {
        "train.optimizer.name": "sgd",
        "train.optimizer.lr": 1e6,
        "train.kernel": "autograd",
    },
    "sgd lr 1e6 (fused epoch)": {
        "train.optimizer.name": "sgd",
        "train.optimizer.lr": 1e6,
        "train.kernel": "fused_epoch",
    },
    "sparse_adam lr 1e6": {"train.optimizer.name": "sparse_adam", "train.optimizer.lr": 1e6},
    "init_std 1e20": {"model.init_std": 1e20},
    "init_std 1e30 (fused epoch)": {
        "model.init_std": 1e30,
        "train.optimizer.name": "sgd",
        "train.kernel": "fused_epoch",
    },
    "APR eps 1e30": {"adversary.name": "apr", "adversary.eps": 1e30},
    "lightgcn lr 1e30": {"model.name": "lightgcn", "train.optimizer.lr": 1e30},
    "neumf lr 1e30": {"model.name": "neumf", "train.optimizer.lr": 1e30},
    "bce lr 1e30": {"train.objective": "bce", "train.optimizer.lr": 1e30},
    "max_loss_growth null, sgd lr 1e30": {
        "train.max_loss_growth": None,
        "train.optimizer.name": "sgd",
        "train.optimizer.lr": 1e30,
    },
}
# huge but finite settings a run may legitimately survive: finite numbers or a clean stop, nothing else
SURVIVABLE = {
    "l2 1e30": {"train.l2": 1e30},
    "APR reg_adv 1e30": {"adversary.name": "apr", "adversary.reg_adv": 1e30},
    "grad_clip 1e-30": {"train.grad_clip": 1e-30},
}


def divergence_cases(w: World) -> list[Case]:
    cases = [
        Case("divergence", name, TRAIN, "error", with_config(w, change)) for name, change in DIVERGING.items()
    ]
    cases += [
        Case("divergence", name, TRAIN, "either", with_config(w, change), finite_results())
        for name, change in SURVIVABLE.items()
    ]
    cases.append(
        Case(
            "divergence",
            "probe eps 1e30 overflows the scores",
            [*EVALUATE, "--attack", "fgsm", "--eps", "1e30"],
            "error",
            with_run(w),
        )
    )
    return cases


def all_cases(w: World) -> list[Case]:
    return [
        *data_cases(w),
        *config_cases(w),
        *cli_cases(w),
        *checkpoint_cases(w),
        *log_cases(w),
        *concurrency_cases(w),
        *disk_cases(w),
        *divergence_cases(w),
    ]


# --------------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, help="MovieLens-100K u.data (default: data made here)")
    parser.add_argument("--rows", type=int, default=3000, help="first rows of --data (default 3000)")
    parser.add_argument("--out", type=Path, default=Path("runs/drill"), help="scratch folder (emptied)")
    parser.add_argument("--only", help="run the cases whose category or name contains this text")
    args = parser.parse_args(argv)
    if args.out.exists():
        shutil.rmtree(args.out)
    scratch = args.out / "cases"
    scratch.mkdir(parents=True)
    _import_everything()

    start = time.perf_counter()
    world = make_world(args.out / "world", args.data, args.rows)
    cases = [c for c in all_cases(world) if not args.only or args.only in f"{c.category} {c.name}"]
    counts: dict[str, Counter] = {}
    notes: list[str] = []
    for index, case in enumerate(cases, start=1):
        outcome, detail, seconds = run_case(case, scratch)
        print(
            f"[{index}/{len(cases)}] {case.category}: {case.name}: {outcome} ({seconds:.1f} s)",
            file=sys.stderr,
        )
        counts.setdefault(case.category, Counter())[outcome] += 1
        if outcome not in (CLEAN, OK):
            notes.append(f"  {outcome.upper():9} [{case.category}] {case.name}: {detail}")
    _print_table(counts, len(cases), time.perf_counter() - start)
    if notes:
        print("\nnot clean:")
        print("\n".join(notes))
    bad = sum(n for per in counts.values() for o, n in per.items() if o not in (OK, CLEAN))
    return 1 if bad else 0


def _import_everything() -> None:
    """What the commands import, imported once here before the forks (torch and numba cost seconds per
    process; nothing here starts a thread, so forking after it is safe)."""
    import importlib

    for name in ("torch", "advrec.cli.main", "advrec.runs.train", "advrec.runs.load", "advrec.runs.probe",
                 "advrec.experiments.study", "advrec.experiments.poisoning", "advrec.report.build",
                 "advrec.cli.detect", "advrec.defend.evaluate", "matplotlib.pyplot"):  # fmt: skip
        importlib.import_module(name)


def _print_table(table: dict[str, Counter], n_cases: int, seconds: float) -> None:
    header = f"{'category':<13}{'cases':>7}" + "".join(f"{c:>11}" for c in COLUMNS)
    print(header)
    print("-" * len(header))
    total: Counter = Counter()
    for category, counts in table.items():
        total.update(counts)
        print(f"{category:<13}{sum(counts.values()):>7}" + "".join(f"{counts[c]:>11}" for c in COLUMNS))
    print("-" * len(header))
    print(f"{'all':<13}{sum(total.values()):>7}" + "".join(f"{total[c]:>11}" for c in COLUMNS))
    print(f"\n{n_cases} cases in {seconds:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
