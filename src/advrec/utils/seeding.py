"""Independent random streams per purpose, all derived from one run seed.

Separate streams mean that, e.g., changing the sampler does not change the split or the
initialisation: each purpose draws from its own child of ``numpy.random.SeedSequence(seed)``.
"""

from __future__ import annotations

import numpy as np
import torch

from advrec.errors import ConfigError

PURPOSES = ("split", "sampler", "init", "dropout", "adversary", "attack", "synthetic", "augment")


def check_seed(seed: object, key: str = "seed") -> int:
    """A seed is a non-negative integer (numpy's SeedSequence refuses others with a bare ValueError)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"{key}: expected a non-negative integer, got {seed!r}")
    return int(seed)


def child_seed(seed: int, purpose: str) -> int:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown seed purpose {purpose!r}; valid: {', '.join(PURPOSES)}")
    check_seed(seed)
    seq = np.random.SeedSequence(seed, spawn_key=(PURPOSES.index(purpose),))
    return int(seq.generate_state(1, dtype=np.uint64)[0] & 0x7FFF_FFFF_FFFF_FFFF)


def numpy_rng(seed: int, purpose: str) -> np.random.Generator:
    return np.random.default_rng(child_seed(seed, purpose))


def torch_generator(seed: int, purpose: str, device: str | torch.device = "cpu") -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(child_seed(seed, purpose))
    return gen
