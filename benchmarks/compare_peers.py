#!/usr/bin/env python3
"""Side-by-side benchmark of advrec against RecBole 1.2.1 and Cornac 2.2.2 on MovieLens-100K.

Every library trains on the same data: RecBole 1.2.1's own seed-2020 per-user 80/10/10 split, shipped as
``DATA_ROOT/ml-100k-recbole-split/{train,valid,test}.tsv``.

* RecBole BPR and LightGCN (2 layers) and Cornac BPR run in a separate "peers" virtual environment (their
  pins clash with advrec's), through the reference drivers in ``--peers-dir`` (run_recbole.py,
  run_cornac_bpr.py, make_atomic.py), each as a child process.  RecBole re-derives the split from u.data
  with seed 2020 and dumps it; this script checks that the dump equals the shared split row for row.
* advrec runs through its CLI in this repository's environment, once per seed::

      python -m advrec train CONFIG --data-root DATA_ROOT --out OUTDIR --set seed=S

  and reports ``OUTDIR/results.json`` (``test.ndcg@10``, ``test.recall@10``, ``best_epoch``,
  ``timing.train_s_per_epoch``, ``timing.eval_s``). ``advrec-mf-bpr-sparse-adam`` is the MF-BPR config
  with ``--set train.optimizer.name=sparse_adam`` (the whole-epoch numba kernel, lazy Adam); its speed
  ratios to the BPR peers are printed below the table.

Peak memory is the peak RSS of each child process, read from ``os.wait4`` on that very child (so it is
exact per child, unlike ``getrusage(RUSAGE_CHILDREN)``, which mixes all children).  Children run one at a
time so that their timings do not disturb each other.

One Markdown table goes to stdout and to ``OUT/table.md``; everything else (raw driver outputs, logs,
``summary.json``) stays under ``OUT``.  See benchmarks/README.md for the peer environment setup.

Usage::

    python benchmarks/compare_peers.py [--only recbole-bpr,cornac-bpr,advrec] [--seeds 2020,2021,2022]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPLIT_DIR = "ml-100k-recbole-split"
# RecBole 1.2.1 ignores data_path for the dataset name "ml-100k" (it loads its bundled copy), so the atomic
# file made from DATA_ROOT/ml-100k/u.data gets another name.
RECBOLE_DATASET = "ml100k_exact"
CORNAC_LR, CORNAC_REG = 0.01, 0.001  # the peers README's Cornac setting (per-sample SGD, not Adam)

PEER_RUNS = ("recbole-bpr", "recbole-lightgcn", "cornac-bpr")
ADVREC_CONFIGS = {
    "advrec-mf-bpr": "examples/basics/ml100k_recbole_split_mf_bpr.yaml",
    "advrec-lightgcn": "examples/basics/ml100k_recbole_split_lightgcn.yaml",
    # the same MF-BPR config, trained by the whole-epoch numba kernel with lazy (sparse) Adam
    "advrec-mf-bpr-sparse-adam": "examples/basics/ml100k_recbole_split_mf_bpr.yaml",
}
# extra `--set`s of an advrec variant, and its label in the table
ADVREC_VARIANT_SETS = {"advrec-mf-bpr-sparse-adam": ["train.optimizer.name=sparse_adam"]}
ADVREC_LABELS = {
    "advrec-mf-bpr": "MF-BPR",
    "advrec-lightgcn": "LightGCN, 2 layers",
    "advrec-mf-bpr-sparse-adam": "MF-BPR, fused_epoch kernel + sparse_adam",
}
ALL_RUNS = PEER_RUNS + tuple(ADVREC_CONFIGS)
ALIASES = {"all": ALL_RUNS, "peers": PEER_RUNS, "advrec": tuple(ADVREC_CONFIGS)}
# which advrec run each peer is compared with in the speed-ratio columns
MATCHING_ADVREC = {
    "recbole-bpr": "advrec-mf-bpr",
    "cornac-bpr": "advrec-mf-bpr",
    "recbole-lightgcn": "advrec-lightgcn",
}


# --------------------------------------------------------------------------------------------- plumbing


@dataclass
class ChildRun:
    cmd: list[str]
    rc: int
    wall_s: float
    peak_rss_mb: float
    loadavg_before: list[float]
    loadavg_after: list[float] = field(default_factory=list)


@dataclass
class Row:
    """One line of the table; lists hold one value per seed (one entry for the single-seed peers)."""

    key: str
    library: str
    model: str
    ok: bool = True
    ndcg: list[float] = field(default_factory=list)
    recall: list[float] = field(default_factory=list)
    s_epoch: list[float] = field(default_factory=list)
    s_eval: list[float] = field(default_factory=list)
    peak_rss_mb: list[float] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    epochs: list[str] = field(default_factory=list)  # "best/run" per seed
    load: list[str] = field(default_factory=list)  # 1-min load average "before→after" per child
    notes: list[str] = field(default_factory=list)


def log(msg: str) -> None:
    print(f"[compare_peers {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_child(cmd: list[str], *, cwd: Path, logfile: Path, env: dict[str, str] | None = None) -> ChildRun:
    """Run ``cmd`` to the end, stdout+stderr into ``logfile``; peak RSS comes from wait4 on this child."""
    cmd = [str(c) for c in cmd]
    logfile.parent.mkdir(parents=True, exist_ok=True)
    load = list(os.getloadavg())
    t0 = time.perf_counter()
    with open(logfile, "w") as fh:
        fh.write(f"$ (cd {shlex.quote(str(cwd))} && {shlex.join(cmd)})\n")
        fh.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4; tell Popen so
    # ru_maxrss is in KiB on Linux
    wall = time.perf_counter() - t0
    return ChildRun(cmd, proc.returncode, wall, usage.ru_maxrss / 1024, load, list(os.getloadavg()))


def run_or_reuse(
    args: argparse.Namespace, rundir: Path, cmd: list, *, cwd: Path, result: Path, env: dict | None = None
) -> ChildRun:
    """Run one child (recorded in rundir/run.json) unless --reuse finds a successful earlier run."""
    record = rundir / "run.json"
    if args.reuse and record.exists() and result.exists():
        prev = ChildRun(**json.loads(record.read_text()))
        if prev.rc == 0:
            log(f"reusing {result}")
            return prev
    rundir.mkdir(parents=True, exist_ok=True)
    result.unlink(missing_ok=True)
    name = rundir.relative_to(args.out)
    log(f"running {name}: log {rundir / 'stdout.log'}")
    if args.threads:  # same intra-op thread count for every library (torch and numpy read these at start)
        env = {"OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads), **(env or {})}
    child = run_child(cmd, cwd=cwd, logfile=rundir / "stdout.log", env=env)
    record.write_text(json.dumps(asdict(child), indent=1))
    log(f"{name}: rc={child.rc} wall={child.wall_s:.1f}s peak RSS={child.peak_rss_mb:.0f} MB")
    return child


def record_child(row: Row, child: ChildRun) -> None:
    """Peak RSS and wall time of one child, and the 1-minute load average around it (timing noise)."""
    row.peak_rss_mb.append(child.peak_rss_mb)
    row.wall_s.append(child.wall_s)
    after = f"{child.loadavg_after[0]:.1f}" if child.loadavg_after else "?"
    row.load.append(f"{child.loadavg_before[0]:.1f}→{after}")


def failed(row: Row, child: ChildRun, rundir: Path) -> Row:
    row.ok = False
    row.notes.append(f"FAILED rc={child.rc}, see {rundir / 'stdout.log'}")
    row.wall_s.append(child.wall_s)
    return row


def same_split(dumped: Path, shared: Path) -> str:
    """Compare RecBole's dumped split with the shared one as ordered (user, item) rows."""
    for name in ("train", "valid", "test"):
        a = [line.split("\t")[:2] for line in (dumped / f"{name}.tsv").read_text().splitlines()]
        b = [line.split("\t")[:2] for line in (shared / f"{name}.tsv").read_text().splitlines()]
        if a != b:
            same_set = sorted(map(tuple, a)) == sorted(map(tuple, b))
            order = ", same rows in another order" if same_set else ""
            return f"{name} differs ({len(a)} vs {len(b)} rows{order})"
    return "identical"


