"""What a run folder holds before training: the saved config, split and item features, and the checks
that a folder and a config belong together."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from advrec.config.yaml_safe import read_yaml_file
from advrec.data.config import ItemTextConfig
from advrec.data.features import (
    FEATURES_FILE,
    IDS_FILE,
    align_item_features,
    load_item_features,
    read_item_features,
    write_item_features,
)
from advrec.data.loading import load_split
from advrec.data.split import Split, check_split, load_saved_split, save_split
from advrec.errors import AdvrecError, ConfigError, DataError, warn
from advrec.runs.config import RunConfig, parse_config
from advrec.runs.fingerprint import (
    check_outputs,
    difference,
    input_fingerprint,
    read_fingerprint,
    refresh_outputs,
    same_inputs,
    write_fingerprint,
)
from advrec.train.distributed import DistContext
from advrec.utils.files import remove_stray_temps
from advrec.utils.locking import is_locked
from advrec.utils.seeding import numpy_rng


def prepare_split(
    config: RunConfig, run_dir: Path, data_root: str | Path | None, ctx: DistContext, resume: bool = False
) -> Split:
    """Build the split once and persist it; every later use (resume, evaluate) reads it back.

    Reading back even on a fresh run means a fresh and a resumed run see byte-identical data. A split
    made from other inputs than this config's (see ``advrec.runs.fingerprint``) is rebuilt on a fresh
    start and refused on ``--resume``.
    """
    folder = run_dir / "split"
    if ctx.is_main:
        _settle_split(config, run_dir, data_root, resume)
    ctx.barrier()  # unconditional: every rank must reach it, whatever it saw on disk
    return load_saved_split(folder)


def _settle_split(config: RunConfig, run_dir: Path, data_root: str | Path | None, resume: bool) -> None:
    folder = run_dir / "split"
    record = read_fingerprint(folder)
    if record is not None and "given" in record:  # written by another step (a poisoned training set)
        check_outputs(folder, record)
        return
    inputs = input_fingerprint(config, data_root)
    if record is not None and same_inputs(record, inputs):
        check_outputs(folder, record)
        return
    if resume:
        if record is None and (folder / "test.tsv").exists():
            warn(f"{folder}: made by an older advrec without a fingerprint; resuming on it unchecked")
            return
        if not folder.exists():
            raise AdvrecError(f"--resume: {folder} is missing; the run cannot continue without its split")
        raise AdvrecError(
            f"--resume: {folder} was made from other inputs than this config's: "
            f"{difference(record, inputs)}; start a fresh run in another --out"
        )
    if folder.exists():
        warn(f"{folder}: rebuilt, since {difference(record, inputs)}")
        _clear_earlier_attempt(run_dir)
    split = load_split(config.data, config.split, data_root, numpy_rng(config.seed, "split"))
    check_split(split, _split_sources(config), repeats_allowed=config.data.duplicates == "keep_all")
    save_split(split, folder)
    load_saved_split(folder)  # a split that cannot be read back fails now, not as a stale folder later
    write_fingerprint(folder, inputs)


def _clear_earlier_attempt(run_dir: Path) -> None:
    """What an earlier attempt on other inputs left (no ``last.pt``, or this is not reached): its split,
    checkpoints and results, so nothing of it is mistaken for this run's."""
    shutil.rmtree(run_dir / "split")
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    (run_dir / "results.json").unlink(missing_ok=True)


def _split_sources(config: RunConfig) -> dict[str, str]:
    """Which file each part came from, for messages about the split."""
    if config.split.method == "given":
        return {
            "train": f"data.path ({config.data.path})",
            "valid": f"data.valid_path ({config.data.valid_path})" if config.data.valid_path else "valid",
            "test": f"data.test_path ({config.data.test_path})",
        }
    return {}


def clear_stray_temps(folder: Path) -> None:
    """Remove the temporary files killed writers left below ``folder`` (whose lock the caller holds;
    a sub-folder another process holds is left alone), and say so."""
    removed = remove_stray_temps(
        folder, keep=lambda p: any(is_locked(d) for d in _folders_between(folder, p))
    )
    if removed:
        names = ", ".join(str(p.relative_to(folder)) for p in removed[:3]) + (
            " ..." if len(removed) > 3 else ""
        )
        warn(f"{folder}: removed {len(removed)} temporary file(s) left by an interrupted run: {names}")


def _folders_between(top: Path, path: Path) -> list[Path]:
    """The folders strictly below ``top`` on the way to ``path`` (candidates for their own lock)."""
    return [p for p in path.parents if p != top and top in p.parents]


def check_inputs_unchanged(config: RunConfig, run_dir: Path, data_root: str | Path | None) -> None:
    """A finished run is reused (a study's cell, an attack's victim) only if its data did not change."""
    folder = run_dir / "split"
    record = read_fingerprint(folder)
    if record is None or "given" in record:
        return
    inputs = input_fingerprint(config, data_root)
    if not same_inputs(record, inputs):
        raise AdvrecError(
            f"{run_dir} holds a finished run made from other inputs than now: {difference(record, inputs)}; "
            "delete that folder (or choose another --out) to rerun it on today's data"
        )


def check_saved_split(run_dir: Path) -> None:
    """The split files a finished run recorded are all there, unchanged (before anything reads them)."""
    folder = run_dir / "split"
    record = read_fingerprint(folder)
    if record is not None:
        check_outputs(folder, record)
    elif not (folder / "test.tsv").is_file():
        raise DataError("missing from the run folder; retrain", path=folder / "test.tsv")


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
            _prepare_text_features(config.data.item_text, config.device, folder, data_root, split)
        elif config.data.item_features is not None:
            matrix = load_item_features(config.data.item_features, data_root, split.train.item_map)
            write_item_features(folder, matrix, split.train.item_map.raw)
        refresh_outputs(folder)  # the fingerprint covers the features from now on
    ctx.barrier()
    return saved_item_features(folder, split)


def _prepare_text_features(
    cfg: ItemTextConfig, device: str, folder: Path, data_root: str | Path | None, split: Split
) -> None:
    """Texts embedded (through the cache) into the split folder's features, with the texts and the encoder
    identity beside them for the text attack probe. The features file is written last: it marks done."""
    from advrec.data.text import write_run_texts
    from advrec.data.text_features import build_encoder, load_text_features, write_encoder_record

    items = split.train.item_map.raw
    text = load_text_features(cfg, data_root, split.train.item_map, build_encoder(cfg, device))
    has = [t is not None for t in text.texts]
    write_run_texts(folder, items[has], [t for t in text.texts if t is not None])
    write_encoder_record(folder, text, cfg.model)
    write_item_features(folder, text.matrix, items)


def saved_item_features(folder: Path, split: Split) -> torch.Tensor:
    features = read_item_features(folder / FEATURES_FILE, ids_path=folder / IDS_FILE)
    return torch.from_numpy(align_item_features(features, split.train.item_map))


def saved_config(run_dir: Path) -> RunConfig | None:
    """The config a run folder was trained with (its ``config.yaml``), or None if it has none."""
    saved = run_dir / "config.yaml"
    if not saved.exists():
        return None
    return parse_config(read_yaml_file(saved, "saved config"), str(saved))


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
