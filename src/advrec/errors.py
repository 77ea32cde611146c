"""The one error family advrec raises on bad input; the CLI shows it without a traceback (exit 2)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any


class AdvrecError(Exception):
    """Base of every error caused by user input (files, configs, arguments)."""


class DataError(AdvrecError):
    """A data file is malformed; the message names the file, the line and what was expected."""

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None):
        self.path = None if path is None else str(path)
        self.line = line
        where = ""
        if self.path is not None:
            where = f"{self.path}:{line}: " if line is not None else f"{self.path}: "
        super().__init__(where + message)


class ConfigError(AdvrecError):
    """A config key or value is wrong; the message names the key and what was expected."""


class TrainingDiverged(AdvrecError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class NothingSelected(AdvrecError):
    """The run ended without an epoch that may be selected as best (its checkpoints are kept)."""


class NonFiniteScores(AdvrecError):
    """A model scored NaN or infinity: no metric, probe or report number is computed from such scores."""


class StorageError(AdvrecError):
    """A file could not be written (a full disk, no permission, a folder where a file should go)."""


class FolderBusy(AdvrecError):
    """Another running process holds the folder (a run, study or attack folder) this one would write."""


class AdvrecWarning(UserWarning):
    """Something the user should know that does not stop the work; the CLI prints it on one line
    (``advrec: warning: ...``)."""


def warn(message: str) -> None:
    """Say ``message`` as an :class:`AdvrecWarning` (shown once per message and place by default)."""
    warnings.warn(message, AdvrecWarning, stacklevel=2)


def plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds, so messages show ``13``, not ``np.int64(13)``."""
    item = getattr(value, "item", None)
    return item() if callable(item) and getattr(value, "shape", None) == () else value
