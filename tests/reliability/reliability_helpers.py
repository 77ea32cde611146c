"""Helpers of the fault-injection suite (data made in code, configs, hostile YAML)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml


def write_ratings(
    path: Path, n_users: int = 60, n_items: int = 80, per_user: int = 12, seed: int = 0
) -> Path:
    """``user<TAB>item<TAB>rating<TAB>timestamp`` lines (MovieLens-100K's u.data layout)."""
    rng = np.random.default_rng(seed)
    lines = []
    for user in range(1, n_users + 1):
        items = rng.choice(np.arange(1, n_items + 1), size=per_user, replace=False)
        for k, item in enumerate(items):
            lines.append(f"{user}\t{item}\t{rng.integers(1, 6)}\t{880000000 + 1000 * user + k}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def base_raw(data: Path, **train) -> dict:
    """MF dim 8, 2 epochs on ``data`` (the drill's base config, on small data)."""
    return {
        "seed": 1,
        "threads": 1,
        "data": {"format": "movielens-100k", "path": str(data)},
        "split": {"method": "ratio", "ratios": [0.8, 0.1, 0.1]},
        "model": {"name": "mf", "dim": 8},
        "train": {"epochs": 2, "batch_size": 256, "patience": 10, **train},
        "eval": {"ks": [10]},
    }


def write_config(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def alias_bomb(levels: int = 9, width: int = 9, indent: str = "") -> str:
    """The 'billion laughs' file: each level lists the previous one ``width`` times (``indent``: as the
    keys of a nested mapping)."""
    lines = [f"{indent}l0: &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    for level in range(1, levels):
        lines.append(f"{indent}l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def read_results(run: Path) -> dict:
    return json.loads((run / "results.json").read_text())
