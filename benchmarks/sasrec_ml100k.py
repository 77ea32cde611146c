"""SASRec on MovieLens-100K, RecBole's leave-one-out split, full ranking: quality and time to best.

Not a test: ``python benchmarks/sasrec_ml100k.py --data-root ../shared/data --out /tmp/sasrec-bench``
(``--seeds 2020,2021,2022``, ``--config examples/sequential/ml100k_sasrec.yaml``, ``--set key=value``
overrides,
``--jobs N`` runs seeds in parallel processes). A seed whose ``OUT/seed<S>/results.json`` exists is
reused. Per seed and as mean ± sample std over seeds it reports test NDCG@10 / Hit@10 with and without
the history masked, the best epoch, train seconds per epoch (wall, and CPU of the process), and the
time to best: the wall (and CPU) seconds of training plus validation up to and including the best epoch,
read from ``metrics.jsonl``. Writes ``OUT/summary.json`` and prints a Markdown table.

Adversarial training and the robustness probe: ``--init-from DIR`` starts seed S from ``DIR/seed<S>``'s
best model (``train.init_from``; e.g. ``--config examples/sequential/ml100k_apr_sasrec.yaml`` after a plain
benchmark in DIR), and ``--probe-eps 0.1,0.25,...`` probes every seed's best model with FGSM
(``advrec evaluate --attack fgsm --eps-mode relative``, kept in its ``results.json``) and reports the
relative drop of test NDCG@10 and Hit@10 (both maskings) and of the same-norm random control per ε.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
METRICS = ("ndcg@10", "hit@10", "masked_ndcg@10", "masked_hit@10")


def seed_summary(run: Path) -> dict[str, float]:
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    best = results["best_epoch"]
    upto = [e for e in log if e["epoch"] <= best]
    out = {m: results["test"][m] for m in METRICS}
    out.update(
        best_epoch=best + 1,
        epochs_run=results["epochs_run"],
        valid_ndcg10=results["valid"]["ndcg@10"],
        s_per_epoch=statistics.mean(e["train_s"] for e in log),
        cpu_s_per_epoch=statistics.mean(e["train_cpu_s"] for e in log),
        wall_to_best_s=sum(e["train_s"] + e.get("eval_s", 0.0) for e in upto),
        train_cpu_to_best_s=sum(e["train_cpu_s"] for e in upto),
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--config", default=str(REPO / "examples" / "sequential" / "ml100k_sasrec.yaml"))
    parser.add_argument("--seeds", default="2020,2021,2022")
    parser.add_argument("--set", action="append", default=[], help="config override key=value")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--init-from", help="folder of a finished benchmark: seed S starts from DIR/seedS")
    parser.add_argument("--probe-eps", help="comma-separated relative ε of an FGSM probe of each seed")
    args = parser.parse_args()
    out = Path(args.out)
    seeds = [int(s) for s in args.seeds.split(",")]
    todo = [s for s in seeds if not (out / f"seed{s}" / "results.json").exists()]
    procs: list[subprocess.Popen] = []
    for seed in todo:
        cmd = [sys.executable, "-m", "advrec", "train", args.config, "--data-root", args.data_root]
        cmd += ["--out", str(out / f"seed{seed}"), "--quiet", "--set", f"seed={seed}"]
        for item in args.set:
            cmd += ["--set", item]
        if args.init_from:
            cmd += ["--set", f"train.init_from={Path(args.init_from).resolve() / f'seed{seed}'}"]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL))
        if len(procs) >= args.jobs and procs.pop(0).wait() != 0:
            sys.exit("a run failed")
    if any(p.wait() != 0 for p in procs):
        sys.exit("a run failed")
    per_seed = {s: seed_summary(out / f"seed{s}") for s in seeds}
    keys = list(next(iter(per_seed.values())))
    agg = {}
    for k in keys:
        vals = [per_seed[s][k] for s in seeds]
        agg[k] = {"mean": statistics.mean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0}
    summary = {"per_seed": per_seed, "mean_std": agg}
    if args.probe_eps:
        summary["probe"] = probe(out, seeds, [float(e) for e in args.probe_eps.split(",")])
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print("| seed | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for s in seeds:
        print(f"| {s} | " + " | ".join(f"{per_seed[s][k]:.4g}" for k in keys) + " |")
    print("| mean ± std | " + " | ".join(f"{agg[k]['mean']:.4g} ± {agg[k]['std']:.2g}" for k in keys) + " |")


def probe(out: Path, seeds: list[int], eps: list[float]) -> dict[str, dict[str, dict[str, float]]]:
    """FGSM (relative ε) on every seed's best model; mean ± std over seeds of each relative drop."""
    from advrec.runs.probe import robustness_run

    curves = {}
    for seed in seeds:
        run = out / f"seed{seed}"
        done = json.loads((run / "results.json").read_text(encoding="utf-8")).get("robustness", {})
        probed = done.get("settings", {}).get("fgsm", {}).get("eps_mode") == "relative" and all(
            str(e) in done.get("fgsm", {}) for e in eps
        )
        curves[seed] = done if probed else robustness_run(run, eps, attack="fgsm", eps_mode="relative")
    table: dict[str, dict[str, dict[str, float]]] = {}
    print("\n| ε (relative) | metric | FGSM drop | random drop |\n|---|---|---|---|")
    for e in eps:
        row = table[str(e)] = {}
        for metric in METRICS:
            for kind in ("fgsm", "random"):
                values = [
                    (curves[s]["fgsm"] if kind == "fgsm" else curves[s]["random"]["fgsm"])[str(e)][
                        f"{metric}_drop"
                    ]
                    for s in seeds
                ]
                sd = statistics.stdev(values) if len(values) > 1 else 0.0
                row[f"{kind}:{metric}"] = {"mean": statistics.mean(values), "std": sd}
            f, r = row[f"fgsm:{metric}"], row[f"random:{metric}"]
            print(f"| {e} | {metric} | {f['mean']:.3f} ± {f['std']:.3f} | {r['mean']:.3f} ± {r['std']:.3f} |")
    return table


if __name__ == "__main__":
    main()
