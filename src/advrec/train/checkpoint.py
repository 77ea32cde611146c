"""Checkpoints: written atomically with a sha256, loaded with ``weights_only=True`` only after the
checksum and the structure are checked, and restoring every random state.

File layout: the bytes ``torch.save`` writes (a zip archive, which ``torch.load`` also reads directly),
then one trailer line ``ADVREC-CHECKPOINT sha256=<hex of the bytes before it>``. A file whose bytes
do not match its checksum is refused: a damaged checkpoint must never produce a number.

Checkpoints written before the trailer existed still load: their zip archive's own CRC-32 of every
member is checked instead (weaker than a sha256, but it catches damage), and a warning says that the
file carries no checksum. Saving the run again (``--resume`` writes ``last.pt`` each epoch) upgrades it.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from advrec.errors import DataError, warn
from advrec.utils.files import atomic_write

_ZIP_END = b"PK\x05\x06"  # the end-of-central-directory record torch's zip writer ends with
_TRAILER = re.compile(rb"\nADVREC-CHECKPOINT sha256=([0-9a-f]{64})\n\Z")
# what a trainer's resume state holds, and the type each field must have
_TRAINER_FIELDS = {"epoch": int, "best": float, "best_epoch": int, "bad_epochs": int, "best_valid": dict}


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """``state`` (tensors, numbers, strings, lists and dicts of them) written atomically with its sha256."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    trailer = b"\nADVREC-CHECKPOINT sha256=" + hashlib.sha256(payload).hexdigest().encode() + b"\n"
    atomic_write(path, lambda tmp: tmp.write_bytes(payload + trailer))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The state in ``path``, after its checksum and structure are checked; anything wrong is a
    :class:`DataError` naming the file and what is wrong (never a traceback, never a half-read state).

    Checked here, for every caller: the sha256 (or the CRC-32s of a file older than it), that the file
    holds a dict, that a ``model`` entry maps names to finite tensors, and that a ``trainer`` entry has
    its fields with their types and non-negative counts. What only the caller knows (the model's own
    names and shapes, the run's epochs) :func:`check_model_state` and :func:`check_trainer_state` check.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("checkpoint not found" if not path.exists() else "not a checkpoint file", path=path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read the checkpoint: {exc.strerror or exc}", path=path) from None
    payload = _verified_payload(data, path)
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as exc:  # a foreign file that passed no checksum of ours, or one written unsafely
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise DataError(f"not a loadable checkpoint ({type(exc).__name__}: {reason})", path=path) from None
    _check_structure(state, path)
    return state


def _verified_payload(data: bytes, path: Path) -> bytes:
    match = _TRAILER.search(data[-128:])
    if match is not None:
        payload = data[: len(data) - (len(match.group(0)))]
        if hashlib.sha256(payload).hexdigest() != match.group(1).decode():
            raise DataError(
                "checksum mismatch: the file is damaged (its sha256 differs from the one written with it); "
                "retrain, or resume from an intact copy",
                path=path,
            )
        return payload
    if not data.startswith(b"PK"):
        raise DataError(
            "not a checkpoint (neither advrec's checksummed format nor a torch zip file)", path=path
        )
    if data[-22:-18] != _ZIP_END:  # a file of ours whose checksum line itself was damaged, or cut short
        raise DataError(
            "damaged checkpoint: it ends neither with its checksum line nor with a zip end record", path=path
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError) as exc:
        raise DataError(f"damaged checkpoint (not a readable zip archive: {exc})", path=path) from None
    if bad is not None:
        raise DataError(f"damaged checkpoint: member {bad!r} fails its CRC-32", path=path)
    warn(f"{path}: written without a checksum (by an older advrec); its zip CRC-32s were checked instead")
    return data


def _check_structure(state: Any, path: Path) -> None:
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise DataError(f"expected a dict of named entries, found {type(state).__name__}", path=path)
    if "model" in state:
        _check_tensors(state["model"], path, "model")
    if "trainer" in state:
        _check_trainer_fields(state["trainer"], path)


def _check_tensors(entry: Any, path: Path, where: str) -> None:
    if not isinstance(entry, dict):
        raise DataError(
            f"'{where}' should map parameter names to tensors, found {type(entry).__name__}", path=path
        )
    for name, value in entry.items():
        if not isinstance(value, torch.Tensor):
            raise DataError(f"'{where}.{name}' should be a tensor, found {type(value).__name__}", path=path)
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise DataError(f"'{where}.{name}' holds NaN or infinite values", path=path)


def _check_trainer_fields(trainer: Any, path: Path) -> None:
    if not isinstance(trainer, dict):
        raise DataError(f"'trainer' should be a dict, found {type(trainer).__name__}", path=path)
    for name, kind in _TRAINER_FIELDS.items():
        if name not in trainer:
            raise DataError(f"'trainer.{name}' is missing", path=path)
        value = trainer[name]
        ok = isinstance(value, kind) and not isinstance(value, bool)
        if kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)
        if not ok:
            raise DataError(f"'trainer.{name}' should be {kind.__name__}, found {value!r}", path=path)
    if trainer["epoch"] < 0 or trainer["bad_epochs"] < 0 or trainer["best_epoch"] < -1:
        raise DataError(f"'trainer' counts are negative: {trainer}", path=path)
    if trainer["best_epoch"] >= trainer["epoch"]:
        raise DataError(
            f"'trainer.best_epoch' {trainer['best_epoch']} is not before 'trainer.epoch' {trainer['epoch']}",
            path=path,
        )


