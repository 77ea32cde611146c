"""mf_features (VBPR-like) plain vs AMR on MovieLens-100K genres: clean accuracy and a feature FGSM probe.

Not a test. First derive the features, then run::

    python benchmarks/make_ml100k_genre_features.py /tmp/ml100k-genres
    python benchmarks/amr_features.py --data-root ../shared/data --out /tmp/amr-bench --seeds 2020,2021,2022

For each seed it trains ``examples/adversarial/ml100k_amr_genres.yaml`` twice on the same split: once with
``adversary.name=none`` (plain) and once as configured (AMR: FGSM on the item feature vectors), then probes
each best model with FGSM on the item features only (``targets: [item_features]``, absolute ε, gradient of
the BPR loss over all training interactions) next to the same-norm random control, and prints mean ± std
of test NDCG@10 and of its relative drop at each ε. ``--set``/``--amr-set`` pass overrides to both runs /
the AMR runs only. Every run folder stays under ``--out``; finished runs are reused.

Two columns say how much the best model relies on the features: the mean over users of ||Eᵀ p_u|| (the
largest change of u's scores per unit of feature perturbation) and the standard deviation over all
(user, item) pairs of the feature term <p_u, E f_i> of the score, next to that of the embedding term
<p_u, q_i>.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from advrec.runs.config import load_config
from advrec.runs.load import load_run
from advrec.runs.probe import robustness_run
from advrec.runs.train import train_run

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "examples" / "adversarial" / "ml100k_amr_genres.yaml"


def _fmt(values: list[float], pct: bool = False) -> str:
    scale = 100.0 if pct else 1.0
    mean = statistics.mean(values) * scale
    std = statistics.stdev(values) * scale if len(values) > 1 else 0.0
    return f"{mean:.1f}% ± {std:.1f}" if pct else f"{mean:.4f} ± {std:.4f}"


def feature_reliance(run_dir: Path) -> dict[str, float]:
    """Mean ||E^T p_u||, and the std of the feature and embedding terms of the score, of the best model."""
    _, _, model = load_run(run_dir)
    with torch.no_grad():
        p, q = model.user_embedding.weight, model.item_embedding.weight
        e, f = model.projection, model.item_features
        return {
            "sensitivity": (p @ e).norm(dim=1).mean().item(),
            "feature_std": (p @ (f @ e.T).T).std().item(),
            "embedding_std": (p @ q.T).std().item(),
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--out", default="/tmp/amr-bench")
    parser.add_argument("--seeds", default="2020,2021,2022")
    parser.add_argument("--eps", default="0.25,0.5,1.0,2.0")
    parser.add_argument("--set", dest="common", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--amr-set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    eps_list = [float(e) for e in args.eps.split(",")]
    variants = {"mf_features": ["adversary.name=none"], "AMR (features)": args.amr_set}
    rows: dict[str, list[dict]] = {name: [] for name in variants}
    for seed in seeds:
        for name, extra in variants.items():
            run_dir = Path(args.out) / name.split()[0] / f"seed{seed}"
            result_path = run_dir / "results.json"
            start = time.perf_counter()
            if not result_path.exists():
                config = load_config(CONFIG, [f"seed={seed}", *args.common, *extra])
                train_run(config, run_dir, data_root=args.data_root, show_progress=False)
            probe = robustness_run(run_dir, eps_list, attack="fgsm", targets=["item_features"])
            results = json.loads(result_path.read_text())
            rows[name].append({"results": results, "probe": probe, "reliance": feature_reliance(run_dir)})
            print(
                f"{name} seed {seed}: test ndcg@10 {results['test']['ndcg@10']:.4f}, best epoch "
                f"{results['best_epoch']} of {results['epochs_run']}, "
                f"{results['timing']['train_s_per_epoch']:.3f} s/epoch, {time.perf_counter() - start:.0f} s",
                flush=True,
            )
    header = ["method", "clean NDCG@10", "best epochs (0-based)", "‖Eᵀp_u‖", "std <p,Ef> / <p,q>"]
    header += [f"FGSM ε={e}" for e in eps_list] + [f"random ε={e}" for e in eps_list]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, runs in rows.items():
        cells = [name, _fmt([r["results"]["test"]["ndcg@10"] for r in runs])]
        cells.append(", ".join(str(r["results"]["best_epoch"]) for r in runs))
        cells.append(f"{statistics.mean(r['reliance']['sensitivity'] for r in runs):.3f}")
        feature_std = statistics.mean(r["reliance"]["feature_std"] for r in runs)
        embedding_std = statistics.mean(r["reliance"]["embedding_std"] for r in runs)
        cells.append(f"{feature_std:.3f} / {embedding_std:.2f}")
        for curve in (lambda p: p["fgsm"], lambda p: p["random"]["fgsm"]):
            for e in eps_list:
                cells.append(_fmt([curve(r["probe"])[str(e)]["ndcg@10_drop"] for r in runs], pct=True))
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "table.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
