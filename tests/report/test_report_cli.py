"""``advrec study`` and ``advrec demo`` end to end, and the shipped study example."""

from pathlib import Path

import yaml

from advrec.cli.main import main
from advrec.experiments.study import load_study

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_shipped_study_examples_are_valid():
    files = sorted(EXAMPLES.rglob("study_*.yaml"))
    assert files
    for path in files:
        study, cells = load_study(path)
        assert len(cells) == len(study.seeds) * len(next(iter(study.axes.values())))
        assert all(c.config.data.format != "synthetic" for c in cells)
    study, cells = load_study(EXAMPLES / "studies" / "study_ml100k_mf_apr.yaml")
    assert {c.label for c in cells} == {"bpr_mf", "apr_mf"} and study.seeds == [2020, 2021, 2022]
    assert {c.config.adversary.name for c in cells} == {"none", "apr"}


def test_cli_study_runs_resumes_and_reports(tmp_path, tiny_study, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(tiny_study))
    out = tmp_path / "out"
    assert main(["study", str(path), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-2].startswith("2 cells: 2 trained, 0 resumed, 0 already finished")
    assert lines[-1] == str(out / "report.html") and (out / "report.md").exists()
    assert main(["study", str(path), "--out", str(out), "--no-report"]) == 0
    assert "0 trained, 0 resumed, 2 already finished" in capsys.readouterr().out


def test_cli_study_errors_exit_2(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text("axes: {m: {a: {train.epochs: zero}}}\n")
    assert main(["study", str(path)]) == 2
    err = capsys.readouterr().err
    assert "s.yaml: cell m=a" in err and "train.epochs" in err and "Traceback" not in err


def test_cli_demo_writes_the_report_and_ends_with_its_path(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--epochs", "2"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == str(out / "report.html")
    html = (out / "report.html").read_text()
    for section in ("leaderboard", "training", "robustness", "tradeoff"):
        assert f'id="{section}"' in html
    assert "BPR-MF" in html and "APR-MF" in html
