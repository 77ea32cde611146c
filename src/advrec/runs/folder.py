"""What a run folder holds before training: the saved config, split and item features, and the checks
that a folder and a config belong together."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from advrec.config.loading import parse_config
from advrec.config.schema import RunConfig
from advrec.data.features import (
    FEATURES_FILE,
    IDS_FILE,
    align_item_features,
    load_item_features,
    read_item_features,
    write_item_features,
)
from advrec.data.loading import load_split
from advrec.data.split import Split, load_saved_split, save_split
from advrec.errors import AdvrecError, ConfigError
from advrec.models.registry import FEATURE_MODELS
from advrec.train.distributed import DistContext
from advrec.utils.seeding import numpy_rng


def prepare_split(config: RunConfig, run_dir: Path, data_root: str | Path | None, ctx: DistContext) -> Split:
    """Build the split once and persist it; every later use (resume, evaluate) reads it back.

    Reading back even on a fresh run means a fresh and a resumed run see byte-identical data.
    """
    folder = run_dir / "split"
    if ctx.is_main and not (folder / "test.tsv").exists():
        save_split(load_split(config.data, config.split, data_root, numpy_rng(config.seed, "split")), folder)
    ctx.barrier()  # unconditional: every rank must reach it, whatever it saw on disk
    return load_saved_split(folder)


def prepare_item_features(
    config: RunConfig, run_dir: Path, data_root: str | Path | None, split: Split, ctx: DistContext
) -> torch.Tensor | None:
    """The item features aligned to the split's items, written once into the split folder and always
    read back from there (as the split is): a resumed or re-evaluated run uses the very same rows."""
    if config.data.item_features is None and config.data.item_text is None:
        return None
    folder = run_dir / "split"
    if ctx.is_main and not (folder / FEATURES_FILE).exists():
        if config.data.item_text is not None:
            _prepare_text_features(config, folder, data_root, split)
        else:
            matrix = load_item_features(config.data.item_features, data_root, split.train.item_map)
            write_item_features(folder, matrix, split.train.item_map.raw)
    ctx.barrier()
    return saved_item_features(folder, split)


def _prepare_text_features(
    config: RunConfig, folder: Path, data_root: str | Path | None, split: Split
) -> None:
    """Texts embedded (through the cache) into the split folder's features, with the texts and the encoder
    identity beside them for the text attack probe. The features file is written last: it marks done."""
    from advrec.data.text import write_run_texts
    from advrec.data.text_features import build_encoder, load_text_features, write_encoder_record

    cfg = config.data.item_text
    items = split.train.item_map.raw
    text = load_text_features(cfg, data_root, split.train.item_map, build_encoder(cfg, config.device))
    has = [t is not None for t in text.texts]
    write_run_texts(folder, items[has], [t for t in text.texts if t is not None])
    write_encoder_record(folder, text, cfg.model)
    write_item_features(folder, text.matrix, items)


def saved_item_features(folder: Path, split: Split) -> torch.Tensor:
    features = read_item_features(folder / FEATURES_FILE, ids_path=folder / IDS_FILE)
    return torch.from_numpy(align_item_features(features, split.train.item_map))


def check_feature_config(config: RunConfig) -> None:
    """Features and the model that reads them go together; checked before anything is written."""
    reads = config.model.name in FEATURE_MODELS
    if config.data.item_features is not None and config.data.item_text is not None:
        raise ConfigError("data.item_features and data.item_text are both set; keep one of them")
    has_features = config.data.item_features is not None or config.data.item_text is not None
    if reads and not has_features:
        raise ConfigError(
            f"model.name {config.model.name!r} reads item features: set data.item_features or data.item_text"
        )
    if not reads and has_features:
        raise ConfigError(
            f"data.item_features is set but model {config.model.name!r} does not read features; models that "
            f"do: {', '.join(FEATURE_MODELS)} (or drop it: --set data.item_features=null)"
        )
    if config.augment.feature_noise is not None and not reads:
        raise ConfigError(
            f"augment.feature_noise: model {config.model.name!r} reads no item features; "
            f"use one of {', '.join(FEATURE_MODELS)} with data.item_features"
        )


def saved_config(run_dir: Path) -> RunConfig | None:
    """The config a run folder was trained with (its ``config.yaml``), or None if it has none."""
    saved = run_dir / "config.yaml"
    if not saved.exists():
        return None
    return parse_config(yaml.safe_load(saved.read_text(encoding="utf-8")) or {}, str(saved))


def _check_run_dir(config: RunConfig, run_dir: Path, resume: bool) -> None:
    saved = run_dir / "config.yaml"
    if resume:
        if not saved.exists():
            raise AdvrecError(f"--resume: {saved} not found; is {run_dir} a run folder?")
        if saved_config(run_dir) != config:
            raise ConfigError(f"--resume: the config differs from the one saved in {saved}")
    elif (run_dir / "checkpoints" / "last.pt").exists():
        raise AdvrecError(
            f"{run_dir} already holds a run; pass --resume to continue it or choose another --out"
        )
