"""Shared pieces of the fault-injection suite: small MovieLens-format data made in code, a base run
config, and the CLI run in-process with its exit code and one-line error checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from reliability_helpers import base_raw, write_config, write_ratings

from advrec.cli.main import main


@pytest.fixture
def ratings(tmp_path) -> Path:
    return write_ratings(tmp_path / "data" / "u.data")


@pytest.fixture
def base_yaml(tmp_path, ratings) -> Path:
    return write_config(tmp_path / "base.yaml", base_raw(ratings))


class CliResult:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err

    def error_line(self) -> str:
        """The one ``advrec: error: ...`` line (asserting there is exactly one and no traceback)."""
        assert "Traceback" not in self.err, self.err
        lines = [line for line in self.err.splitlines() if line.startswith("advrec: error: ")]
        assert len(lines) == 1, self.err
        return lines[0]


@pytest.fixture
def cli(capsys):
    """``cli("train", cfg, "--out", d)`` -> CliResult; argparse's own exits are caught as codes."""

    def run(*argv: object) -> CliResult:
        capsys.readouterr()
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse: bad usage
            code = exc.code
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
