"""Reading ``metrics.jsonl`` back: the trainer on ``--resume``, the report and the API read the same
lines, and a damaged one is an error naming it, never a traceback or a silently lost epoch."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from advrec.errors import DataError
from advrec.utils.files import read_json_lines


def read_metrics_log(path: str | Path, timings: bool = True) -> list[dict[str, Any]]:
    """The epoch entries of ``path`` ([] if there is none); a torn last line (a killed run) is dropped.
    Each entry must carry a whole ``epoch``; with ``timings``, also the seconds a resumed run sums
    (``train_s``, and ``eval_s`` where present)."""
    entries = []
    for number, entry in read_json_lines(path):
        problem = log_entry_problem(entry, timings)
        if problem is not None:
            raise DataError(f"{problem} (a damaged metrics log)", path=path, line=number)
        entries.append(entry)
    return entries


def log_entry_problem(entry: dict[str, Any], timings: bool = True) -> str | None:
    """What is wrong with one metrics.jsonl object for what is read back from it; None if nothing."""
    if "epoch" not in entry:
        return "'epoch' is missing"
    epoch = entry["epoch"]
    if type(epoch) is not int or epoch < 0:  # type(): a bool is an int to isinstance
        return f"'epoch' must be a whole number >= 0, got {_shown(epoch)}"
    if not timings:
        return None
    if "train_s" not in entry:
        return "'train_s' is missing"
    for key in ("train_s", "eval_s"):
        value = entry.get(key, 0.0)
        if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
            return f"{key!r} must be a finite number of seconds >= 0, got {_shown(value)}"
    return None


def _shown(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."