def check_trainer_state(trainer: dict[str, Any], path: str | Path, epochs: int) -> None:
    """A resume state that fits a run of ``epochs`` epochs (the epoch it stopped at is within them)."""
    if not 0 <= trainer["epoch"] <= epochs:
        raise DataError(
            f"'trainer.epoch' is {trainer['epoch']}, outside this run's 0..{epochs} (train.epochs)", path=path
        )


def check_model_state(state: dict[str, torch.Tensor], model: torch.nn.Module, path: str | Path) -> None:
    """``state`` fits ``model``: the same parameter names, each with the model's shape and kind of dtype."""
    expected = model.state_dict()
    missing = [name for name in expected if name not in state]
    extra = [name for name in state if name not in expected]
    if missing or extra:
        parts = ([f"missing {', '.join(missing[:3])}"] if missing else []) + (
            [f"unexpected {', '.join(extra[:3])}"] if extra else []
        )
        raise DataError(
            f"the checkpoint's model does not fit {type(model).__name__}: {'; '.join(parts)}", path=path
        )
    for name, tensor in expected.items():
        got = state[name]
        if tuple(got.shape) != tuple(tensor.shape):
            raise DataError(
                f"'{name}' has shape {tuple(got.shape)}, the model {tuple(tensor.shape)}: a checkpoint "
                "of another model or data",
                path=path,
            )
        if got.is_floating_point() != tensor.is_floating_point():
            raise DataError(f"'{name}' has dtype {got.dtype}, the model {tensor.dtype}", path=path)


def load_model_state(path: str | Path, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The ``model`` entry of a checkpoint, checked against ``model`` (then ``load_state_dict`` it)."""
    state = load_checkpoint(path).get("model")
    if state is None:
        raise DataError("the checkpoint holds no 'model' entry", path=path)
    check_model_state(state, model, path)
    return state


def check_resume_checkpoint(path: str | Path, model: torch.nn.Module, epochs: int) -> None:
    """A ``last.pt`` a run of ``model`` and ``epochs`` epochs can resume from: loadable and intact, with
    a model state that fits the model and a trainer state within the run (checked before resuming, so
    a foreign or edited file is one error, not a traceback or a run that silently does nothing)."""
    state = load_checkpoint(path)
    for key in ("model", "trainer"):
        if key not in state:
            raise DataError(f"the checkpoint holds no '{key}' entry; it cannot resume a run", path=path)
    check_model_state(state["model"], model, path)
    check_trainer_state(state["trainer"], path, epochs)


def rng_state(generators: dict[str, np.random.Generator]) -> dict[str, Any]:
    """Torch's global CPU (and CUDA) state plus each named numpy generator's bit-generator state."""
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {name: gen.bit_generator.state for name, gen in generators.items()},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any], generators: dict[str, np.random.Generator]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    for name, gen in generators.items():
        gen.bit_generator.state = state["numpy"][name]
