"""A run, end to end: config -> split -> model -> trainer -> test once -> run folder.

Run folder layout::

    config.yaml          the resolved config (every default written out)
    split/               train.tsv, valid.tsv, test.tsv with original ids (reused exactly on resume);
                         with data.item_features also item_features.npy + item_features.ids.txt, the
                         feature rows of the split's items (so evaluate/resume need no --data-root)
    metrics.jsonl        one line per epoch: loss, lr, valid metrics, timings
    checkpoints/         last.pt (everything needed to resume), best.pt (best model by valid metric)
    results.json         test metrics (read once, at the best epoch; null with --no-test until
                         ``advrec evaluate`` reads them), valid metrics, timing
                         (+ ``robustness`` after ``advrec evaluate --attack``: see robustness_run)
    robustness/          after ``advrec evaluate --attack``: <attack>.csv (the ε curve with its random
                         control) per attack probed, curves.png (every attack probed so far)
    robustness_<tables>/ the same for a probe of chosen tables (``--targets item_features``), whose
                         results.json entry is ``robustness_<tables>``
    gan.png              GAN runs: D(real), D(fake), both losses, the mode-collapse signal per epoch
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from advrec.adversarial import build_adversary, select_tables
from advrec.config import RunConfig, dump_config, parse_config
from advrec.config.schema import check_device_name
from advrec.data.features import (
    FEATURES_FILE,
    IDS_FILE,
    align_item_features,
    load_item_features,
    read_item_features,
    write_item_features,
)
from advrec.data.loading import load_split
from advrec.data.sampler import NegativeSampler
from advrec.data.split import Split, load_saved_split, save_split
from advrec.errors import AdvrecError, ConfigError
from advrec.evaluation.protocol import Protocol
from advrec.evaluation.robustness import training_batches, validation_under_attack
from advrec.evaluation.sequential import build_protocol
from advrec.gan.builder import build_game, build_gan_model, check_gan_config
from advrec.models import FEATURE_MODELS, build_model
from advrec.models.base import Recommender
from advrec.models.registry import SEQUENTIAL_MODELS
from advrec.training.augment import build_augmentation
from advrec.training.checkpoint import load_checkpoint
from advrec.training.distributed import DistContext, init_distributed
from advrec.training.hooks import TrainHook
from advrec.training.objectives import build_objective
from advrec.training.optim import LRSchedule, build_optimizer
from advrec.training.trainer import Trainer, TrainResult
from advrec.utils.environment import run_environment
from advrec.utils.files import atomic_write_json, atomic_write_text, read_json_object
from advrec.utils.seeding import child_seed, numpy_rng, torch_generator


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


def check_model_inputs(config: RunConfig, model: Recommender) -> None:
    """Table names in the config that only the built model can check, before any epoch runs."""
    if config.adversary.name != "none":
        select_tables(model.embedding_tables(), config.adversary.targets)


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


def train_run(
    config: RunConfig,
    run_dir: str | Path,
    *,
    data_root: str | Path | None = None,
    resume: bool = False,
    hooks: list[TrainHook] | None = None,
    show_progress: bool = True,
    read_test: bool = True,
) -> dict[str, Any]:
    """Train, select on valid, then read test once (``read_test=False``: leave test unread, ``"test":
    null`` in ``results.json``, for tuning runs; ``evaluate_run`` reads and records it later)."""
    run_dir = Path(run_dir)
    check_feature_config(config)
    if config.threads:
        torch.set_num_threads(config.threads)
    check_device(config.device)
    ctx = init_distributed(config.device)
    _check_run_dir(config, run_dir, resume)
    if ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "config.yaml", dump_config(config))
        if not resume:
            (run_dir / "metrics.jsonl").unlink(missing_ok=True)
    ctx.barrier()
    split = prepare_split(config, run_dir, data_root, ctx)
    if config.model.name in SEQUENTIAL_MODELS:
        from advrec.training.sequential import train_sequential

        protocol, model, fit = train_sequential(
            config, run_dir, split, ctx, resume, hooks or [], show_progress
        )
        return _test_and_record(run_dir, split, protocol, model, fit, ctx, read_test)
    if config.train.init_from is not None:
        raise ConfigError("train.init_from: only sequential models (sasrec) start from another run")
    protocol = Protocol.from_split(split, config.eval, config.device)
    if config.gan.name != "none":
        return _train_gan(
            config, run_dir, split, protocol, ctx, resume, hooks or [], show_progress, read_test
        )
    item_features = prepare_item_features(config, run_dir, data_root, split, ctx)

    init = torch_generator(config.seed, "init")
    model = build_model(config.model, split.train, init, item_features).to(config.device)
    check_model_inputs(config, model)
    torch.manual_seed(child_seed(config.seed, "dropout"))
    tc = config.train
    optimizer = build_optimizer(model.parameters(), tc.optimizer)
    objective = build_objective(tc.objective, tc.l2)

    def full_data() -> list[dict[str, torch.Tensor]]:  # as the robustness probe reads it
        return training_batches(split.train, config.seed, 8192, torch.device(config.device))

    # Augmentation and adversary hooks go first: hook states are checkpointed as a list in this order,
    # and a caller's extra hooks (monitors, a simulated crash) may differ between a run and its resume.
    adversary = build_adversary(config, objective, full_data)
    hooks = [*build_augmentation(config), *adversary, *(hooks or [])]
    aug = config.augment
    validate = protocol.validate
    if config.eval.adversarial_valid is not None:
        batches = training_batches(split.train, config.seed, tc.batch_size, torch.device(config.device))
        validate = validation_under_attack(config, model, protocol, objective, batches)
    trainer = Trainer(
        model,
        objective,
        NegativeSampler(split.train, tc.n_negatives, aug.drop_interactions, aug.add_interactions),
        optimizer,
        LRSchedule(optimizer, tc.schedule, tc.epochs),
        validate,
        tc,
        select_metric=config.eval.select_metric,
        rngs={"sampler": numpy_rng(config.seed, "sampler")},
        run_dir=run_dir,
        hooks=hooks,
        dist_ctx=ctx,
        device=config.device,
        show_progress=show_progress,
    )
    fit = trainer.fit(resume=resume)
    return _test_and_record(run_dir, split, protocol, model, fit, ctx, read_test)


def _test_and_record(
    run_dir: Path,
    split: Split,
    protocol: Protocol,
    model: Recommender,
    fit: TrainResult,
    ctx: DistContext,
    read_test: bool = True,
) -> dict[str, Any]:
    # The test split is read here, once, after the best checkpoint was restored (or not at all).
    model.eval()
    start = time.perf_counter()
    test = protocol.test_metrics(model) if read_test else None
    test_s = time.perf_counter() - start if read_test else None
    results = {
        "test": test,
        "valid": fit.best_valid,
        "best_epoch": fit.best_epoch,
        "epochs_run": fit.epochs_run,
        "timing": {
            "train_s_per_epoch": fit.train_s_per_epoch,
            "eval_s": fit.eval_s,
            "time_to_best_s": fit.time_to_best_s,
            "test_eval_s": test_s,
        },
        "dataset": {
            "n_users": split.train.n_users,
            "n_items": split.train.n_items,
            "n_train": len(split.train),
            "n_valid": len(split.valid),
            "n_test": len(split.test),
        },
        "world_size": ctx.world_size,
        "environment": run_environment(str(next(model.parameters()).device)),
    }
    if ctx.is_main:
        atomic_write_json(run_dir / "results.json", results)
    return results


def _train_gan(
    config: RunConfig,
    run_dir: Path,
    split: Split,
    protocol: Protocol,
    ctx: DistContext,
    resume: bool,
    hooks: list[TrainHook],
    show_progress: bool,
    read_test: bool = True,
) -> dict[str, Any]:
    """A GAN run: the same trainer, with the game as its training procedure; ``gan.png`` at the end."""
    from advrec.gan.plot import plot_gan_history, read_history

    check_gan_config(config)
    if config.eval.adversarial_valid is not None:
        raise ConfigError("eval.adversarial_valid: GAN runs have no single objective to attack; unset it")
    if ctx.enabled:
        raise ConfigError("gan.name: GAN training runs in a single process (no torchrun)")
    model = build_gan_model(config, split.train).to(config.device)
    game = build_game(config, model, split.train)
    trainer = Trainer(
        model,
        None,
        None,
        None,
        None,
        protocol.validate,
        config.train,
        select_metric=config.eval.select_metric,
        rngs={"sampler": numpy_rng(config.seed, "sampler")},
        run_dir=run_dir,
        hooks=hooks,
        device=config.device,
        show_progress=show_progress,
        procedure=game,
    )
    try:
        fit = trainer.fit(resume=resume)
    finally:  # also after a divergence: the curves up to it are what explains it
        metrics = run_dir / "metrics.jsonl"
        if metrics.exists() and metrics.stat().st_size:
            plot_gan_history(
                read_history(metrics), run_dir / "gan.png", title=f"{config.gan.name}, seed {config.seed}"
            )
    return _test_and_record(run_dir, split, protocol, model, fit, ctx, read_test)


def check_device(device: str, where: str = "device", remedy: str = "set device: cpu") -> None:
    """That this machine has the device a config names (the schema checks only the name)."""
    if not device.startswith("cuda"):
        return
    if not torch.cuda.is_available():
        raise ConfigError(
            f"{where}: {device!r}, but torch {torch.__version__} sees no CUDA device here; {remedy}"
        )
    count = torch.cuda.device_count()
    if int(device.partition(":")[2] or 0) >= count:
        raise ConfigError(f"{where}: {device!r}, but this machine has {count} CUDA device(s); {remedy}")


def load_run(run_dir: str | Path, device: str | None = None) -> tuple[RunConfig, Split, Recommender]:
    """The config, the exact split and the best model of a finished (or interrupted) run, on the run's
    device or on ``device`` (e.g. ``"cpu"`` for a run trained on a GPU; the config returned says so)."""
    run_dir = Path(run_dir)
    config = saved_config(run_dir)
    if config is None:
        raise AdvrecError(f"{run_dir}: not a run folder (no config.yaml)")
    if device is not None:
        try:
            config = config.model_copy(update={"device": check_device_name(device)})
        except ValueError as exc:
            raise ConfigError(f"--device {device!r}: {exc}") from None
        check_device(config.device, "--device", "use cpu")
    else:
        check_device(
            config.device, f"{run_dir / 'config.yaml'}: device", "pass --device cpu to load the run here"
        )
    split = load_saved_split(run_dir / "split")
    if config.gan.name != "none":
        model = build_gan_model(config, split.train)
    else:
        features = None
        if config.data.item_features is not None or config.data.item_text is not None:
            features = saved_item_features(run_dir / "split", split)
        model = build_model(config.model, split.train, torch_generator(config.seed, "init"), features)
    model.load_state_dict(load_checkpoint(run_dir / "checkpoints" / "best.pt")["model"])
    return config, split, model.to(config.device).eval()


def export_topk(
    run_dir: str | Path, path: str | Path, k: int | None = None, device: str | None = None
) -> int:
    """Write ``user<TAB>rank<TAB>item`` (original ids, rank from 1) for every test user; return rows."""
    config, split, model = load_run(run_dir, device)
    protocol = build_protocol(config, split)
    users, items = protocol.test_topk(model, k or max(config.eval.ks))
    user_ids = split.train.user_map.raw
    item_ids = split.train.item_map.raw
    lines = ["user\trank\titem"]
    for u, row in zip(users.tolist(), items):
        lines += [f"{user_ids[u]}\t{r + 1}\t{item_ids[i]}" for r, i in enumerate(row.tolist()) if i >= 0]
    atomic_write_text(path, "\n".join(lines) + "\n")
    return len(lines) - 1


def evaluate_run(run_dir: str | Path, device: str | None = None) -> dict[str, float]:
    """Test metrics of a run's best model; a run trained without reading test (``"test": null``) gets
    them recorded in its ``results.json`` here, the first time they are read."""
    config, split, model = load_run(run_dir, device)
    with torch.inference_mode():
        test = build_protocol(config, split).test_metrics(model)
    results_path = Path(run_dir) / "results.json"
    if results_path.exists():
        results = json.loads(results_path.read_text())
        if results.get("test", {}) is None:
            atomic_write_json(results_path, {**results, "test": test})
    return test


def robustness_run(
    run_dir: str | Path,
    eps_list: list[float],
    *,
    attack: str | list[str] = "fgsm",
    eps_mode: str = "absolute",
    pgd_steps: int = 10,
    targets: list[str] | None = None,
    split: str = "test",
    device: str | None = None,
) -> dict[str, Any]:
    """Probe a finished run's best model with one attack or several (``"fgsm,pgd"``; see
    ``evaluation.robustness``) and record it; return ``results.json``'s whole ``robustness`` entry.

    Each attack probed replaces that attack's curve, control and settings in the entry; other attacks
    and other entries are kept (``results.json`` is rewritten atomically). Then, in ``robustness/``:
    ``<attack>.csv`` for each attack probed, and ``curves.png`` with every attack the entry holds.
    Uses the run's own objective, split and seed.

    ``targets``: the tables to perturb, e.g. ``["item_features"]`` (default: all the model's tables). A
    probe of chosen tables is a different experiment, so it is kept apart: in the entry
    ``robustness_<t1>+<t2>`` of ``results.json`` and the folder ``robustness_<t1>+<t2>/``.

    ``split="valid"`` probes the valid split instead of test (ranked past train, as in model selection),
    so that adversarial-training settings can be chosen on robustness without reading test; it is kept
    apart too, under a ``_valid`` suffix (``robustness_valid``, ``robustness_<tables>_valid``).
    """
    from advrec.evaluation.plots import plot_run_robustness
    from advrec.evaluation.robustness import curve_csv, merge_robustness, robustness_key, robustness_probe

    if split not in ("test", "valid"):
        raise ConfigError(f"split: expected 'test' or 'valid', got {split!r}")
    run_dir = Path(run_dir)
    config, data, model = load_run(run_dir, device)
    if not model.embedding_tables():
        raise AdvrecError(f"{run_dir}: the probe perturbs embedding tables; {type(model).__name__} has none")
    objective, batches = build_objective(config.train.objective, config.train.l2), None
    if config.model.name in SEQUENTIAL_MODELS:  # the probe's gradient: the sequence loss on all windows
        from advrec.training.sequential import SequentialObjective, probe_batches

        objective = SequentialObjective(config.model.sasrec.loss, config.model.sasrec.span)
        batches = probe_batches(config, data, config.device)
    protocol = build_protocol(config, data)
    probe = robustness_probe(
        model,
        data.train,
        protocol.valid_as_test() if split == "valid" else protocol,
        objective,
        eps_list,
        attack=attack,
        eps_mode=eps_mode,
        pgd_steps=pgd_steps,
        seed=config.seed,
        batch_size=config.train.batch_size,
        targets=targets,
        batches=batches,
    )
    path = run_dir / "results.json"
    key = robustness_key(targets, split)
    results = read_json_object(path)
    robustness = results[key] = merge_robustness(results.get(key), probe)
    atomic_write_json(path, results)
    folder = run_dir / key  # robustness_key names the entry and its folder alike
    for name in probe["settings"]:
        atomic_write_text(folder / f"{name}.csv", curve_csv(robustness, name))
    adv = config.adversary
    title = f"{run_dir.name}: {config.model.name}"
    if adv.name != "none":
        title += f", trained with {adv.name} ({adv.method}, ε = {adv.eps} {adv.eps_mode})"
    if targets is not None:
        title += f"; perturbed: {', '.join(targets)}"
    if split == "valid":
        title += "; valid split"
    plot_run_robustness(robustness, folder / "curves.png", title=title)
    return robustness
