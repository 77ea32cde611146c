"""The one error family advrec raises on bad input; the CLI shows it without a traceback (exit 2)."""

from __future__ import annotations

from pathlib import Path


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
