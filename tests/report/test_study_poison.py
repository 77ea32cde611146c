"""A study's attack axis: the ``poison`` step runs ``advrec attack``'s experiment on each cell."""

import io
import json

import pytest

from advrec.errors import ConfigError
from advrec.experiments.study import parse_study, run_study
from advrec.report.build import build_report
from advrec.report.collect import find_runs


@pytest.fixture
def poison_study(tiny_study) -> dict:
    tiny_study["axes"] = {
        "attack": {
            "none": {},
            "bandwagon": {"steps": {"poison": {"attack": "bandwagon", "size": 0.1, "targets": "random:2"}}},
        }
    }
    tiny_study["report"] = {"baseline": "none"}
    return tiny_study


def test_poison_step_reuses_the_cell_as_clean_victim_and_records_before_after(tmp_path, poison_study):
    study, cells = parse_study(poison_study)
    out = tmp_path / "s"
    first = run_study(study, cells, out, stream=io.StringIO())
    assert first["trained"] == 2 and first["steps"] == 3  # per_user twice (default), poison once

    attacked = next(c for c in cells if c.label == "bandwagon")
    run_dir = out / attacked.folder
    results = json.loads((run_dir / "results.json").read_text())
    entry = results["poisoning"]
    assert entry["attack"] == "bandwagon" and len(entry["targets"]) == 2
    assert entry["n_fake"] == 4  # 10% of 40 real users
    # the cell itself is the clean victim: its test metrics are the "before" ones, nothing retrained
    assert entry["before"]["ndcg@10"] == pytest.approx(results["test"]["ndcg@10"])
    assert not (run_dir / "poisoning" / "clean").exists()
    assert (run_dir / "poisoning" / "poisoned" / "results.json").exists()
    fake = (run_dir / "poisoning" / "poisoned" / "split" / "fake_users.txt").read_text().split()
    assert len(fake) == 4

    # the nested poisoned victim is part of the cell, not a system of its own
    runs = find_runs(out)
    assert sorted(r.label for r in runs) == ["bandwagon", "none"]
    files = build_report(out, out / "report.html")
    assert "poisoning" in files.sections

    mtime = (run_dir / "results.json").stat().st_mtime_ns
    again = run_study(study, cells, out, stream=io.StringIO(), report=False)
    assert again["skipped"] == 2 and again["steps"] == 0
    assert (run_dir / "results.json").stat().st_mtime_ns == mtime


@pytest.mark.parametrize(
    "options, message",
    [
        ({"attack": "nope", "targets": "mid:5"}, "unknown attack"),
        ({"attack": "bandwagon"}, "targets: Field required"),
        (
            {"attack": "bandwagon", "targets": "mid:5", "size": 2},
            "size: Input should be less than or equal to 1",
        ),
        ({"attack": "bandwagon", "targets": "mid:5", "colour": "red"}, "colour"),
    ],
)
def test_bad_poison_options_fail_when_the_study_is_read(poison_study, options, message):
    poison_study["axes"]["attack"]["bandwagon"]["steps"]["poison"] = options
    with pytest.raises(ConfigError, match=message):
        parse_study(poison_study)
