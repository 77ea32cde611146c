"""Optional experiment tracking: TensorBoard scalars per epoch (the ``tensorboard`` extra).

``advrec study --tensorboard DIR`` writes one TensorBoard run per cell, ``DIR/<cell folder>``: every
numeric entry of the epoch's log line (``loss``, ``adv_loss``, ``d_loss``, ``lr``, ...) under ``train/``,
valid metrics under ``valid/``, and after training the test metrics under ``test/`` (step = best epoch).
Off by default; the package is imported only when asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advrec.errors import AdvrecError
from advrec.training.hooks import TrainHook


def _writer(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise AdvrecError(
            "--tensorboard needs the tensorboard package: pip install 'advrec[tensorboard]'"
        ) from None
    return SummaryWriter(log_dir=str(folder))


class TensorBoardHook(TrainHook):
    """Writes each epoch's scalars; ``close(results)`` adds the test metrics and flushes."""

    def __init__(self, folder: str | Path):
        self.writer = _writer(Path(folder))

    def on_epoch_end(self, epoch: int, log: dict[str, Any]) -> None:
        for key, value in log.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "epoch":
                self.writer.add_scalar(f"train/{key}", value, epoch)
        for key, value in (log.get("valid") or {}).items():
            self.writer.add_scalar(f"valid/{key}", value, epoch)
        self.writer.flush()

    def close(self, results: dict[str, Any] | None = None) -> None:
        if results:
            step = int(results.get("best_epoch", 0))
            for key, value in (results.get("test") or {}).items():
                if isinstance(value, (int, float)):
                    self.writer.add_scalar(f"test/{key}", value, step)
        self.writer.close()
