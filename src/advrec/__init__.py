"""advrec: adversarial training, attacks, defences and honest evaluation for recommender systems.

The Python API (``advrec.fit``, ``advrec.load``, ``advrec.Run``; see ``advrec.api``) is imported on
first use, so ``import advrec`` stays cheap: the command line and tools that read ``__version__`` do not
pay for torch.
"""

from __future__ import annotations

__version__ = "0.1.0"

_API = ("fit", "load", "Run")
__all__ = [*_API, "__version__"]


def __getattr__(name: str) -> object:
    if name in _API:
        from advrec import api

        value = getattr(api, name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'advrec' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
