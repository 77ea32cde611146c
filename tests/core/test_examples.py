"""Every shipped example config is valid (a typo in an example is a bug users would hit first)."""

from pathlib import Path

import pytest

from advrec.runs.config import load_config

EXAMPLES = sorted(
    p
    for p in (Path(__file__).resolve().parents[2] / "examples").rglob("*.yaml")
    if not p.name.startswith("study_")
)  # study_*.yaml are study files (advrec study), checked in tests/report/test_report_cli.py


def test_examples_exist():
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_config_is_valid(path):
    config = load_config(path)
    assert config.data.format != "synthetic"  # examples read real data from --data-root
