"""Per-user test metrics of a run, written to its folder, for significance tests paired over users.

``per_user_test.csv``: one row per test user (original user id, as in ``split/``), one column per test
metric; the same numbers whose means are ``results.json``'s ``test`` (same model, split, protocol).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from advrec.errors import DataError
from advrec.utils.files import atomic_write_text

PER_USER_FILE = "per_user_test.csv"


def write_per_user(run_dir: str | Path, device: str | None = None) -> Path:
    """Evaluate the run's best model on its test split, per user, and write ``per_user_test.csv``
    (``device``: instead of the run's own, e.g. ``"cpu"`` for a run trained on a GPU)."""
    import torch

    from advrec.runs.load import load_run
    from advrec.runs.setup import build_protocol

    run_dir = Path(run_dir)
    config, split, model = load_run(run_dir, device)
    with torch.inference_mode():
        result = build_protocol(config, split).test_metrics(model, per_user=True)
    users = np.asarray(result["users"])
    frame = pd.DataFrame({"user": np.asarray(split.train.user_map.raw)[users]})
    for name, values in result["per_user"].items():
        frame[name] = np.asarray(values, dtype=np.float64)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, float_format="%.10g")
    path = run_dir / PER_USER_FILE
    atomic_write_text(path, buffer.getvalue())
    return path


def read_per_user(run_dir: str | Path) -> pd.DataFrame | None:
    """The run's per-user table indexed by user id (as text), or None when the file is absent."""
    path = Path(run_dir) / PER_USER_FILE
    if not path.exists():
        return None
    frame = pd.read_csv(path, dtype={"user": str})
    if "user" not in frame.columns:
        raise DataError("expected a 'user' column", path=path, line=1)
    return frame.set_index("user")


def can_write_per_user(run_dir: str | Path) -> bool:
    run_dir = Path(run_dir)
    return (run_dir / "config.yaml").exists() and (run_dir / "checkpoints" / "best.pt").exists()
