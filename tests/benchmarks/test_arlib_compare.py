"""benchmarks/arlib_compare.py and arlib_size_curve.py: ARLib's split read by advrec, the patched copy of
a checkout, the profile statistics, and the curve's run list."""

from pathlib import Path

import numpy as np
import pytest

from advrec.attack.base import FakeProfiles
from advrec.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench(load_bench):
    return load_bench("arlib_compare")


def _checkout(root: Path) -> Path:
    """A stand-in for an ARLib checkout: its ML-100K split files and the lines the driver patches."""
    data = root / "data" / "clean" / "ml-100k"
    data.mkdir(parents=True)
    (data / "train.txt").write_text("1 10 5\n1 11 4\n2 10 4\n2 12 5\n3 11 4\n3 12 4\n3 13 5\n")
    (data / "val.txt").write_text("1 12 4\n2 11 5\n")
    (data / "test.txt").write_text("1 13 4\n3 10 5\n")
    white = root / "attack" / "White"
    white.mkdir(parents=True)
    (white / "PGA.py").write_text(
        "        _, maxRecNumItemInd = torch.topk(x, int(Pi.shape[0] * 0.05))\n"
        "        keep = self.project(m, int(self.maliciousFeedbackSize * self.itemNum))\n"
    )
    (white / "DLAttack.py").write_text("        matrix = torch.tensor(deepcopy(mat))\n")
    return root


def test_arlib_split_is_read_as_given(bench, tmp_path):
    from advrec.data.loading import load_split

    checkout = _checkout(tmp_path / "ARLib")
    config = bench.arlib_split_config(ROOT / "examples" / "basics" / "ml100k_mf_bpr.yaml", seed=3)
    assert config.model.name == "mf" and config.seed == 3 and config.split.method == "given"
    split = load_split(config.data, config.split, checkout / "data" / "clean", np.random.default_rng(0))
    assert len(split.train) == 7 and len(split.valid) == 2 and len(split.test) == 2
    assert sorted(split.train.item_map.raw.tolist()) == [10, 11, 12, 13]


def test_the_copy_is_patched_and_names_the_targets(bench, tmp_path):
    checkout = _checkout(tmp_path / "ARLib")
    work = bench.prepare_arlib(checkout, tmp_path / "work", "13,12", bench.ARLIB_FIXES["PGA"])
    pga = (work / "attack" / "White" / "PGA.py").read_text()
    assert "maxRecNumItemInd.numpy().ravel()" in pga and "int(self.maliciousFeedbackNum)" in pga
    assert "mat.detach().clone()" in (work / "attack" / "White" / "DLAttack.py").read_text()
    assert (work / "data" / "clean" / "ml-100k" / "targetItem_unpopular_2.txt").read_text() == "13,12"
    shipped = (checkout / "attack" / "White" / "PGA.py").read_text()
    assert "maliciousFeedbackSize * self.itemNum" in shipped  # the checkout itself is untouched
    plain = bench.prepare_arlib(checkout, tmp_path / "work", "13,12", [])  # other patches: remade
    assert (
        "int(self.maliciousFeedbackSize * self.itemNum)"
        in (plain / "attack" / "White" / "PGA.py").read_text()
    )


def test_a_changed_checkout_is_refused_naming_the_file(bench, tmp_path):
    checkout = _checkout(tmp_path / "ARLib")
    (checkout / "attack" / "White" / "DLAttack.py").write_text("something else\n")
    with pytest.raises(ConfigError, match="DLAttack.py"):
        bench.prepare_arlib(checkout, tmp_path / "work", "13", [])
    with pytest.raises(ConfigError, match="--arlib"):
        bench.prepare_arlib(tmp_path / "nowhere", tmp_path / "work2", "13", [])


def test_profile_stats_count_filler_and_targets_only_fakes(bench):
    # fake 0: targets 5, 6 and fillers 1, 2; fake 1: the targets only
    prof = FakeProfiles(np.array([0, 0, 0, 0, 1, 1]), np.array([5, 6, 1, 2, 5, 6]), np.ones(6), 2)
    stats = bench.profile_stats(prof, np.array([5, 6]))
    assert stats == {"filler_mean": 1.0, "filler_min": 0, "targets_only": 1}


@pytest.mark.parametrize("bad", ["mf:0.03", "mf=runs/x", "mf:lots=runs/x", "mf:0=runs/x", ":0.03=runs/x"])
def test_curve_runs_refuse_bad_entries(load_bench, bad):
    curve = load_bench("arlib_size_curve")
    with pytest.raises(ConfigError, match="--runs"):
        curve.parse_runs([bad])
    assert curve.parse_runs(["lightgcn:0.05=runs/x"]) == [("lightgcn", 0.05, Path("runs/x"))]