def package_versions(python: str, names: list[str]) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = '?'\n"
        "print(json.dumps(out))"
    )
    try:
        res = subprocess.run(
            [python, "-c", code, *names], capture_output=True, text=True, check=True, cwd=REPO
        )
        return json.loads(res.stdout)
    except (OSError, subprocess.CalledProcessError, json.JSONDecodeError):
        return {n: "?" for n in names}


# --------------------------------------------------------------------------------------------- peers


def _recbole(args: argparse.Namespace, key: str, model: str, model_cfg: str, label: str) -> Row:
    """RecBole 1.2.1 through the reference driver run_recbole.py (one seed: 2020, RecBole's split seed)."""
    row = Row(key, f"RecBole {args.versions.get('recbole', '?')}", label)
    rundir = args.out / key
    # the atomic file RecBole splits (u.data order matters for RecBole's seeded per-user shuffle)
    data = args.out / "recbole-data"
    atomic = data / RECBOLE_DATASET / f"{RECBOLE_DATASET}.inter"
    if not atomic.exists():
        atomic.parent.mkdir(parents=True, exist_ok=True)
        mk = [
            args.peers_python,
            args.peers_dir / "make_atomic.py",
            args.data_root / "ml-100k" / "u.data",
            atomic,
        ]
        child = run_child(mk, cwd=args.out, logfile=data / "make_atomic.log")
        if child.rc != 0:
            return failed(row, child, data)
    result = rundir / "result.json"  # the driver also writes result.log (RecBole's log)
    cfg = args.peers_dir / "configs"
    cmd = [
        args.peers_python,
        args.peers_dir / "run_recbole.py",
        model,
        result,
        cfg / "common.yaml",
        cfg / model_cfg,
    ]
    cmd += ["--dump-split", rundir / "split"]
    if args.max_epochs:
        cmd += ["--epochs", str(args.max_epochs)]
    env = {
        "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1",  # RecBole pickles its Config into its checkpoints
        "PEERS_DATA": str(data),
        "PEERS_DATASET": RECBOLE_DATASET,
        "PEERS_CKPT": str(rundir / "saved"),
        "PEERS_RAW": str(args.data_root / "ml-100k" / "u.data"),
    }
    child = run_or_reuse(args, rundir, cmd, cwd=rundir, result=result, env=env)
    if child.rc != 0 or not result.exists():
        return failed(row, child, rundir)
    record_peer_result(row, child, result, eval_key="s_valid_eval_in_loop_median")
    check = same_split(rundir / "split", args.data_root / SPLIT_DIR)
    row.notes.append(f"split check vs {SPLIT_DIR}: {check}")
    if check != "identical":
        row.ok = False
    return row


