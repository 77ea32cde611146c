"""What made a run folder's split: the data files' sha256, the data and split settings, the seed.

``split/fingerprint.json`` is written after the split (and later the item features) is complete and
read back, so its presence marks a finished split folder. It holds:

- ``inputs``: ``settings`` (the config's ``data`` and ``split`` sections and ``seed``) and ``files``
  (each input file's sha256, by config key), or, for a split written by another step (a poisoned or
  defended training set), ``given``: what made it;
- ``outputs``: the sha256 of every file in the folder, so a damaged, edited or missing split file is
  found before anything is computed from it.

A fresh run whose folder holds a split of other inputs (or one left incomplete by a kill) rebuilds it,
a resumed run refuses it, and a finished folder is never reused for data that changed since.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from advrec.errors import DataError
from advrec.runs.config import RunConfig
from advrec.utils.files import TEMP_SUFFIX, atomic_write_json, sha256_of

FINGERPRINT_FILE = "fingerprint.json"


def input_fingerprint(config: RunConfig, data_root: str | Path | None) -> dict[str, Any]:
    """The settings and input files a split (and its item features) is made from."""
    raw = config.model_dump(mode="json")
    data = raw.get("data") or {}
    settings = {"data": data, "split": raw.get("split"), "seed": raw.get("seed")}
    files = {key: _digest(_resolve(path, data_root)) for key, path in _input_paths(data, "data")}
    return {"settings": settings, "files": files}


def _input_paths(section: Any, prefix: str) -> list[tuple[str, str]]:
    """(config key, path) of every file the data section names (keys ending in ``path``)."""
    out: list[tuple[str, str]] = []
    if isinstance(section, dict):
        for key, value in section.items():
            name = f"{prefix}.{key}"
            if isinstance(value, str) and key.endswith("path"):
                out.append((name, value))
            elif isinstance(value, dict):
                out += _input_paths(value, name)
    return out


def _resolve(path: str, data_root: str | Path | None) -> Path:
    candidate = Path(path)
    if not candidate.is_absolute() and data_root is not None:
        candidate = Path(data_root) / candidate
    return candidate


def _digest(path: Path) -> Any:
    """A file's sha256, a folder's files' (one level: loo_files folders), or None when it is missing
    (the loader says so in its own words, if it reads the path at all)."""
    if path.is_file():
        return sha256_of(path)
    if path.is_dir():
        return {p.name: sha256_of(p) for p in sorted(path.iterdir()) if p.is_file()}
    return None


def read_fingerprint(folder: Path) -> dict[str, Any] | None:
    """The folder's fingerprint, or None if there is none (or it is unreadable: treated as none)."""
    path = folder / FINGERPRINT_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("outputs"), dict):
        return None
    return record


def write_fingerprint(folder: Path, inputs: dict[str, Any] | None = None, given: Any = None) -> None:
    """Record ``inputs`` (or ``given``: what else made the split) and the sha256 of every file now in
    ``folder``. Called last: its presence marks the folder complete."""
    record: dict[str, Any] = {"given": given} if given is not None else {"inputs": inputs}
    record["outputs"] = {p.name: sha256_of(p) for p in _output_files(folder)}
    atomic_write_json(folder / FINGERPRINT_FILE, record)


def split_complete(folder: Path) -> bool:
    """Whether ``folder`` holds a finished split (its fingerprint is written last)."""
    return read_fingerprint(folder) is not None


def refresh_outputs(folder: Path) -> None:
    """Re-record the outputs after more files were added (the item features after the split)."""
    record = read_fingerprint(folder)
    if record is not None:
        write_fingerprint(folder, record.get("inputs"), record.get("given"))


def _output_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file()
        and p.name != FINGERPRINT_FILE
        and not p.name.startswith(".")
        and p.suffix != TEMP_SUFFIX
    )


def check_outputs(folder: Path, record: dict[str, Any]) -> None:
    """Every file the fingerprint lists is there with its sha256; else a DataError naming it."""
    for name, digest in record["outputs"].items():
        path = folder / name
        if not path.is_file():
            raise DataError(
                "missing from the run folder (it was deleted or never finished); retrain", path=path
            )
        if sha256_of(path) != digest:
            raise DataError(
                "changed since the run was made (its sha256 differs from the one recorded in "
                f"{FINGERPRINT_FILE}); retrain, or restore the file",
                path=path,
            )


def same_inputs(record: dict[str, Any], inputs: dict[str, Any]) -> bool:
    return record.get("inputs") == inputs


def difference(record: dict[str, Any] | None, inputs: dict[str, Any]) -> str:
    """What differs between a recorded fingerprint and today's inputs, in a few words."""
    if record is None:
        return "it has no fingerprint (left incomplete by an interrupted run, or made by an older advrec)"
    old = record.get("inputs") or {}
    changes = [
        f"data file {key} changed" if key in old.get("files", {}) else f"{key} is new"
        for key in inputs["files"]
        if old.get("files", {}).get(key) != inputs["files"][key]
    ]
    before, now = old.get("settings") or {}, inputs["settings"]
    if before.get("seed") != now["seed"]:
        changes.append(f"seed {before.get('seed')} -> {now['seed']}")
    for section in ("data", "split"):
        if before.get(section) != now[section]:
            keys = sorted(
                k
                for k in set(before.get(section) or {}) | set(now[section] or {})
                if (before.get(section) or {}).get(k) != (now[section] or {}).get(k)
            )
            changes.append(f"{section} settings differ ({', '.join(f'{section}.{k}' for k in keys)})")
    return "; ".join(changes) or "its inputs differ"
