"""``advrec study --tensorboard``: the scalars written are the run's own numbers."""

import io
import json

import pytest

from advrec.study import parse_study, run_study


def test_tensorboard_scalars_match_metrics_and_results(tmp_path, tiny_study):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    tiny_study["axes"]["method"] = {"bpr": {}}
    study, cells = parse_study(tiny_study)
    out, board = tmp_path / "s", tmp_path / "tb"
    run_study(study, cells, out, report=False, stream=io.StringIO(), tensorboard=board)
    run = out / cells[0].folder
    history = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    results = json.loads((run / "results.json").read_text())

    acc = event_accumulator.EventAccumulator(str(board / cells[0].folder))
    acc.Reload()
    loss = acc.Scalars("train/loss")
    assert [e.step for e in loss] == [h["epoch"] for h in history]
    assert [e.value for e in loss] == pytest.approx([h["loss"] for h in history], rel=1e-6)
    ndcg = acc.Scalars("valid/ndcg@10")
    assert [e.value for e in ndcg] == pytest.approx([h["valid"]["ndcg@10"] for h in history], rel=1e-6)
    test = acc.Scalars("test/ndcg@10")
    assert [(e.step, e.value) for e in test] == [
        (results["best_epoch"], pytest.approx(results["test"]["ndcg@10"]))
    ]
