#!/usr/bin/env python3
"""advrec from Python: APR-MF on a pandas DataFrame, top-10 lists, the FGSM robustness probe and a
bandwagon poisoning attack.

    python examples/python/quickstart.py                              # a small synthetic table, seconds
    python examples/python/quickstart.py --data-root ../shared/data   # MovieLens-100K (ml-100k/u.data)

In a notebook, the body of ``quickstart`` is the whole flow: a DataFrame of interactions in, a trained
run folder out (``--out``, default runs/quickstart), with the probe and the attack recorded in it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd


def quickstart(df: pd.DataFrame, epochs: int, out: str) -> None:
    import advrec

    apr = {"name": "apr", "eps": 0.5, "start_epoch": epochs // 2}  # plain MF-BPR first, then APR (He et al.)
    settings = {"model.init_std": 0.01, "train.optimizer.lr": 0.01}
    run = advrec.fit(df, model="mf", adversary=apr, epochs=epochs, seed=2020, set=settings)
    print(run)
    top10 = run.recommend(df["user"].unique()[:3], k=10)
    print(top10.pivot(index="user", columns="rank", values="item"))
    curve = run.probe(attack="fgsm", eps=[0.25, 0.5])  # test metrics with every embedding row moved
    print(curve[curve.metric == "ndcg@10"])
    exposure = run.poison(attack="bandwagon", size=0.03, targets="mid:5")  # fake users, victim retrained
    print(exposure.loc[["target_hit@10", "target_hit@50", "target_mean_rank", "ndcg@10"]])
    run.save(out)  # later: advrec.load(out)


def movielens_100k(data_root: str) -> pd.DataFrame:
    names = ["user", "item", "rating", "timestamp"]
    return pd.read_csv(Path(data_root) / "ml-100k" / "u.data", sep="\t", names=names)


def synthetic(n_users: int = 300, n_items: int = 200, per_user: int = 25, seed: int = 0) -> pd.DataFrame:
    """Users in 8 taste groups, each preferring its own slice of the catalogue, a few items outside it."""
    rng = np.random.default_rng(seed)
    group_items = n_items // 8
    rows = []
    for user in range(n_users):
        liked = rng.choice(group_items, per_user - 5, replace=False) + (user % 8) * group_items
        other = rng.choice(np.setdiff1d(np.arange(n_items), liked), 5, replace=False)
        rows += [(user, int(item), int(rng.integers(1, 6))) for item in np.concatenate([liked, other])]
    df = pd.DataFrame(rows, columns=["user", "item", "rating"])
    df["timestamp"] = np.arange(len(df)) + 880_000_000
    return df


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-root", help="folder holding ml-100k/u.data (default: a synthetic table)")
    parser.add_argument("--epochs", type=int, default=40, help="training epochs (APR from the middle on)")
    parser.add_argument("--out", default="runs/quickstart", help="where the run folder is saved")
    args = parser.parse_args()
    df = movielens_100k(args.data_root) if args.data_root else synthetic()
    quickstart(df, args.epochs, args.out)


if __name__ == "__main__":
    main()
