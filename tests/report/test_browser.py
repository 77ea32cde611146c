"""The report opened in headless Chromium: every section renders, every image decodes, nothing is
fetched. Skips without chromium locally; fails under CI=true (the set-up installs it)."""

import io
import json

from browser_helpers import chromium_or_skip, render_check

from advrec.experiments.study import parse_study, run_study
from advrec.report.build import build_report


def test_study_report_renders_in_headless_chromium(tmp_path, tiny_study):
    chromium = chromium_or_skip()
    tiny_study["probe"] = {"attack": "fgsm", "eps": [0.25, 0.5]}
    study, cells = parse_study(tiny_study)
    out = tmp_path / "study"
    run_study(study, cells, out, report=False, stream=io.StringIO())
    # poisoning and detection entries as `advrec attack` / `advrec detect` write them, plus scores
    run = out / cells[1].folder
    results = json.loads((run / "results.json").read_text())
    results["poisoning"] = {
        "attack": "bandwagon",
        "targets": [3],
        "before": {"target_hit@50": 0.01, "ndcg@10": 0.3},
        "after": {"target_hit@50": 0.08, "ndcg@10": 0.29},
        "defended": {"target_hit@50": 0.02, "ndcg@10": 0.295},
    }
    results["detection"] = {"rules": {"precision": 0.9, "recall": 0.8, "f1": 0.847, "auc": 0.93}}
    (run / "results.json").write_text(json.dumps(results))
    (run / "detection").mkdir()
    rows = ["user,label,score"] + [
        f"{u},{int(u % 4 == 0)},{(u % 4 == 0) * 0.5 + (u % 7) / 10}" for u in range(40)
    ]
    (run / "detection" / "rules_scores.csv").write_text("\n".join(rows) + "\n")

    files = build_report(out, baseline="bpr")
    expected = [
        "overview",
        "leaderboard",
        "significance",
        "training",
        "robustness",
        "tradeoff",
        "poisoning",
        "detection",
    ]
    assert files.sections == expected
    seen = render_check(chromium, files.html, tmp_path)

    assert [s["id"] for s in seen["sections"]] == expected
    assert seen["nav"] == [f"#{s}" for s in expected]
    for section in seen["sections"]:
        assert section["height"] > 50 and section["title"], section
    rows = {s["id"]: s["rows"] for s in seen["sections"]}
    assert rows["leaderboard"] == 2 and rows["overview"] == 2 and rows["detection"] == 1
    # training, robustness, trade-off, poisoning bars, detection ROC/PR
    assert len(seen["images"]) == 5
    for image in seen["images"]:
        assert image["decoded"] and image["w"] > 100 and image["h"] > 100 and image["shownW"] > 100, image
        assert image["src"] > 1000
    assert seen["resources"] == []  # self-contained: nothing fetched
