"""Small interaction tables made in code for the API tests (imported by name, as pytest puts this folder
on sys.path)."""

import numpy as np
import pandas as pd

# Small, fast settings that still learn: test NDCG@10 well above a random ranking in a few epochs.
FAST = {"train.batch_size": 256, "train.optimizer.lr": 0.02, "train.patience": 50, "eval.ks": [5, 10]}


def interactions(n_users: int = 80, n_items: int = 60, per_user: int = 14, seed: int = 0) -> pd.DataFrame:
    """Users in 4 taste groups, each preferring its own quarter of the items; ratings 1-5, timestamps.

    Every user has ``per_user`` distinct items, so the default 80/10/10 split leaves each user train,
    valid and test items."""
    rng = np.random.default_rng(seed)
    rows = []
    quarter = n_items // 4
    for user in range(n_users):
        group = user % 4
        liked = rng.choice(quarter, per_user - 3, replace=False) + group * quarter
        other = rng.choice(np.setdiff1d(np.arange(n_items), liked), 3, replace=False)
        for item in np.concatenate([liked, other]):
            rows.append((user, int(item), int(rng.integers(1, 6))))
    df = pd.DataFrame(rows, columns=["user", "item", "rating"])
    df["timestamp"] = np.arange(len(df), dtype=np.int64) + 1_000_000
    return df