def record_peer_result(row: Row, child, result: Path, *, eval_key: str) -> dict:
    """Add a peer driver's result.json (test metrics, median timings, epochs) to its table row."""
    r = json.loads(result.read_text())
    row.ndcg.append(r["test"]["ndcg@10"])
    row.recall.append(r["test"]["recall@10"])
    row.s_epoch.append(r["s_per_epoch_median"])
    row.s_eval.append(r[eval_key])
    record_child(row, child)
    row.epochs.append(f"{r['best_epoch']}/{r['epochs_run']}")
    return r


def recbole_bpr(args: argparse.Namespace) -> Row:
    return _recbole(args, "recbole-bpr", "BPR", "bpr.yaml", "BPR")


def recbole_lightgcn(args: argparse.Namespace) -> Row:
    return _recbole(args, "recbole-lightgcn", "LightGCN", "lightgcn_L2.yaml", "LightGCN, 2 layers")


def cornac_bpr(args: argparse.Namespace) -> Row:
    """Cornac 2.2.2 BPR through run_cornac_bpr.py on the shared split files themselves."""
    row = Row(
        "cornac-bpr",
        f"Cornac {args.versions.get('cornac', '?')}",
        f"BPR (SGD lr {CORNAC_LR}, reg {CORNAC_REG})",
    )
    rundir = args.out / "cornac-bpr"
    result = rundir / "result.json"
    cmd = [args.peers_python, args.peers_dir / "run_cornac_bpr.py", "recbole_split", result]
    cmd += ["--lr", str(CORNAC_LR), "--reg", str(CORNAC_REG)]
    if args.max_epochs:
        cmd += ["--max-epochs", str(args.max_epochs)]
    env = {"PEERS_SPLIT": str(args.data_root / SPLIT_DIR)}
    child = run_or_reuse(args, rundir, cmd, cwd=rundir, result=result, env=env)
    if child.rc != 0 or not result.exists():
        return failed(row, child, rundir)
    r = record_peer_result(row, child, result, eval_key="s_valid_eval_median")
    row.notes.append(
        f"Cornac drops valid/test rows whose item is not in train: evaluated {r['n_valid']} valid / "
        f"{r['n_test']} test rows, {r['n_items']} items"
    )
    return row


