"""``build_report`` and ``advrec report`` on hand-made run folders: files, content, self-containment."""

import base64
import io
import re

import matplotlib.image
import pandas as pd
import pytest
from report_helpers import robustness_entry, write_run

from advrec.cli.main import main
from advrec.errors import AdvrecError
from advrec.report.build import build_report


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    for seed in (1, 2, 3):
        write_run(
            root / f"mf{seed}",
            seed=seed,
            test={"ndcg@10": 0.20 + 0.01 * seed, "recall@10": 0.3},
            extra={
                "robustness": robustness_entry(0.2, {"0.5": 0.2, "1.0": 0.4}),
                "timing": {"train_s_per_epoch": 1.5, "eval_s": 0.1, "time_to_best_s": 40.0 + seed},
            },
        )
        write_run(
            root / f"apr{seed}",
            adversary="apr",
            seed=seed,
            test={"ndcg@10": 0.25 + 0.012 * seed, "recall@10": 0.3},
            extra={"robustness": robustness_entry(0.25, {"0.5": 0.1, "1.0": 0.2})},
            history=[
                {"epoch": e, "d_loss": 1.0, "g_loss": 2.0 - e, "lr_g": 0.1, "lr_d": 0.2} for e in range(3)
            ],
        )
    return root


def _images(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'<img [^>]*src="data:image/png;base64,([^"]+)"', html)]


def test_report_files_and_content(runs, tmp_path):
    files = build_report(runs, tmp_path / "out" / "r.html", baseline="mf")
    assert files.sections == ["overview", "leaderboard", "significance", "training", "robustness", "tradeoff"]
    html = files.html.read_text()
    # self-contained: no script, stylesheet link, or any http(s)/file reference
    assert "<script" not in html and "<link" not in html
    assert not re.search(r"(src|href)=\"(?!data:|#)", html)
    images = _images(html)
    assert len(images) == 3 == html.count("<img ")
    for png in images:
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert matplotlib.image.imread(io.BytesIO(png), format="png").shape[0] > 100
    # leaderboard: 3-seed paired t-test of apr vs mf, differences 0.052, 0.054, 0.056 -> significant
    assert "0.2740 ± 0.0120 *" in html and "0.2200 ± 0.0100" in html
    md = files.markdown.read_text()
    assert files.markdown.name == "r.md" and "| mf+apr(fgsm) | 3 | 0.2740 ± 0.0120 * |" in md
    # overview: each run's time to its best epoch, where results.json has it (NaN for older runs)
    # best epoch counted from 1 as the logs count (results.json keeps the 0-based index 2)
    assert "| s to best |" in md and "| mf | 2 | mf2 | 3 | 3 | 1.5000 | 42.0000 |" in md
    assert [p.name for p in files.csvs] == ["r_leaderboard.csv", "r_significance.csv", "r_robustness.csv"]
    board = pd.read_csv(files.csvs[0])
    assert board.loc[(board.system == "mf") & (board.metric == "ndcg@10"), "mean"].item() == pytest.approx(
        0.22
    )
    sig = pd.read_csv(files.csvs[1])
    row = sig[sig.metric == "ndcg@10"].iloc[0]
    assert row.paired_by == "seeds" and row.p_t < 0.05 and row.p_wilcoxon == pytest.approx(0.25)


def test_report_chosen_eps_and_errors(runs, tmp_path):
    files = build_report(runs, tmp_path / "a.html", eps="1")
    assert "ε = 1.0" in files.html.read_text()
    with pytest.raises(AdvrecError, match=r"--eps 0.3: not probed; the runs have ε = 0.5, 1.0"):
        build_report(runs, tmp_path / "b.html", eps="0.3")
    with pytest.raises(AdvrecError, match="--baseline 'x': no such system; systems: mf\\+apr\\(fgsm\\), mf"):
        build_report(runs, tmp_path / "c.html", baseline="x")


def test_single_run_folder(tmp_path):
    run = write_run(tmp_path / "one")
    files = build_report(run)
    assert files.html == run / "report.html"
    assert files.sections == ["overview", "leaderboard", "training"]


def test_cli_report(runs, tmp_path, capsys):
    assert main(["report", str(runs), "--out", str(tmp_path / "x.html"), "--baseline", "mf"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == str(tmp_path / "x.html")
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_training_panels_show_every_player_loss_and_lr(runs):
    from advrec.report.collect import find_runs, group_runs
    from advrec.report.plots import training_panels

    panels = training_panels(group_runs(find_runs(runs)))
    # keys in the order first seen: the GAN-like "apr" folders sort first
    assert panels == [
        ("loss", "d_loss"),
        ("loss", "g_loss"),
        ("loss", "loss"),
        ("valid", "ndcg@10"),
        ("lr", "lr_g"),
        ("lr", "lr_d"),
        ("lr", "lr"),
    ]
