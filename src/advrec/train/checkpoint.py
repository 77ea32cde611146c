"""Atomic checkpoints that load with ``weights_only=True`` and restore every random state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from advrec.errors import AdvrecError
from advrec.utils.files import atomic_write


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise AdvrecError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt or foreign file: say which one
        raise AdvrecError(f"{path}: cannot load checkpoint ({type(exc).__name__}: {exc})") from None


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
