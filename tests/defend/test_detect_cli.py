"""``advrec detect`` end to end on a small labelled file set, and its one-line errors."""

from __future__ import annotations

import csv
import json

import numpy as np
from detection_data import attacked_set, write_labelled_set

from advrec.cli.main import main


def test_detect_end_to_end(tmp_path, capsys):
    matrix, labels = attacked_set(seed=3, n_users=90, n_items=50, n_fake=10, filler=8)
    ratings, labels_path = write_labelled_set(tmp_path, matrix, labels)
    out = tmp_path / "out"
    argv = ["detect", "--ratings", str(ratings), "--labels", str(labels_path), "--folds", "3", "--seed", "1"]
    assert main([*argv, "--detector", "gbdt,pca", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert list(results["detection"]) == ["gbdt", "pca"]
    for metrics in results["detection"].values():
        assert set(metrics) >= {"precision", "recall", "f1", "auc"}
        assert 0 <= metrics["f1"] <= 1 and 0.5 < metrics["auc"] <= 1
    settings = results["detection_settings"]
    assert (settings["n_users"], settings["n_fake"], settings["folds"]) == (100, 10, 3)
    assert settings["unsupervised_n_flag"] == 10 and results["detection"]["pca"]["n_flagged"] == 10
    with open(out / "detection_scores.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 100 and rows[0]["user"] == "u0"
    assert [int(r["label"]) for r in rows] == labels.tolist()
    assert sum(int(r["pca_flag"]) for r in rows) == 10
    # The CSV's flags reproduce the reported precision.
    flagged = [int(r["label"]) for r in rows if r["gbdt_flag"] == "1"]
    assert results["detection"]["gbdt"]["precision"] == (np.mean(flagged) if flagged else 0.0)
    assert (out / "detection_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "results in" in capsys.readouterr().out

    # Same seed, same numbers; other keys of an existing results.json are kept.
    results["other"] = {"kept": True}
    (out / "results.json").write_text(json.dumps(results))
    assert main([*argv, "--detector", "gbdt,pca", "--out", str(out)]) == 0
    again = json.loads((out / "results.json").read_text())
    assert again["detection"] == results["detection"] and again["other"] == {"kept": True}


def test_detect_errors_are_one_line(tmp_path, capsys):
    ratings = tmp_path / "r.txt"
    ratings.write_text("a x 4\nb y three\n")
    labels = tmp_path / "l.txt"
    labels.write_text("a 0\nb 1\n")
    base = ["detect", "--ratings", str(ratings), "--labels", str(labels), "--out", str(tmp_path / "o")]
    cases = [
        (base, f"{ratings}:2: rating 'three' is not a number"),
        ([*base, "--detector", "gbdt,svm"], "--detector 'gbdt,svm': unknown detector(s) svm; valid:"),
        ([*base, "--folds", "1"], "--folds: must be at least 2"),
        ([*base, "--attack-size", "1.5"], "--attack-size: expected a share between 0 and 1"),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "o").exists()


def test_report_of_a_detect_folder_draws_every_detectors_roc_and_pr(tmp_path):
    from advrec.report.build import _detection_scores, build_report
    from advrec.report.collect import find_runs, group_runs

    matrix, labels = attacked_set(seed=3, n_users=90, n_items=50, n_fake=10, filler=8)
    ratings, labels_path = write_labelled_set(tmp_path, matrix, labels)
    out = tmp_path / "out"
    argv = ["detect", "--ratings", str(ratings), "--labels", str(labels_path), "--detector", "gbdt,pca"]
    assert main([*argv, "--folds", "3", "--out", str(out)]) == 0

    scores = _detection_scores(group_runs(find_runs(out)))
    assert sorted(name.split(": ")[1] for name in scores) == ["gbdt", "pca"]
    for frame in scores.values():
        assert frame["label"].tolist() == labels.tolist() and frame["score"].notna().all()
    files = build_report(out, out / "report.html")
    assert "detection" in files.sections
    html = files.html.read_text()
    detection = html[html.index('id="detection"') :]
    assert "data:image/png;base64," in detection
