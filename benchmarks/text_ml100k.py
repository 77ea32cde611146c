"""Text item features (all-MiniLM-L6-v2) on MovieLens-100K: ID-only MF vs text-aware MF vs text-aware MF +
AMR, overall and on the least popular items, and the text-side attack with and without the adversary.

Not a test. Run (project venv, ``pip install -e '.[text]'``)::

    python benchmarks/text_ml100k.py --data-root ../shared/data --out /tmp/text-bench --seeds 2020,2021,2022
    python benchmarks/text_ml100k.py --encode-timing --data-root ../shared/data   # encoding time only

Variants (default protocol of ``examples/basics/ml100k_mf_bpr.yaml``: per-user random 80/10/10 per seed, full
ranking, selection on valid NDCG@10):

* ``mf``: ``examples/basics/ml100k_mf_bpr.yaml`` (ID embeddings only);
* ``text``: ``examples/text/ml100k_text_mf.yaml`` with ``model.id_min_count=0`` (item vector = ID embedding +
  projection of the text embedding, for every item);
* ``text KEY=VALUE ...``: the text config with the overrides of each ``--text-variant`` (e.g.
  ``model.id_min_count=10``, the example's default: no ID embedding for items with < 10 train interactions);
* ``amr eps=E``: ``examples/text/ml100k_amr_text.yaml`` with ``adversary.eps=E`` for each E of
``--amr-eps`` (and
  the ``--amr-set`` overrides, named in the variant); the AMR row marked "chosen on valid" is the ε with the
  best mean VALID NDCG@10 over the seeds (test is not looked at to choose).

``--select-only`` trains, then reports VALID metrics only (overall, and on the tails drawn from the valid
interactions): what a setting is chosen on. The full report adds paired tests (users as pairs) of each
variant against ID-only MF on the tail-20%-of-test.

Tails: the ceil(0.2 * n_items) items with the fewest training interactions (ties: lower index), and the
least popular items holding 20% of the test interactions; NDCG@10 and Recall@50 over users with at least one
tail test item, against their tail test items only, the ranking unchanged (:mod:`advrec.measure.tail`).
Text attack: ``advrec evaluate RUN --text-attack KIND --text-targets T`` for each KIND of ``--kinds`` and T
of ``--targets`` on every text run (targets drawn from the run's seed, so the same items for text and AMR
runs of one seed). Every run folder stays under ``--out``; finished runs are reused. ``--jobs`` trains
(variant, seed) runs in parallel processes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from advrec.utils.files import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {
    "mf": REPO / "examples" / "basics" / "ml100k_mf_bpr.yaml",
    "text": REPO / "examples" / "text" / "ml100k_text_mf.yaml",
    "amr": REPO / "examples" / "text" / "ml100k_amr_text.yaml",
}


def _suffix(overrides: list[str]) -> str:
    """' id_dropout=0.5' for ['model.id_dropout=0.5']: the last key component, so names stay short."""
    return "".join(f" {o.split('=', 1)[0].split('.')[-1]}={o.split('=', 1)[1]}" for o in overrides)


def _variants(
    amr_eps: list[float], text_variants: list[list[str]] | None = None, amr_set: list[str] | None = None
) -> dict[str, tuple[Path, list[str]]]:
    """mf, text, one text variant per entry of ``text_variants`` (overrides of the text config), and one
    AMR run per ε, on the text model with ``amr_set``'s overrides (e.g. the text variant chosen on valid)."""
    # "text" stays the plain text model (every item keeps its ID embedding), whatever the example's default
    out = {"mf": (CONFIGS["mf"], []), "text": (CONFIGS["text"], ["model.id_min_count=0"])}
    for overrides in text_variants or []:
        out["text" + _suffix(overrides)] = (CONFIGS["text"], overrides)
    amr_set = amr_set or []
    for eps in amr_eps:
        out[f"amr eps={eps}" + _suffix(amr_set)] = (CONFIGS["amr"], [f"adversary.eps={eps}", *amr_set])
    return out


def _folder(out: Path, name: str, seed: int) -> Path:
    return out / name.replace(" ", "_").replace("=", "") / f"seed{seed}"


