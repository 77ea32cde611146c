"""Device names: the syntax a config may hold, and whether this machine has the device it names."""

from __future__ import annotations

import torch

from advrec.errors import ConfigError


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


def check_device_name(name: str) -> str:
    """``name`` if it is cpu, cuda or cuda:N, else ValueError. The name only: whether this machine has
    the device is checked when a run starts (a run folder trained on a GPU must load on one without)."""
    kind, _, index = name.partition(":")
    if kind not in ("cpu", "cuda") or (index and not index.isdigit()) or (kind == "cpu" and index):
        raise ValueError("expected cpu, cuda or cuda:N")
    return name
