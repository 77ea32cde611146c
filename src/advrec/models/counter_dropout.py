"""Dropout masks from a counter-based hash (SplitMix64) instead of torch's Mersenne Twister.

On the CPU, ``torch.bernoulli_`` draws one Mersenne-Twister number per element on one thread: about a
quarter of a SASRec training step (docs/notes/2026-11-sasrec-accuracy-and-speed.md). A counter-based
generator makes each
mask a few vectorised integer operations on ``seed + counter``: every output is SplitMix64 (Steele, Lea &
Flood, OOPSLA 2014; the seeding generator of xoshiro) of its own counter, so masks need no state but
``(seed, counter)``, split into independent streams by counter ranges, and come out the same on every device
and thread count. Each 64-bit output gives two 32-bit uniforms; an element is kept when its uniform is at
least ``p * 2**32`` (rounded), so the drop rate is ``p`` to within 2**-33.

A ``MaskStream`` serves one forward pass: its seed is drawn from torch's default CPU generator (so a
run's seed and its checkpointed RNG state fix the masks), and each mask it hands out takes the next range
of counters, so no two masks of the pass share a counter.
"""

from __future__ import annotations

import math

import torch

from advrec.errors import AdvrecError

DROPOUT_RNGS = ("torch", "counter")
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_MASK64 = (1 << 64) - 1


def _signed(value: int) -> int:
    """A 64-bit pattern as the int64 torch multiplies with (two's complement; torch's products wrap)."""
    value &= _MASK64
    return value - (1 << 64) if value >> 63 else value


def _shift_xor_(z: torch.Tensor, bits: int) -> torch.Tensor:
    """z ^= z >>> bits on int64: torch's >> is arithmetic, so the copied sign bits are masked off."""
    return z.bitwise_xor_(z.bitwise_right_shift(bits).bitwise_and_((1 << (64 - bits)) - 1))


def splitmix64(counters: torch.Tensor, seed: int) -> torch.Tensor:
    """SplitMix64's output (as int64 bits) for state ``seed + (counter + 1) * golden`` of each counter."""
    z = counters * _signed(_GOLDEN)  # a new tensor; everything after works in place (masks are hot code)
    z.add_(_signed(seed + _GOLDEN))
    _shift_xor_(z, 30).mul_(_signed(_MIX1))
    _shift_xor_(z, 27).mul_(_signed(_MIX2))
    return _shift_xor_(z, 31)


def splitmix64_reference(counter: int, seed: int) -> int:
    """The same in plain Python integers (for tests): the published SplitMix64 step."""
    z = (seed + (counter + 1) * _GOLDEN) & _MASK64
    z = ((z ^ (z >> 30)) * _MIX1) & _MASK64
    z = ((z ^ (z >> 27)) * _MIX2) & _MASK64
    return z ^ (z >> 31)


def counters_for(shape: torch.Size | tuple[int, ...]) -> int:
    """Counters a mask of ``shape`` uses: one per two elements."""
    return (math.prod(shape) + 1) // 2


def keep_mask(
    shape: torch.Size | tuple[int, ...], p: float, seed: int, offset: int, device: torch.device
) -> torch.Tensor:
    """Boolean keep-mask of ``shape`` with P(keep) = 1 - p, from counters ``offset, offset + 1, ...``.

    Uses ``counters_for(shape)`` counters (two 32-bit uniforms per output); p 1 drops everything."""
    numel = math.prod(shape)
    if p >= 1.0:  # the threshold 2**31 would not fit the int32 comparison
        return torch.zeros(shape, dtype=torch.bool, device=device)
    counters = torch.arange(offset, offset + counters_for(shape), dtype=torch.int64, device=device)
    uniforms = splitmix64(counters, seed).view(torch.int32)[:numel]  # uniform over [-2**31, 2**31)
    threshold = round(p * 2**32) - 2**31  # keep iff u >= p * 2**32, u = uniform + 2**31
    return (uniforms >= threshold).view(shape)


def check_dropout_rng(name: str) -> str:
    if name not in DROPOUT_RNGS:
        raise AdvrecError(f"model.dropout_rng must be torch or counter, got {name!r}")
    return name


def draw_seed() -> int:
    """One draw from torch's default CPU generator (what ``torch.manual_seed`` and a run's seed fix)."""
    return int(torch.randint(0, 2**62, (1,)).item())


class MaskStream:
    """Dropout for one forward pass: independent masks from consecutive counter ranges of one seed."""

    def __init__(self, p: float, seed: int):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.seed = seed
        self.offset = 0

    @classmethod
    def from_torch_rng(cls, p: float) -> MaskStream:
        """Seeded by one draw from torch's default CPU generator (``draw_seed``)."""
        return cls(p, draw_seed())

    @classmethod
    def for_forward(cls, dropout_rng: str, p: float, training: bool) -> MaskStream | None:
        """A model's stream for one forward pass: only with ``dropout_rng == "counter"``, in training and
        with p > 0; None means the model uses torch's dropout (a no-op outside training)."""
        if dropout_rng != "counter" or not training or p == 0.0:
            return None
        return cls.from_torch_rng(p)

    def mask(self, shape: torch.Size | tuple[int, ...], device: torch.device) -> torch.Tensor:
        keep = keep_mask(shape, self.p, self.seed, self.offset, device)
        self.offset += counters_for(shape)
        return keep

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Inverted dropout: kept elements scaled by 1 / (1 - p), as ``F.dropout``."""
        if self.p == 0.0:
            return x
        keep = self.mask(x.shape, x.device)
        return x * keep.to(x.dtype).mul_(1.0 / (1.0 - self.p))