def train_one(task: tuple[str, int], args: argparse.Namespace) -> str | None:
    """Train one variant for one seed (a finished run is reused); returns its log line. The test figure is
    left out of the line under ``--select-only`` (a setting is chosen on valid without seeing the test)."""
    from advrec.runs.config import load_config
    from advrec.runs.train import train_run

    name, seed = task
    config_path, extra = _all_variants(args)[name]
    run_dir = _folder(Path(args.out), name, seed)
    if _finished(run_dir) is not None:
        return None
    start = time.perf_counter()
    resume = (run_dir / "checkpoints" / "last.pt").exists()
    config = load_config(config_path, [f"seed={seed}", "threads=1", *args.common, *extra])
    res = train_run(config, run_dir, data_root=args.data_root, resume=resume, show_progress=False)
    test = "" if args.select_only else f"test {res['test']['ndcg@10']:.4f}, "
    line = (
        f"{name} seed {seed}: valid ndcg@10 {res['valid']['ndcg@10']:.4f}, {test}"
        f"best epoch {res['best_epoch']}, {time.perf_counter() - start:.0f} s"
    )
    print(line, flush=True)
    return line


def _all_variants(args: argparse.Namespace) -> dict[str, tuple[Path, list[str]]]:
    return _variants(args.amr_eps, args.text_variant, args.amr_set)


def _valid_tail_metrics(run_dir: Path) -> dict[str, float]:
    """Overall VALID metrics and the two tails on the valid split (tail drawn from the valid interactions),
    the ranking past train as in model selection: what ``--select-only`` chooses on. No test is read."""
    import dataclasses

    import torch

    from advrec.measure.protocol import Protocol
    from advrec.measure.tail import restrict_valid, tail_items, tail_items_by_test_share
    from advrec.runs.load import load_run

    config, split, model = load_run(run_dir)
    cfg = config.eval.model_copy(update={"ks": [10, 50], "metrics": ["ndcg", "recall"]})
    protocol = dataclasses.replace(Protocol.from_split(split, config.eval, config.device), cfg=cfg)
    tails = {
        "all": np.arange(split.train.n_items),
        "cat": tail_items(split.train, 0.2),
        "valid": tail_items_by_test_share(split.train, split.valid.items, 0.2),
    }
    out: dict[str, float] = {}
    for name, items in tails.items():
        with torch.inference_mode():
            metrics = restrict_valid(protocol, items).validate(model)
        out[f"{name}_ndcg@10"] = metrics["ndcg@10"]
        out[f"{name}_recall@50"] = metrics["recall@50"]
    return out


