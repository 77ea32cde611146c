"""What adversarial training costs: seconds per training epoch of each method next to its plain model.

Not a test: ``python benchmarks/adversarial_cost.py --data-root ../shared/data --out /tmp/adv-cost``.
Every method is an example config (MovieLens-100K, default protocol) with its adversary switched on from
the first epoch, trained for ``--epochs`` epochs in its own process with one thread. Methods run in
rounds, each round in a rotated order, so that load on a shared machine falls on all of them alike;
the table gives the median epoch over all rounds (first epoch of each run dropped) and the ratio to
the plain counterpart measured in the same invocation. Evaluation is excluded (``train_s`` only).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ALWAYS_ON = ["adversary.start_epoch=0", "adversary.start_after_plateau=0"]
# name -> (example, overrides, plain counterpart)
METHODS: dict[str, tuple[str, list[str], str | None]] = {
    "BPR-MF (fused kernel)": ("basics/ml100k_mf_bpr.yaml", [], None),
    "BPR-MF (autograd)": ("basics/ml100k_mf_bpr.yaml", ["train.kernel=autograd"], None),
    "APR-MF (FGSM)": ("adversarial/ml100k_apr_mf.yaml", ALWAYS_ON, "BPR-MF (autograd)"),
    "random-noise MF": (
        "adversarial/ml100k_apr_mf.yaml",
        [*ALWAYS_ON, "adversary.method=random"],
        "BPR-MF (autograd)",
    ),
    "PGD-MF (3 steps)": ("adversarial/ml100k_pgd_mf.yaml", ALWAYS_ON, "BPR-MF (autograd)"),
    "VAT-MF": ("adversarial/ml100k_apr_mf.yaml", [*ALWAYS_ON, "adversary.name=vat"], "BPR-MF (autograd)"),
    "PamaCF-MF": (
        "adversarial/ml100k_apr_mf.yaml",
        [*ALWAYS_ON, "adversary.name=pamacf"],
        "BPR-MF (autograd)",
    ),
    "LightGCN": ("basics/ml100k_lightgcn.yaml", [], None),
    "APR-LightGCN (FGSM)": ("adversarial/ml100k_apr_lightgcn.yaml", ALWAYS_ON, "LightGCN"),
    "VAT-LightGCN": ("adversarial/ml100k_apr_lightgcn.yaml", [*ALWAYS_ON, "adversary.name=vat"], "LightGCN"),
    "PamaCF-LightGCN": (
        "adversarial/ml100k_apr_lightgcn.yaml",
        [*ALWAYS_ON, "adversary.name=pamacf"],
        "LightGCN",
    ),
    "SimGCL": ("adversarial/ml100k_simgcl.yaml", [], "LightGCN"),
    "XSimGCL": ("adversarial/ml100k_xsimgcl.yaml", [], "LightGCN"),
}


def run_once(
    name: str, example: str, overrides: list[str], args: argparse.Namespace, tag: str
) -> list[float]:
    out = args.out / tag / name.replace(" ", "_").replace("(", "").replace(")", "")
    shutil.rmtree(out, ignore_errors=True)
    sets = [*overrides, f"train.epochs={args.epochs}", f"train.eval_every={args.epochs}", "threads=1"]
    cmd = [sys.executable, "-m", "advrec", "train", str(REPO / "examples" / example), "--quiet"]
    cmd += ["--data-root", str(args.data_root), "--out", str(out)]
    for item in sets:
        cmd += ["--set", item]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["train_s"] for line in lines][1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=Path("/tmp/adv-cost"))
    parser.add_argument("--epochs", type=int, default=8, help="epochs per run (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds over all methods (default %(default)s)")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset")
    args = parser.parse_args()
    names = [n.strip() for n in args.methods.split(",") if n.strip()]
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        parser.error(f"--methods: unknown {unknown}; choose from {list(METHODS)}")
    names = [n for n in names if (REPO / "examples" / METHODS[n][0]).exists()]
    epochs: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            example, overrides, _ = METHODS[name]
            epochs[name] += run_once(name, example, overrides, args, f"round{r}")
            print(f"round {r}: {name}: median {statistics.median(epochs[name]):.3f} s/epoch", flush=True)
    print(f"\n| method | s/epoch (median of {args.rounds}×{args.epochs - 1}) | × plain counterpart |")
    print("|---|---|---|")
    for name in names:
        median = statistics.median(epochs[name])
        base = METHODS[name][2]
        ratio = f"{median / statistics.median(epochs[base]):.2f}× {base}" if base in epochs else "—"
        print(f"| {name} | {median:.3f} | {ratio} |")
    print(f"\nload average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
