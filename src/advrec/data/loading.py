"""From a DataConfig and SplitConfig to a Split: read, clean, encode with shared maps, split."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from advrec.data.config import DataConfig, SplitConfig
from advrec.data.filtering import apply_rating_threshold, drop_duplicates, k_core
from advrec.data.interactions import Interactions, RawInteractions
from advrec.data.io import read_interactions
from advrec.data.split import Split, given_split, leave_one_out_split, ratio_split, temporal_split
from advrec.data.synthetic import make_synthetic
from advrec.errors import ConfigError, DataError


def resolve_path(path: str, data_root: str | Path | None, key: str) -> Path:
    candidate = Path(path)
    if not candidate.is_absolute() and data_root is not None:
        candidate = Path(data_root) / candidate
    if not candidate.exists():
        hint = "" if data_root is not None else " (relative paths resolve against --data-root)"
        raise DataError(f"{key}: file not found{hint}", path=candidate)
    return candidate


def _read(cfg: DataConfig, path: str, data_root: str | Path | None, key: str) -> RawInteractions:
    options = {}
    if cfg.format == "table":
        options = {"columns": cfg.columns, "sep": cfg.sep, "header": cfg.header}
    raw = read_interactions(resolve_path(path, data_root, key), cfg.format, **options)
    return _clean(raw, cfg)


def _clean(raw: RawInteractions, cfg: DataConfig) -> RawInteractions:
    if cfg.rating_threshold is not None:
        raw = apply_rating_threshold(raw, cfg.rating_threshold)
    return drop_duplicates(raw, cfg.duplicates)


def load_split(
    data: DataConfig, split: SplitConfig, data_root: str | Path | None, rng: np.random.Generator
) -> Split:
    if split.method == "given":
        return _given(data, split, data_root, rng)
    if split.method == "loo_files":
        from advrec.data.sequences import load_loo_files

        if data.path is None:
            raise ConfigError(
                "data.path: split.method loo_files needs the folder holding train/valid/test.tsv"
            )
        return load_loo_files(resolve_path(data.path, data_root, "data.path"))
    if data.test_path or data.valid_path:
        raise ConfigError("data.test_path/valid_path are only used with split.method: given")
    if data.format == "synthetic":
        raw = _clean(make_synthetic(data.synthetic), data)
    else:
        if data.path is None:
            raise ConfigError(f"data.path: required for format {data.format!r}")
        raw = _read(data, data.path, data_root, "data.path")
    if data.k_core > 0:
        raw = k_core(raw, data.k_core)
    if len(raw) == 0:
        raise DataError("no interactions left after filtering", path=raw.source)
    interactions = Interactions.from_raw(raw.users, raw.items, raw.ratings, raw.timestamps)
    if split.method == "ratio":
        return ratio_split(interactions, split.ratios, rng)
    if split.method == "loo":
        return leave_one_out_split(interactions)
    return temporal_split(interactions, split.ratios)


def _given(data: DataConfig, split: SplitConfig, data_root, rng: np.random.Generator) -> Split:
    if data.path is None or data.test_path is None:
        raise ConfigError("split.method 'given' needs data.path (train) and data.test_path")
    if data.k_core > 0:
        raise ConfigError("data.k_core cannot be combined with a given split (it would change the split)")
    if data.format == "lightgcn" and data.valid_path is not None:
        raise ConfigError("data.valid_path is not used with the lightgcn format (valid is carved from train)")
    parts = [
        _read(data, data.path, data_root, "data.path"),
        _read(data, data.test_path, data_root, "data.test_path"),
    ]
    if data.valid_path is not None:
        parts.append(_read(data, data.valid_path, data_root, "data.valid_path"))
    encoded = Interactions.encode_together(parts)
    valid = encoded[2] if len(encoded) == 3 else None
    return given_split(encoded[0], encoded[1], valid, split.valid_ratio_of_train, rng)
