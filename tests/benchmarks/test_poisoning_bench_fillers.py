"""benchmarks/poisoning_ml100k.py's --filler: per-attack filler sizes, bad entries rejected."""

import importlib.util
from pathlib import Path

import pytest

from advrec.errors import ConfigError

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "poisoning_ml100k.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("poisoning_ml100k", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fillers_per_attack(bench):
    assert bench._fillers("") == {}
    assert bench._fillers("template=60, optimised=0.05") == {"template": 60.0, "optimised": 0.05}


@pytest.mark.parametrize("bad", ["60", "template=", "template=lots"])
def test_bad_filler_entries_name_the_entry(bench, bad):
    with pytest.raises(ConfigError, match="--filler"):
        bench._fillers(bad)