def select_report(args: argparse.Namespace, seeds: list[int]) -> None:
    """Valid-only table of every variant run (overall, tail-20%-of-valid, tail-20%-of-items)."""
    header = ["variant", "seed", "best epoch / epochs run", "valid NDCG@10", "Recall@50"]
    header += ["tail-20%-of-valid NDCG@10", "Recall@50", "tail-20%-of-items NDCG@10", "Recall@50"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in _all_variants(args):
        for seed in seeds:
            run_dir = _folder(Path(args.out), name, seed)
            results = _finished(run_dir)
            if results is None:
                continue
            m = _valid_tail_metrics(run_dir)
            cells = [name, str(seed), f"{results['best_epoch']}/{results['epochs_run']}"]
            cells += [f"{m[k]:.4f}" for k in ("all_ndcg@10", "all_recall@50", "valid_ndcg@10")]
            cells += [f"{m[k]:.4f}" for k in ("valid_recall@50", "cat_ndcg@10", "cat_recall@50")]
            lines.append("| " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    text = "\n".join(lines)
    print(text)
    atomic_write_text(Path(args.out) / "select.md", text + "\n")


def tail_metrics(run_dir: Path) -> dict[str, float]:
    """NDCG@10 and Recall@50 on two tails: the catalogue's least popular 20% (``cat``) and the least popular
    items holding 20% of the test interactions (``test``); see :mod:`advrec.measure.tail`."""
    import dataclasses

    import torch

    from advrec.measure.protocol import Protocol
    from advrec.measure.tail import restrict_test, tail_items, tail_items_by_test_share
    from advrec.runs.load import load_run

    config, split, model = load_run(run_dir)
    cfg = config.eval.model_copy(update={"ks": [10, 50], "metrics": ["ndcg", "recall"]})
    protocol = dataclasses.replace(Protocol.from_split(split, config.eval, config.device), cfg=cfg)
    out: dict[str, float] = {}
    tails = {
        "all": np.arange(split.train.n_items),  # every test item: the overall test figures at k = 50 too
        "cat": tail_items(split.train, 0.2),
        "test": tail_items_by_test_share(split.train, split.test.items, 0.2),
    }
    for name, items in tails.items():
        tail = restrict_test(protocol, items)
        with torch.inference_mode():
            metrics = tail.test_metrics(model)
        out[f"{name}_ndcg@10"] = metrics["ndcg@10"]
        out[f"{name}_recall@50"] = metrics["recall@50"]
        out[f"{name}_items"] = len(items)
        out[f"{name}_max_train_count"] = int(
            np.bincount(split.train.items, minlength=split.train.n_items)[items].max()
        )
        out[f"{name}_users"] = int((tail.test.getnnz(axis=1) > 0).sum())
        out[f"{name}_interactions"] = int(tail.test.nnz)
    return out


def _per_user_tail(run_dir: Path) -> dict[str, np.ndarray]:
    """Per-user tail-20%-of-test NDCG@10 and Recall@50 (users in index order) for paired tests."""
    import dataclasses

    import torch

    from advrec.measure.protocol import Protocol
    from advrec.measure.tail import restrict_test, tail_items_by_test_share
    from advrec.runs.load import load_run

    config, split, model = load_run(run_dir)
    cfg = config.eval.model_copy(update={"ks": [10, 50], "metrics": ["ndcg", "recall"]})
    protocol = dataclasses.replace(Protocol.from_split(split, config.eval, config.device), cfg=cfg)
    tail = restrict_test(protocol, tail_items_by_test_share(split.train, split.test.items, 0.2))
    with torch.inference_mode():
        metrics = tail.test_metrics(model, per_user=True)
    return {"users": metrics["users"], **{k: metrics["per_user"][k] for k in ("ndcg@10", "recall@50")}}


def paired_vs_mf(out: Path, name: str, seed: int) -> dict[str, float]:
    """Paired tests, users as pairs, of a variant against ID-only MF on one seed's tail-20%-of-test (the
    same split, so the same tail users): mean difference and two-sided t / Wilcoxon p-values."""
    from advrec.measure.significance import paired_tests

    a, b = _per_user_tail(_folder(out, name, seed)), _per_user_tail(_folder(out, "mf", seed))
    if not np.array_equal(a["users"], b["users"]):
        raise ValueError(f"{name} seed {seed}: the tail users differ from mf's (not the same split?)")
    row: dict[str, float] = {"n_users": len(a["users"])}
    for key in ("ndcg@10", "recall@50"):
        tests = paired_tests(a[key], b[key])
        row[f"{key} diff"] = tests["t"].mean_diff
        row[f"{key} t p"] = tests["t"].pvalue
        row[f"{key} wilcoxon p"] = tests["wilcoxon"].pvalue
    return row


def _paired_table(table: dict[str, list[dict]]) -> list[str]:
    header = ["method vs mf", "seed", "tail users", "NDCG@10 diff", "t p", "Wilcoxon p"]
    header += ["Recall@50 diff", "t p", "Wilcoxon p"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, rows in table.items():
        for r in rows:
            if "paired" not in r:
                continue
            p = r["paired"]
            cells = [name, str(r["seed"]), str(p["n_users"])]
            for key in ("ndcg@10", "recall@50"):
                cells += [
                    f"{p[key + ' diff']:+.4f}",
                    f"{p[key + ' t p']:.3f}",
                    f"{p[key + ' wilcoxon p']:.3f}",
                ]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _mean_std(values: list[float], digits: int = 4) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {std:.{digits}f}"


def encode_timing(args: argparse.Namespace) -> None:
    """Load all-MiniLM-L6-v2 and encode the 1,682 ML-100K texts with no cache; print the seconds."""
    import torch

    from advrec.data.text import read_ml100k_texts
    from advrec.data.text_encoder import TextEncoder

    texts = read_ml100k_texts(Path(args.data_root) / "ml-100k" / "u.item")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        encoder = TextEncoder()
        start = time.perf_counter()
        encoder.encode(texts.texts[:2])  # loads the model
        loaded = time.perf_counter()
        matrix = encoder.encode(texts.texts)
        done = time.perf_counter()
        print(
            f"threads {threads}: load {loaded - start:.1f} s, encode {len(texts.texts)} texts "
            f"{done - loaded:.1f} s -> {matrix.shape}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--out", default="/tmp/text-bench")
    parser.add_argument("--seeds", default="2020,2021,2022")
    parser.add_argument("--amr-eps", default="0.05,0.1,0.3")
    parser.add_argument("--kinds", default="promo,popular")
    parser.add_argument("--targets", default="unpopular:10,mid:10")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--set", dest="common", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--encode-timing", action="store_true")
    parser.add_argument(
        "--include-unfinished",
        action="store_true",
        help="report unfinished runs from their best checkpoint so far",
    )
    parser.add_argument(
        "--report-only", action="store_true", help="no training; unfinished runs are left out"
    )
    parser.add_argument("--only", action="append", help="train only these variants (e.g. text), no report")
    parser.add_argument(
        "--text-variant",
        action="append",
        default=[],
        metavar="'KEY=VALUE ...'",
        help="an extra text-model variant: space-separated overrides of the text config (repeatable)",
    )
    parser.add_argument(
        "--amr-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="overrides of the AMR runs' text model (e.g. the text variant chosen on valid)",
    )
    parser.add_argument(
        "--select-only",
        action="store_true",
        help="train, then report VALID metrics only (overall and tails), no test, no attack",
    )
    args = parser.parse_args()
    if args.encode_timing:
        encode_timing(args)
        return
    args.amr_eps = [float(e) for e in args.amr_eps.split(",")] if args.amr_eps else []
    args.text_variant = [v.split() for v in args.text_variant]
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out)
    if not args.report_only:
        names = [n for n in _all_variants(args) if not args.only or n in args.only]
        tasks = [(name, seed) for seed in seeds for name in names]
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            list(pool.map(train_one, tasks, [args] * len(tasks)))
    if args.select_only:
        select_report(args, seeds)
        return
    if args.only:
        return

    from advrec.attack.text_attack import text_attack_run
    from advrec.data.text_encoder import TextEncoder

    encoder = TextEncoder()  # one loaded model for every probe
    variants = _all_variants(args)
    kinds, target_specs = args.kinds.split(","), args.targets.split(",")
    table: dict[str, list[dict]] = {name: [] for name in variants}
    for seed in seeds:
        for name in variants:
            run_dir = _folder(out, name, seed)
            results = _finished(run_dir)
            if results is None and args.include_unfinished and (run_dir / "checkpoints" / "best.pt").exists():
                results = _best_so_far(run_dir)
            if results is None:
                print(f"{name} seed {seed}: not finished, left out", flush=True)
                continue
            row = {"seed": seed, "valid": results["valid"]["ndcg@10"], "test": results["test"]["ndcg@10"]}
            row["best_epoch"] = results["best_epoch"]
            row["epochs_run"] = results["epochs_run"]
            row["cut"] = results.get("cut", False)
            row.update(tail_metrics(run_dir))
            if name != "mf" and _finished(_folder(out, "mf", seed)) is not None:
                row["paired"] = paired_vs_mf(out, name, seed)
            if name != "mf":
                for kind in kinds:
                    for targets in target_specs:
                        row[f"{kind} {targets}"] = text_attack_run(run_dir, kind, targets, encoder=encoder)
            table[name].append(row)
            print(
                f"{name} seed {seed}: "
                f"{json.dumps({k: v for k, v in row.items() if ' ' not in k and k != 'paired'})}",
                flush=True,
            )
    table = {name: rows for name, rows in table.items() if rows}
    text = "\n".join(
        _accuracy_table(table)
        + [""]
        + _paired_table(table)
        + [""]
        + _attack_table(table, kinds, target_specs)
    )
    print(text)
    first = table["mf"][0]
    for name in ("test", "cat"):
        counts = {k: first[f"{name}_{k}"] for k in ("items", "max_train_count", "users", "interactions")}
        print(f"tail {name} (seed {first['seed']}): {counts}")
    atomic_write_text(out / "table.md", text + "\n")
    summary = {n: [{k: v for k, v in r.items() if " " not in k} for r in rows] for n, rows in table.items()}
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))


