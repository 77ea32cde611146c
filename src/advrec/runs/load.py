"""A finished run folder read back: its config, exact split and best model; re-evaluation and top-k export."""

from __future__ import annotations

from pathlib import Path

import torch

from advrec.data.split import Split, load_saved_split
from advrec.errors import AdvrecError, ConfigError
from advrec.measure.protocol import say_undefined
from advrec.models.base import ScoringModel
from advrec.models.registry import MODELS, ModelConfig, build_model
from advrec.runs.config import RunConfig
from advrec.runs.folder import check_saved_split, saved_config, saved_item_features
from advrec.runs.setup import build_protocol
from advrec.train.checkpoint import load_model_state
from advrec.utils.devices import check_device, check_device_name
from advrec.utils.files import atomic_write_json, atomic_write_text, read_json_object
from advrec.utils.locking import folder_lock
from advrec.utils.seeding import torch_generator


def load_run(run_dir: str | Path, device: str | None = None) -> tuple[RunConfig, Split, ScoringModel]:
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
    check_saved_split(run_dir)
    split = load_saved_split(run_dir / "split")
    features = None
    if config.data.item_features is not None or config.data.item_text is not None:
        features = saved_item_features(run_dir / "split", split)
    model = build_model(read_back(config.model), split.train, torch_generator(config.seed, "init"), features)
    model.load_state_dict(load_model_state(run_dir / "checkpoints" / "best.pt", model))
    return config, split, model.to(config.device).eval()


def read_back(model: ModelConfig) -> ModelConfig:
    """The model a finished run is read back as: itself, or for a model with sharded tables the
    single-process model it shards (``dense`` in its registration), whose state dict its checkpoints hold,
    so that a run trained under torchrun is evaluated, probed and exported in one process."""
    dense = MODELS[model.name].info.get("dense")
    if dense is None:
        return model
    fields = MODELS[dense].config.model_fields
    return MODELS.validate(
        {"name": dense, **{k: v for k, v in model.model_dump().items() if k in fields and k != "name"}}
    )


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
    say_undefined(test)
    results_path = Path(run_dir) / "results.json"
    if results_path.exists() and read_json_object(results_path).get("test", {}) is None:
        with folder_lock(run_dir):  # read again under the lock: another writer may have come first
            results = read_json_object(results_path)
            if results.get("test", {}) is None:
                atomic_write_json(results_path, {**results, "test": test})
    return test
