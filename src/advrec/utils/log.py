"""Logging: every message of advrec goes to the ``advrec`` logger tree (``advrec.train.trainer``: one
line per epoch; ``advrec.experiments.study``: one per cell and step). A run folder's ``run.log`` receives
them while the run trains; the command line shows them on stderr (through tqdm on a terminal, so that
progress bars and lines do not overwrite each other). A library user sees nothing until they configure
``logging`` themselves, as Python libraries should.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = "advrec"
FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _TqdmAwareHandler(logging.StreamHandler):
    """Writes through ``tqdm.write`` on a terminal, so a line never breaks a progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # logging must never raise (the standard handlers do the same)
            self.handleError(record)


@contextmanager
def console_log(level: int = logging.INFO, stream: Any = None) -> Iterator[None]:
    """While the block runs, show advrec's messages of ``level`` and above on ``stream`` (stderr), one
    line each and flushed at once, so a log file written by ``> log 2>&1`` grows while a run trains."""
    logger = logging.getLogger(ROOT)
    stream = stream or sys.stderr
    handler = _TqdmAwareHandler(stream) if stream.isatty() else logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.setLevel(level)
    previous = logger.level
    if previous == logging.NOTSET or previous > level:
        logger.setLevel(level)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


@contextmanager
def run_log(run_dir: Path, enabled: bool = True) -> Iterator[None]:
    """While the block runs, append advrec's INFO messages to ``run_dir/run.log`` (a resumed run adds to
    the same file). The logger's level is lowered to INFO for the block if needed, and restored."""
    if not enabled:
        yield
        return
    logger = logging.getLogger(ROOT)
    handler = logging.FileHandler(run_dir / "run.log", mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter(FILE_FORMAT))
    handler.setLevel(logging.INFO)
    level = logger.level
    if level == logging.NOTSET or level > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
        logger.setLevel(level)
