"""benchmarks/detection_ml100k.py's summary: mean ± std over every (split seed, detector seed) run."""

import pytest


@pytest.fixture(scope="module")
def bench(load_bench):
    return load_bench("detection_ml100k")


def _m(p, r, f1, auc):
    return {"precision": p, "recall": r, "f1": f1, "auc": auc}


def test_summary_pools_split_and_detector_seeds(bench):
    per_split = {
        2020: {"gan": {"detectors": {"rf": [_m(1.0, 0.5, 0.6, 0.9), _m(0.5, 0.5, 0.4, 0.7)]}}},
        2021: {"gan": {"detectors": {"rf": [_m(0.0, 0.5, 0.2, 0.5)]}}},
    }
    lines = bench.summary_table(per_split, ["gan"], ["rf", "pca"])
    # pca has no runs: no row; rf pools three runs. By hand: precision mean 0.5, std sqrt(1/6) = 0.408;
    # recall 0.5 ± 0; F1 0.4 ± sqrt(0.08/3) = 0.163; AUC 0.7 ± 0.163
    assert lines[2:] == ["| gan | rf | 0.500 ± 0.408 | 0.500 ± 0.000 | 0.400 ± 0.163 | 0.700 ± 0.163 |"]
    assert lines[0].startswith("| attack | detector | precision | recall | F1 | AUC |")
