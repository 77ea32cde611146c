"""What a run ran on, recorded next to its timings: figures from different machines differ by 2x and more
(one SASRec epoch took 8.7 s on one 2-vCPU machine and 4.2 s on another), so a timing without its
machine cannot be compared."""

from __future__ import annotations

import platform
import sys
from pathlib import Path
from typing import Any

import torch


def processor_name() -> str:
    """The CPU model as the OS names it (Linux: /proc/cpuinfo), else what ``platform`` reports."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def run_environment(device: str) -> dict[str, Any]:
    from advrec import __version__

    env: dict[str, Any] = {
        "advrec": __version__,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": processor_name(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
    }
    if device.startswith("cuda"):
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return env
