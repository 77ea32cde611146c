"""benchmarks/poisoning_ml100k.py's --filler: per-attack filler sizes, bad entries rejected."""

import pytest

from advrec.errors import ConfigError


@pytest.fixture(scope="module")
def bench(load_bench):
    return load_bench("poisoning_ml100k")


def test_fillers_per_attack(bench):
    assert bench.parse_fillers("") == {}
    assert bench.parse_fillers("template=60, optimised=0.05") == {"template": 60.0, "optimised": 0.05}


@pytest.mark.parametrize("bad", ["60", "template=", "template=lots"])
def test_bad_filler_entries_name_the_entry(bench, bad):
    with pytest.raises(ConfigError, match="--filler"):
        bench.parse_fillers(bad)