# --------------------------------------------------------------------------------------------- advrec


def find_results(outdir: Path) -> Path | None:
    """advrec's run folder holds results.json: OUTDIR itself or, if the CLI nests runs, the newest below."""
    if (outdir / "results.json").exists():
        return outdir / "results.json"
    found = sorted(outdir.rglob("results.json"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def advrec_run(args: argparse.Namespace, key: str) -> Row:
    """advrec through its CLI, once per seed, in this repository's environment."""
    config = REPO / ADVREC_CONFIGS[key]
    row = Row(key, f"advrec {args.versions.get('advrec', '?')}", ADVREC_LABELS[key])
    for seed in args.seeds:
        rundir = args.out / key / f"seed{seed}"
        outdir = rundir / "run"  # the CLI's --out; our own files (run.json, stdout.log) sit next to it
        cmd = [args.advrec_python, "-m", "advrec", "train", config, "--data-root", args.data_root]
        cmd += ["--out", outdir, "--set", f"seed={seed}", "--quiet"]  # --quiet: no progress bars in the log
        for extra in [*ADVREC_VARIANT_SETS.get(key, []), *args.advrec_set]:
            cmd += ["--set", extra]
        reusable = args.reuse and find_results(outdir) is not None
        if not reusable and outdir.exists():
            shutil.rmtree(outdir)  # a stale run folder from an earlier invocation of this script
        child = run_or_reuse(
            args, rundir, cmd, cwd=REPO, result=find_results(outdir) or outdir / "results.json"
        )
        results = find_results(outdir)
        if child.rc != 0 or results is None:
            failed(row, child, rundir)
            continue
        r = json.loads(results.read_text())
        row.ndcg.append(r["test"]["ndcg@10"])
        row.recall.append(r["test"]["recall@10"])
        row.s_epoch.append(r["timing"]["train_s_per_epoch"])
        row.s_eval.append(r["timing"]["eval_s"])
        record_child(row, child)
        # advrec's best_epoch is the 0-based epoch index; the table counts epochs from 1, as the peers do
        best = r.get("best_epoch")
        best = best + 1 if isinstance(best, int) else "?"
        run_ep = r.get("epochs_run")
        row.epochs.append(f"{best}" + (f"/{run_ep}" if run_ep is not None else ""))
        ds = r.get("dataset", {})
        if seed == args.seeds[0] and "n_test" in ds:
            row.notes.append(
                f"evaluated {ds.get('n_valid')} valid / {ds['n_test']} test rows, {ds.get('n_items')} items"
            )
    row.notes.append(f"seeds {','.join(map(str, args.seeds))}; results.json from {args.out / key}/seed*/run")
    return row


def advrec_mf_bpr(args: argparse.Namespace) -> Row:
    return advrec_run(args, "advrec-mf-bpr")


def advrec_lightgcn(args: argparse.Namespace) -> Row:
    return advrec_run(args, "advrec-lightgcn")


RUNNERS = {
    "recbole-bpr": recbole_bpr,
    "recbole-lightgcn": recbole_lightgcn,
    "cornac-bpr": cornac_bpr,
    "advrec-mf-bpr": advrec_mf_bpr,
    "advrec-lightgcn": advrec_lightgcn,
    "advrec-mf-bpr-sparse-adam": lambda args: advrec_run(args, "advrec-mf-bpr-sparse-adam"),
}


# --------------------------------------------------------------------------------------------- table


def fmt_stat(values: list[float], digits: int) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def fmt_time(values: list[float]) -> str:
    if not values:
        return "—"
    v = statistics.mean(values)
    return f"{v:.3f}" if v < 1 else f"{v:.2f}"


def ratio(advrec: Row | None, peer: Row, attr: str) -> str:
    if advrec is None or not getattr(advrec, attr) or not getattr(peer, attr):
        return "—"
    a, p = statistics.mean(getattr(advrec, attr)), statistics.mean(getattr(peer, attr))
    return f"{a / p:.2f}×" if p > 0 else "—"


def make_table(rows: list[Row], args: argparse.Namespace) -> str:
    by_key = {r.key: r for r in rows}
    header = [
        "library", "model", "test NDCG@10", "test Recall@10", "best/run epochs", "s/epoch", "s/eval",
        "peak RSS MB", "wall s", "advrec÷peer s/epoch", "advrec÷peer s/eval",
    ]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        match = by_key.get(MATCHING_ADVREC.get(r.key, ""))
        cells = [
            r.library,
            r.model + ("" if r.ok else " **(FAILED)**"),
            fmt_stat(r.ndcg, 4),
            fmt_stat(r.recall, 4),
            ", ".join(r.epochs) or "—",
            fmt_time(r.s_epoch),
            fmt_time(r.s_eval),
            f"{max(r.peak_rss_mb):.0f}" if r.peak_rss_mb else "—",
            f"{sum(r.wall_s):.0f}" if r.wall_s else "—",
            ratio(match, r, "s_epoch") if r.key in MATCHING_ADVREC else "—",
            ratio(match, r, "s_eval") if r.key in MATCHING_ADVREC else "—",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [
        "",
        f"Split: RecBole 1.2.1 seed-2020 per-user 80/10/10 split of ML-100K ({args.data_root / SPLIT_DIR}); "
        "full ranking, train items masked (train+valid at test); test metrics at the best-valid-NDCG@10 "
        "epoch. best/run epochs count from 1.",
        f"advrec: mean ± sample std over seeds {', '.join(map(str, args.seeds))}; s/epoch and s/eval are "
        "`timing.train_s_per_epoch` and `timing.eval_s` from results.json (mean over seeds), peak RSS the "
        "max. advrec's `timing` values are means over epochs, the peers' medians.",
        "Peers: one run, seed 2020. s/epoch = median training time of one epoch; s/eval = median "
        "full-ranking evaluation of the valid set during training (RecBole: its logged eval time; Cornac: "
        "the driver's numpy full ranking).",
        "peak RSS = ru_maxrss of the child process (os.wait4), interpreter and libraries included. "
        "wall s = whole child process, data loading and the final test included (sum over seeds for advrec).",
        "advrec÷peer ratios compare advrec MF-BPR with the BPR rows and advrec LightGCN with RecBole "
        "LightGCN; below 1× means advrec is faster.",
    ]
    for variant in ADVREC_VARIANT_SETS:  # the variants' speed ratios, against the same peers
        if variant in by_key:
            peers = [p for p, a in MATCHING_ADVREC.items() if a == "advrec-mf-bpr" and p in by_key]
            cells = [
                f"÷ {by_key[p].library} {by_key[p].model} {ratio(by_key[variant], by_key[p], 's_epoch')}"
                for p in peers
            ]
            notes.append(
                f"{ADVREC_LABELS[variant]} s/epoch (`--set {' '.join(ADVREC_VARIANT_SETS[variant])}`): "
                + "; ".join(cells)
            )
    for r in rows:
        notes += [f"{r.library} {r.model}: {n}" for n in r.notes]
        if r.load:
            notes.append(f"{r.library} {r.model}: 1-min load average before→after: {', '.join(r.load)}")
    notes.append(
        f"Machine: {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"peers torch {args.versions.get('torch', '?')}; OMP_NUM_THREADS {args.threads or 'unset'}; "
        f"load average at start {args.load_start}."
    )
    return "\n".join(lines) + "\n" + "\n".join(f"- {n}" if n else "" for n in notes) + "\n"


# --------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    default_advrec_python = REPO / ".venv" / "bin" / "python"
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument(
        "--data-root",
        type=Path,
        default=Path("/work/shared/data"),
        help="folder holding ml-100k/ and ml-100k-recbole-split/ (default /work/shared/data)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("/tmp/advrec-peers"),
        help="scratch folder for raw outputs, logs, summary.json and table.md (default /tmp/advrec-peers)",
    )
    p.add_argument(
        "--only",
        default="all",
        help="comma-separated subset of: " + ", ".join(ALL_RUNS) + "; aliases: all, peers, advrec",
    )
    p.add_argument("--seeds", default="2020,2021,2022", help="advrec seeds (default 2020,2021,2022)")
    p.add_argument(
        "--peers-python",
        default=os.environ.get("PEERS_PYTHON", "/work/peers-venv/bin/python"),
        help="python of the peers venv (RecBole 1.2.1, Cornac 2.2.2); default $PEERS_PYTHON or "
        "/work/peers-venv/bin/python",
    )
    p.add_argument(
        "--peers-dir",
        type=Path,
        default=Path(os.environ.get("PEERS_DIR", "/work/shared/peers")),
        help="folder with the reference drivers run_recbole.py, run_cornac_bpr.py, make_atomic.py, "
        "configs/ (default $PEERS_DIR or /work/shared/peers)",
    )
    p.add_argument(
        "--advrec-python",
        default=str(default_advrec_python) if default_advrec_python.exists() else sys.executable,
        help="python with advrec installed (default: the repo's .venv, else this interpreter)",
    )
    p.add_argument(
        "--advrec-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra `--set KEY=VALUE` for every advrec run (repeatable), e.g. a short smoke test",
    )
    p.add_argument(
        "--max-epochs",
        type=int,
        default=None,
        help="cap the PEERS' epochs (smoke test only; for advrec use --advrec-set)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="set OMP_NUM_THREADS/MKL_NUM_THREADS for every child (default: each library's own default)",
    )
    p.add_argument(
        "--reuse",
        action="store_true",
        help="reuse successful earlier runs found under --out instead of running them again",
    )
    args = p.parse_args(argv)  # fmt: skip

    wanted: list[str] = []
    for name in filter(None, (s.strip() for s in args.only.split(","))):
        if name not in ALIASES and name not in ALL_RUNS:
            p.error(
                f"--only: unknown run {name!r}; choose from {', '.join(ALL_RUNS)} or {', '.join(ALIASES)}"
            )
        wanted += [n for n in ALIASES.get(name, (name,)) if n not in wanted]
    args.runs = [n for n in ALL_RUNS if n in wanted]
    args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    args.data_root = args.data_root.resolve()
    args.out = args.out.resolve()
    args.peers_dir = args.peers_dir.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not (args.data_root / SPLIT_DIR / "train.tsv").exists():
        sys.exit(f"no {SPLIT_DIR}/ under --data-root {args.data_root}")
    needs_peers = any(r in PEER_RUNS for r in args.runs)
    if needs_peers and not Path(args.peers_python).exists():
        sys.exit(f"peers python {args.peers_python} not found; set up the peers venv (benchmarks/README.md)")
    args.out.mkdir(parents=True, exist_ok=True)
    args.load_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    args.versions = {}
    if needs_peers:
        args.versions.update(package_versions(args.peers_python, ["recbole", "cornac", "torch"]))
    if any(r in ADVREC_CONFIGS for r in args.runs):
        args.versions["advrec"] = package_versions(args.advrec_python, ["advrec"])["advrec"]

    t0 = time.perf_counter()
    rows = [RUNNERS[name](args) for name in args.runs]
    table = make_table(rows, args)
    (args.out / "table.md").write_text(table)
    summary = {
        "data_root": str(args.data_root), "seeds": args.seeds, "versions": args.versions,
        "load_start": args.load_start, "total_wall_s": time.perf_counter() - t0,
        "rows": [asdict(r) for r in rows],
    }  # fmt: skip
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(table)
    log(f"total {time.perf_counter() - t0:.0f}s; table in {args.out / 'table.md'}")
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
