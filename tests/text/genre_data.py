"""Test data: users who stay in one genre, items whose texts name their genre (for the tiny encoder)."""

import json

import numpy as np

from advrec.runs.config import parse_config

GENRES = ["comedy", "drama", "action", "horror", "romance"]
NUMBERS = ["one", "two", "three", "four"]  # "four": the item of each genre no one trains on


def genre_data(folder, n_users: int = 60, length: int = 8, seed: int = 0, genres: list[str] | None = None):
    """Each user stays in one genre: ``length`` items drawn from its first three items, then its fourth
    (the test item, in no one's training history). Item texts: the genre three times, then the number.
    ``genres``: the genre of each user in turn (a genre named more often has more users; default GENRES)."""
    rng = np.random.default_rng(seed)
    genres = genres or GENRES
    rows = ["user\titem\ttimestamp"]
    for user in range(n_users):
        genre = genres[user % len(genres)]
        seen = [f"{genre}-{n}" for n in NUMBERS[:3]]
        history = [*rng.choice(seen, size=length), f"{genre}-four"]
        rows += [f"u{user}\t{item}\t{100 + t}" for t, item in enumerate(history)]
    (folder / "views.tsv").write_text("\n".join(rows) + "\n")
    texts = [f"{g}-{n}\t{g} {g} {g} {n}" for g in dict.fromkeys(genres) for n in NUMBERS]
    (folder / "texts.tsv").write_text("\n".join(texts) + "\n")


def genre_config(folder, encoder, model=None, **over):
    raw = {
        "seed": 3,
        "threads": 1,
        "data": {
            "format": "table",
            "path": str(folder / "views.tsv"),
            "columns": {"user": "user", "item": "item", "timestamp": "timestamp"},
            "item_text": {
                "source": "file",
                "path": str(folder / "texts.tsv"),
                "model": str(encoder),
                "cache_dir": str(folder / "cache"),
            },
        },
        "split": {"method": "loo"},
        "model": {
            "name": "unisrec",
            "dim": 16,
            "dropout": 0.1,
            "init_std": 0.05,
            "max_len": 6,
            **(model or {}),
        },
        "train": {"epochs": 20, "batch_size": 8, "patience": 50, "optimizer": {"lr": 0.01}},
        "eval": {"ks": [4, 10], "metrics": ["ndcg", "hit"]},
    }
    raw.update(over)
    return parse_config(json.loads(json.dumps(raw)))
