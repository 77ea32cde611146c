import math
import struct

import pytest

from advrec.errors import AdvrecError
from advrec.measure.size_curve import plot_size_curve, summarise


def _runs():
    # two seeds at 1% and 3%, one seed at 5%; hand-computed figures in the test below
    return [
        {"attack": "template", "size": 0.03, "seed": 1, "before": 0.01, "after": 0.05},
        {"attack": "template", "size": 0.03, "seed": 2, "before": 0.03, "after": 0.07},
        {"attack": "template", "size": 0.01, "seed": 1, "before": 0.01, "after": 0.02},
        {"attack": "template", "size": 0.01, "seed": 2, "before": 0.03, "after": 0.04},
        {"attack": "template", "size": 0.05, "seed": 1, "before": 0.01, "after": 0.09},
        {"attack": "bandwagon", "size": 0.03, "seed": 1, "before": 0.0, "after": 0.002},
    ]


def test_summary_pools_seeds_as_the_poisoning_tables_do():
    rows = summarise(_runs())
    assert [(r["attack"], r["size"], r["seeds"]) for r in rows] == [
        ("bandwagon", 0.03, 1),
        ("template", 0.01, 2),
        ("template", 0.03, 2),
        ("template", 0.05, 1),
    ]
    at3 = rows[2]
    assert at3["before"] == pytest.approx(0.02)
    assert at3["after"] == pytest.approx(0.06)
    assert at3["after_std"] == pytest.approx(math.sqrt(2) * 0.01)  # sample std of 0.05, 0.07
    assert at3["gain"] == pytest.approx(3.0)  # ratio of the means, not the mean of 5x and 2.33x
    assert rows[1]["gain"] == pytest.approx(0.03 / 0.02)
    assert rows[3]["after_std"] == 0.0 and rows[3]["gain"] == pytest.approx(9.0)
    assert rows[0]["gain"] == math.inf  # nothing exposed before: no finite gain


def test_summary_rejects_incomplete_or_duplicate_runs():
    with pytest.raises(AdvrecError, match="row 1: missing after"):
        summarise([_runs()[0], {"attack": "x", "size": 0.03, "seed": 1, "before": 0.1}])
    with pytest.raises(AdvrecError, match="lists a seed twice"):
        summarise([_runs()[0], _runs()[0]])
    with pytest.raises(AdvrecError, match="no runs"):
        summarise([])


def test_plot_is_a_png(tmp_path):
    runs = [r for r in _runs() if r["attack"] == "template"]
    path = plot_size_curve(summarise(runs), runs, tmp_path / "curve.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1000, 360)  # two 5 x 3.6 inch panels at 100 dpi
    assert b"Matplotlib" in data and len(data) > 10_000
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically
