"""``advrec study --tensorboard`` and ``--mlflow``: what they log is the run's own numbers."""

import io
import json

import pytest

from advrec.experiments.study import parse_study, run_study


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


def test_mlflow_runs_hold_config_epoch_metrics_test_metrics_and_report(tmp_path, tiny_study, monkeypatch):
    tracking = pytest.importorskip("mlflow.tracking")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)  # the tracker must opt in by itself
    tiny_study["axes"]["method"] = {"bpr": {}}
    study, cells = parse_study(tiny_study)
    out, folder = tmp_path / "s", tmp_path / "mlruns"
    run_study(study, cells, out, stream=io.StringIO(), mlflow=folder)
    run_dir = out / cells[0].folder
    history = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    results = json.loads((run_dir / "results.json").read_text())

    client = tracking.MlflowClient(tracking_uri=folder.resolve().as_uri())
    experiment = client.get_experiment_by_name("advrec study: tiny")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {cells[0].folder, "report"}
    cell = runs[cells[0].folder]
    assert cell.info.status == "FINISHED"
    assert cell.data.params["train.epochs"] == "3" and cell.data.params["model.dim"] == "8"
    loss = client.get_metric_history(cell.info.run_id, "train/loss")
    assert [m.step for m in loss] == [h["epoch"] for h in history]
    assert [m.value for m in loss] == pytest.approx([h["loss"] for h in history], rel=1e-6)
    ndcg = client.get_metric_history(cell.info.run_id, "valid/ndcg_at_10")
    assert [m.value for m in ndcg] == pytest.approx([h["valid"]["ndcg@10"] for h in history], rel=1e-6)
    assert cell.data.metrics["test/ndcg_at_10"] == pytest.approx(results["test"]["ndcg@10"])
    artifacts = {a.path for a in client.list_artifacts(runs["report"].info.run_id)}
    assert {"report.html", "report.md"} <= artifacts
