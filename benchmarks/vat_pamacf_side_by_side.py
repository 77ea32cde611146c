#!/usr/bin/env python3
"""advrec's VAT and PamaCF beside their authors' code on one MovieLens-100K split: MF-BPR victims, clean
test NDCG@10 and Recall@20, and each defence's training cost per epoch as a ratio to plain training.

Both codes train on RecBole's seed-2020 per-user 80/10/10 split (``DATA_ROOT/ml-100k-recbole-split``), with
the authors' protocol wherever advrec has the setting: MF dim 64, N(0, 0.1) init, BPR with one uniform
negative, batch 2048, AdamW (lr 1e-3, torch's default decoupled weight decay 0.01), L2 1e-4 on the
batch's mean squared row norms (advrec ``train.l2`` 2e-4: it halves), 30 epochs, the adversary on from
epoch 5 (advrec ``start_epoch`` 4, 0-based), reg_adv 1, λ 2, and the authors' MF ε for Gowalla
(APR 0.3, VAT 0.6, PamaCF 0.9: their tuned values; ML-100K is not among their datasets).

Differences that remain, by design of each code (documented with the results):

* sampling: the authors draw each example's user uniformly, then a positive of that user; advrec visits
  every training interaction once per epoch (users in proportion to their interactions);
* perturbation: the authors perturb each example's gathered user and item vectors; advrec perturbs table
  rows (one Δ per row per batch, an item row's radius the mean multiplier of its examples);
* VAT's L_u: the authors sum a user's losses in the batch, advrec's default takes their mean
  (``adversary.user_loss``);
* training loop: advrec's plain MF would pick its fused whole-epoch kernel; here every advrec run uses
  the autograd loop the adversaries train in (``train.kernel=autograd``, the same numbers per epoch), so
  the cost ratios compare one loop;
* selection: the authors test the model after the last epoch (their validation interval exceeds the
  epochs); advrec tests the epoch with the best valid NDCG@10 (reported as ``best epoch``).

Both are scored by one evaluator here (full ranking, train and valid items masked, every test user), and
advrec's own reported test NDCG@10 is printed beside it as a check of that evaluator.

The authors' code runs from checkouts given by path (``--vat-checkout``, ``--pamacf-checkout``) through
``vat_pamacf_authors_driver.py`` as child processes; advrec through its CLI. Runs are kept under ``--out``
and reused on a rerun.

Usage::

    python benchmarks/vat_pamacf_side_by_side.py --vat-checkout PATH --pamacf-checkout PATH \\
        --data-root ../shared/data --out runs/vat-pamacf [--seeds 2024,2025,2026] [--epochs 30] \
        [--methods none,vat,pamacf] [--eps vat=0.3,pamacf=0.3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "examples/basics/ml100k_recbole_split_mf_bpr.yaml"
SPLIT = "ml-100k-recbole-split"
METHODS = ("none", "apr", "vat", "pamacf")
AUTHORS_EPS = {"apr": 0.3, "vat": 0.6, "pamacf": 0.9}  # their MF setting on Gowalla
AUTHORS_NAME = {"none": "none", "apr": "APR", "vat": "VAT", "pamacf": "PamaCF"}
BEGIN_ADV = 5  # their first adversarial epoch, counted from 1


def advrec_sets(method: str, seed: int, epochs: int, eps: dict[str, float]) -> list[str]:
    sets = [
        f"seed={seed}",
        "threads=1",
        "model.init_std=0.1",
        "train.l2=0.0002",
        "train.optimizer.name=adamw",
        "train.optimizer.weight_decay=0.01",
        f"train.epochs={epochs}",
        f"train.patience={epochs}",
        "train.kernel=autograd",  # the loop the adversaries train in (plain MF has a faster fused kernel)
    ]
    if method != "none":
        sets += [f"adversary.name={method}", f"adversary.eps={eps[method]}"]
        sets += [f"adversary.start_epoch={BEGIN_ADV - 1}", "adversary.reg_adv=1.0"]
    return sets


def run(cmd: list[str], log: Path) -> None:
    print("$", " ".join(cmd), flush=True)
    with log.open("w") as out:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}; see {log}")


def tag(method: str, args: argparse.Namespace) -> str:
    """A run's folder name: the method, and its ε where it is not the authors' Gowalla value."""
    if method == "none" or args.eps[method] == AUTHORS_EPS[method]:
        return method
    return f"{method}-eps{args.eps[method]}"


def read_pairs(path: Path) -> list[tuple[str, str]]:
    return [tuple(line.split("\t")[:2]) for line in path.read_text().splitlines() if line]  # type: ignore[misc]


def evaluate(scores: np.ndarray, users: list[str], items: list[str], split_dir: Path) -> dict[str, float]:
    """Full-ranking NDCG@10 and Recall@20 over every test user, train and valid items masked."""
    uid = {u: k for k, u in enumerate(users)}
    iid = {i: k for k, i in enumerate(items)}
    seen: dict[int, list[int]] = {}
    test: dict[int, list[int]] = {}
    for part, target in (("train", seen), ("valid", seen), ("test", test)):
        for u, i in read_pairs(split_dir / f"{part}.tsv"):
            target.setdefault(uid[u], []).append(iid[i])
    discounts = 1.0 / np.log2(np.arange(2, 12))
    ndcg, recall = [], []
    for u, relevant in test.items():
        row = scores[u].astype(np.float64).copy()
        row[seen.get(u, [])] = -np.inf
        top = np.argsort(-row, kind="stable")[:20]
        hits = np.isin(top, relevant)
        ideal = discounts[: min(len(relevant), 10)].sum()
        ndcg.append(float((hits[:10] * discounts).sum() / ideal))
        recall.append(float(hits.sum() / len(relevant)))
    return {"ndcg@10": float(np.mean(ndcg)), "recall@20": float(np.mean(recall)), "users": len(test)}


def advrec_scores(folder: Path) -> tuple[np.ndarray, list[str], list[str]]:
    import torch

    from advrec.runs.load import load_run

    _, split, model = load_run(folder, device="cpu")
    model.eval()
    with torch.no_grad():
        scores = model.full_scores(torch.arange(model.n_users)).numpy()
    users = [str(x) for x in split.train.user_map.raw.tolist()]
    items = [str(x) for x in split.train.item_map.raw.tolist()]
    return scores, users, items


def advrec_run(method: str, seed: int, args: argparse.Namespace) -> dict:
    folder = args.out / f"advrec-{tag(method, args)}-s{seed}"
    if not (folder / "results.json").exists():
        cmd = [sys.executable, "-m", "advrec", "train", str(CONFIG), "--data-root", str(args.data_root)]
        cmd += ["--out", str(folder), "--quiet"]
        for item in advrec_sets(method, seed, args.epochs, args.eps):
            cmd += ["--set", item]
        args.out.mkdir(parents=True, exist_ok=True)
        run(cmd, args.out / f"advrec-{tag(method, args)}-s{seed}.log")
    results = json.loads((folder / "results.json").read_text())
    log = [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines()]
    metrics = evaluate(*advrec_scores(folder), args.data_root / SPLIT)
    return {
        **metrics,
        "reported_ndcg@10": results["test"]["ndcg@10"],
        "best_epoch": results["best_epoch"] + 1,
        "epoch_s": [x["train_s"] for x in log],
    }


def authors_run(method: str, seed: int, args: argparse.Namespace) -> dict:
    folder = args.out / f"authors-{tag(method, args)}-s{seed}"
    if not (folder / "scores.npy").exists():
        checkout = args.pamacf_checkout if method == "pamacf" else args.vat_checkout
        cmd = [sys.executable, str(Path(__file__).with_name("vat_pamacf_authors_driver.py")), str(checkout)]
        cmd += [str(args.data_root / SPLIT), str(folder), "--defense", AUTHORS_NAME[method]]
        cmd += ["--seed", str(seed), "--epochs", str(args.epochs), "--begin-adv", str(BEGIN_ADV)]
        if method != "none":
            cmd += ["--eps", str(args.eps[method])]
        args.out.mkdir(parents=True, exist_ok=True)
        run(cmd, args.out / f"authors-{tag(method, args)}-s{seed}.log")
    scores = np.load(folder / "scores.npy")
    users = (folder / "users.txt").read_text().split()
    items = (folder / "items.txt").read_text().split()
    metrics = evaluate(scores, users, items, args.data_root / SPLIT)
    return {**metrics, "epoch_s": json.loads((folder / "driver.json").read_text())["epoch_s"]}


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def cost_ratio(runs: dict, code: str, method: str, seeds: list[int]) -> float:
    """Mean seconds of an adversarial epoch ÷ mean seconds of a plain run's epoch, over the seeds."""
    first = BEGIN_ADV - 1
    adv = [s for seed in seeds for s in runs[code, method, seed]["epoch_s"][first:]]
    plain = [s for seed in seeds for s in runs[code, "none", seed]["epoch_s"]]
    return statistics.mean(adv) / statistics.mean(plain)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vat-checkout", type=Path, required=True)
    parser.add_argument("--pamacf-checkout", type=Path, required=True)
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", default="2024,2025,2026")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument(
        "--eps",
        default="",
        help="METHOD=ε,... instead of the authors' Gowalla values, e.g. vat=0.3,pamacf=0.3",
    )
    args = parser.parse_args()
    args.eps = {**AUTHORS_EPS, **{k: float(v) for k, v in (x.split("=") for x in args.eps.split(",") if x)}}
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = [m for m in args.methods.split(",") if m]
    if "none" not in methods:
        methods.insert(0, "none")  # the cost ratios need the plain runs
    runs = {}
    for seed in seeds:
        for method in methods:
            runs["advrec", method, seed] = advrec_run(method, seed, args)
            runs["authors", method, seed] = authors_run(method, seed, args)
            print(
                f"seed {seed} {method}: advrec {runs['advrec', method, seed]['ndcg@10']:.4f}, authors "
                f"{runs['authors', method, seed]['ndcg@10']:.4f} NDCG@10",
                flush=True,
            )
    lines = [
        f"seeds {', '.join(map(str, seeds))}; {args.epochs} epochs; ε {args.eps}; one evaluator for both",
        "",
        "| method | code | NDCG@10 | Recall@20 | advrec's own NDCG@10 | best epoch | s / epoch "
        "| cost ÷ plain |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for method in methods:
        for code in ("advrec", "authors"):
            rs = [runs[code, method, seed] for seed in seeds]
            own = mean_std([r["reported_ndcg@10"] for r in rs]) if code == "advrec" else "–"
            best = (
                ", ".join(str(r["best_epoch"]) for r in rs) if code == "advrec" else f"{args.epochs} (last)"
            )
            seconds = statistics.mean(s for r in rs for s in r["epoch_s"])
            ratio = "1" if method == "none" else f"{cost_ratio(runs, code, method, seeds):.2f}×"
            lines.append(
                f"| {method} | {code} | {mean_std([r['ndcg@10'] for r in rs])} | "
                f"{mean_std([r['recall@20'] for r in rs])} | {own} | {best} | {seconds:.2f} | {ratio} |"
            )
    table = "\n".join(lines)
    print(table)
    (args.out / "table.md").write_text(table + "\n")
    summary = {f"{c}/{m}/{s}": {k: v for k, v in r.items()} for (c, m, s), r in runs.items()}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