def _finished(run_dir: Path) -> dict | None:
    path = run_dir / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    return results if "test" in results else None  # a probe alone also writes results.json


def _best_so_far(run_dir: Path) -> dict:
    """An unfinished run cut short: its best checkpoint so far (selected on valid), tested now."""
    from advrec.runs.load import evaluate_run

    log = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    # Epochs before the adversary starts (no adv_eps) are never selected; the checkpoint is the first best.
    adversarial = any("adv_eps" in e for e in log)
    scored = [e for e in log if "valid" in e and (not adversarial or "adv_eps" in e)]
    best = max(scored, key=lambda e: e["valid"]["ndcg@10"])
    test = evaluate_run(run_dir)
    return {
        "valid": best["valid"],
        "test": test,
        "best_epoch": best["epoch"],
        "epochs_run": len(log),
        "cut": True,
    }


def _seeds(rows: list[dict]) -> str:
    return ", ".join(str(r["seed"]) for r in rows)


def _accuracy_table(table: dict[str, list[dict]]) -> list[str]:
    amr = [n for n in table if n.startswith("amr")]
    chosen = max(amr, key=lambda n: statistics.mean(r["valid"] for r in table[n])) if len(amr) > 1 else None
    keys = [
        "valid",
        "test",
        "all_recall@50",
        "test_ndcg@10",
        "test_recall@50",
        "cat_ndcg@10",
        "cat_recall@50",
    ]
    header = ["method", "seeds", "best epoch / epochs run", "valid NDCG@10", "test NDCG@10", "test Recall@50"]
    header += ["tail-20%-of-test NDCG@10", "Recall@50", "tail-20%-of-items NDCG@10", "Recall@50"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, rows in table.items():
        label = name + (" (chosen on valid)" if name == chosen else "")
        epochs = ", ".join(
            f"{r['best_epoch']}/{r['epochs_run']}" + (" (cut)" if r["cut"] else "") for r in rows
        )
        cells = [label, _seeds(rows), epochs]
        cells += [_mean_std([r[k] for r in rows]) for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "| " + " | ".join(["method", "seed", *header[3:]]) + " |", "|" + "---|" * (len(header) - 1)]
    for name, rows in table.items():  # the same figures per seed
        for r in rows:
            lines.append("| " + " | ".join([name, str(r["seed"]), *(f"{r[k]:.4f}" for k in keys)]) + " |")
    return lines


def _attack_table(table: dict[str, list[dict]], kinds: list[str], target_specs: list[str]) -> list[str]:
    header = [
        "method",
        "seeds",
        "attack",
        "targets",
        "mean rank before → after",
        "rank gain",
        "hit@50 → after",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, rows in table.items():
        if name == "mf":
            continue
        for kind in kinds:
            for targets in target_specs:
                entries = [r[f"{kind} {targets}"] for r in rows]
                before = _mean_std([e["before"]["target_mean_rank"] for e in entries], 0)
                after = _mean_std([e["after"]["target_mean_rank"] for e in entries], 0)
                hb = _mean_std([e["before"]["target_hit@50"] for e in entries], 3)
                ha = _mean_std([e["after"]["target_hit@50"] for e in entries], 3)
                gain = _mean_std([e["rank_gain"] for e in entries], 1)
                per_seed = ", ".join(f"{e['rank_gain']:.0f}" for e in entries)
                cells = [name, _seeds(rows), kind, targets, f"{before} → {after}", f"{gain} ({per_seed})"]
                lines.append("| " + " | ".join([*cells, f"{hb} → {ha}"]) + " |")
    return lines


if __name__ == "__main__":
    main()
