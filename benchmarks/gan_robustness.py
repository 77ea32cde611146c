"""GAN recommenders against BPR-MF under the robustness probe, over seeds, with paired significance.

Not a test: ``python benchmarks/gan_robustness.py --data-root ../shared/data --out /tmp/gan-robust``.
For each seed it trains every method on the same per-user 80/10/10 split of MovieLens-100K (the split is
drawn from the seed, so one seed is one split for every method), unless ``OUT/<method>/seed<S>/results.json``
exists, and probes each best model (``advrec evaluate RUN --attack fgsm,pgd --eps-mode relative``): every
perturbable table moved by ε times each row's norm, next to the same-norm random control. Relative ε
because the models' tables differ in kind and scale (MF embeddings; IRGAN's player embeddings; CFGAN's
condition inputs and generator output vectors): an absolute ε would compare norms, not robustness.

Writes under ``--out``: ``curves.csv`` and ``table.md`` (relative drops of NDCG@10 and Recall@10, mean ±
std over seeds, per method, probe and ε, as ``apr_robustness.py``, then the absolute NDCG@10 drops),
and ``significance.md``: for each method against ``--baseline`` (BPR-MF), the paired t-test over seeds
(one pair per seed: the same split) of the relative NDCG@10 drop at each ε, and of clean NDCG@10.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import sys
from pathlib import Path

from advrec.measure.significance import paired_test
from advrec.runs.config import load_config
from advrec.runs.probe import robustness_run
from advrec.runs.train import train_run
from advrec.utils.files import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from apr_robustness import FIELDS, _fmt, summarise, table  # noqa: E402  (a sibling script, not a package)

METHODS: dict[str, tuple[str, list[str]]] = {
    "BPR-MF": ("examples/basics/ml100k_mf_bpr.yaml", []),
    "APR-MF": ("examples/adversarial/ml100k_apr_mf.yaml", []),
    "CFGAN": ("examples/gan/ml100k_cfgan.yaml", []),
    "CFGAN-noD": ("examples/gan/ml100k_cfgan.yaml", ["model.use_discriminator=false"]),
    "IRGAN": ("examples/gan/ml100k_irgan.yaml", []),
    "IRGAN-D": ("examples/gan/ml100k_irgan.yaml", ["model.recommend_with=discriminator"]),
}


def run_method(method: str, seed: int, out: Path, data_root: str, overrides: list[str]) -> Path:
    path, own = METHODS[method]
    run_dir = out / method / f"seed{seed}"
    if not (run_dir / "results.json").exists():
        config = load_config(REPO / path, [*own, *overrides, f"seed={seed}"])
        train_run(config, run_dir, data_root=data_root, resume=(run_dir / "checkpoints").exists())
    return run_dir


def probe(run_dir: Path, eps: list[float], attacks: list[str], pgd_steps: int) -> dict:
    results = json.loads((run_dir / "results.json").read_text())
    saved = results.get("robustness")
    if saved and all(
        a in saved
        and all(str(e) in saved[a] for e in eps)
        and saved["settings"][a].get("eps_mode") == "relative"
        for a in attacks
    ):
        return saved
    return robustness_run(run_dir, eps, attack=attacks, eps_mode="relative", pgd_steps=pgd_steps)


def absolute_table(probes: dict[str, list[dict]], attacks: list[str], eps: list[float], metric: str) -> str:
    """Absolute drops (clean minus perturbed ``metric``), mean ± std over seeds, beside the relative table:
    a model that starts lower can lose less in absolute terms and more in relative ones."""
    header = ["method", f"clean {metric}", "probe", *[f"ε={e} (absolute)" for e in eps], "seeds"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method, runs in probes.items():
        for attack in attacks:
            cells = [method, _fmt([r["clean"][metric] for r in runs]), attack.upper()]
            for e in eps:
                cells.append(_fmt([r["clean"][metric] - r[attack][str(e)][metric] for r in runs]))
            lines.append("| " + " | ".join([*cells, str(len(runs))]) + " |")
    return "\n".join(lines)


def significance(probes: dict[str, list[dict]], baseline: str, attacks: list[str], eps: list[float]) -> str:
    lines = [
        f"| method vs {baseline} | quantity | mean difference | t | p | seeds |",
        "|---|---|---|---|---|---|",
    ]
    base = probes[baseline]
    for method, runs in probes.items():
        if method == baseline:
            continue
        pairs = [
            ("clean NDCG@10", [r["clean"]["ndcg@10"] for r in runs], [r["clean"]["ndcg@10"] for r in base])
        ]
        for attack in attacks:
            for e in eps:
                pairs.append(
                    (
                        f"{attack.upper()} ε={e} NDCG@10 drop",
                        [r[attack][str(e)]["ndcg@10_drop"] for r in runs],
                        [r[attack][str(e)]["ndcg@10_drop"] for r in base],
                    )
                )
        for name, a, b in pairs:
            res = paired_test(a, b)
            stats = f"{res.mean_diff:+.4f} | {res.statistic:.2f} | {res.pvalue:.3g} | {res.n}"
            lines.append(f"| {method} | {name} | {stats} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--out", default="/tmp/gan-robust")
    parser.add_argument("--seeds", default="2020,2021,2022")
    parser.add_argument("--methods", default="BPR-MF,CFGAN,CFGAN-noD,IRGAN,IRGAN-D")
    parser.add_argument("--baseline", default="BPR-MF")
    parser.add_argument("--eps", default="0.25,0.5,1.0")
    parser.add_argument("--attacks", default="fgsm,pgd")
    parser.add_argument("--pgd-steps", type=int, default=10)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # a line per epoch, as the CLI prints
    out = Path(args.out)
    seeds = [int(s) for s in args.seeds.split(",")]
    eps = [float(e) for e in args.eps.split(",")]
    attacks = args.attacks.split(",")
    methods = args.methods.split(",")
    probes: dict[str, list[dict]] = {}
    for method in methods:
        probes[method] = []
        for seed in seeds:
            run_dir = run_method(method, seed, out, args.data_root, args.overrides)
            probes[method].append(probe(run_dir, eps, attacks, args.pgd_steps))
            print(f"{method} seed {seed}: probed", flush=True)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS)
    writer.writeheader()
    writer.writerows(summarise(probes, attacks))
    atomic_write_text(out / "curves.csv", buffer.getvalue())
    text = "\n\n".join(
        [
            *(table(probes, attacks, eps, m) for m in ("ndcg@10", "recall@10")),
            absolute_table(probes, attacks, eps, "ndcg@10"),
        ]
    )
    atomic_write_text(out / "table.md", text + "\n")
    print(text)
    if args.baseline in probes:
        sig = significance(probes, args.baseline, attacks, eps)
        atomic_write_text(out / "significance.md", sig + "\n")
        print(sig)


if __name__ == "__main__":
    main()
