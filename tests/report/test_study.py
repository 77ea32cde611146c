"""The study runner: validation with key paths, the grid, resume after a kill, per-user metrics."""

import io
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from advrec.errors import ConfigError
from advrec.experiments.study import load_study, merge, parse_study, run_study
from advrec.runs import load as runs_load
from advrec.train.hooks import TrainHook


class Boom(TrainHook):
    """Simulates a kill when an epoch starts (after the previous epoch's checkpoint)."""

    def __init__(self, at_epoch: int):
        self.at_epoch = at_epoch

    def on_epoch_start(self, epoch: int) -> None:
        if epoch == self.at_epoch:
            raise KeyboardInterrupt


def test_merge_nested_and_dotted():
    raw = {"train": {"epochs": 5, "optimizer": {"lr": 0.1, "name": "adam"}}}
    out = merge(raw, {"train.optimizer.lr": 0.01, "train": {"epochs": 7}, "adversary": {"name": "apr"}})
    assert out == {
        "train": {"epochs": 7, "optimizer": {"lr": 0.01, "name": "adam"}},
        "adversary": {"name": "apr"},
    }
    assert raw["train"]["epochs"] == 5  # not modified
    with pytest.raises(ConfigError, match="'epochs' is a value"):
        merge(raw, {"train.epochs.x": 1})


def test_grid_expands_axes_times_seeds(tiny_study):
    tiny_study["axes"]["dim"] = {"d8": {"model.dim": 8}, "d16": {"model": {"dim": 16}}}
    tiny_study["report"]["baseline"] = "bpr/d8"
    tiny_study["seeds"] = [1, 2]
    study, cells = parse_study(tiny_study)
    assert len(cells) == 2 * 2 * 2
    assert cells[0].folder == "bpr__d8/seed1" and cells[0].label == "bpr/d8"
    apr16 = [c for c in cells if c.label == "apr/d16" and c.seed == 2][0]
    assert (apr16.config.adversary.name, apr16.config.model.dim, apr16.config.seed) == ("apr", 16, 2)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"axes": {"method": {"bpr": {"model.nme": "mf"}}}}, "unknown key 'model.nme'"),
        ({"axes": {"method": {"bpr": {"train.epochs": -1}}}}, "train.epochs"),
        (
            {"axes": {"method": {"bpr": {"steps": {"poisson": {}}}}}},
            "step 'poisson'.*known steps: per_user, probe, poison",
        ),
        ({"seeds": [1, 1]}, "seeds: .*repeat"),
        ({"probe": {"attack": "cw"}}, "probe.attack"),
        ({"probe": {"eps": "big"}}, "probe.eps"),
        ({"axes": {}}, "axes"),
        ({"axes": {"method": {}}}, "no values"),
        ({"report": {"baseline": "nope"}}, "report.baseline 'nope'.*bpr, apr"),
        ({"colour": 1}, "unknown key 'colour'"),
    ],
)
def test_invalid_study_names_the_key(tiny_study, change, message):
    tiny_study.update(change)
    with pytest.raises(ConfigError, match=message):
        parse_study(tiny_study, "s.yaml")


def test_load_study_reads_base_config_relative_to_file(tmp_path, tiny_study):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({"model": {"dim": 12}}))
    tiny_study["base_config"] = "base.yaml"
    del tiny_study["base"]["model"]
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(tiny_study))
    _, cells = load_study(tmp_path / "s.yaml")
    assert cells[0].config.model.dim == 12
    (tmp_path / "bad.yaml").write_text("- a list")
    with pytest.raises(ConfigError, match="bad.yaml: expected a mapping"):
        load_study(tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match="not found"):
        load_study(tmp_path / "missing.yaml")


def _mtimes(out, cells):
    return {c.folder: (out / c.folder / "results.json").stat().st_mtime_ns for c in cells}


def test_killed_study_resumes_without_redoing_finished_cells(tmp_path, tiny_study):
    tiny_study["seeds"] = [1, 2]
    tiny_study["probe"] = {"attack": "fgsm", "eps": [0.5]}
    study, cells = parse_study(tiny_study)
    out = tmp_path / "study"
    kill = cells[2].folder  # the third cell dies when its second epoch starts

    def hooks(cell):
        return [Boom(1)] if cell.folder == kill else []

    with pytest.raises(KeyboardInterrupt):
        run_study(study, cells, out, extra_hooks=hooks, report=False, stream=io.StringIO())
    finished = [c for c in cells[:2]]
    before = _mtimes(out, finished)
    assert not (out / kill / "results.json").exists() and (out / kill / "checkpoints" / "last.pt").exists()
    assert not (out / cells[3].folder).exists()

    log = io.StringIO()
    result = run_study(study, cells, out, report=False, stream=log)
    assert (result["skipped"], result["resumed"], result["trained"]) == (2, 1, 1)
    assert _mtimes(out, finished) == before  # finished cells were not touched
    for cell in cells:
        results = json.loads((out / cell.folder / "results.json").read_text())
        assert "0.5" in results["robustness"]["fgsm"]
    lines = [json.loads(x) for x in (out / kill / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [0, 1, 2]  # resumed at epoch 1, not restarted
    text = log.getvalue()
    assert "[cell 3/4 apr seed 1] resuming" in text and "[cell 4/4 apr seed 2] epoch 3/3" in text
    assert "ETA" in text and "cell 1/4" not in text

    again = run_study(study, cells, out, report=False, stream=io.StringIO())
    assert (again["skipped"], again["trained"], again["steps"]) == (4, 0, 0)


def test_a_missing_step_runs_alone_and_other_configs_are_refused(tmp_path, tiny_study):
    study, cells = parse_study(tiny_study)
    out = tmp_path / "s"
    run_study(study, cells, out, report=False, stream=io.StringIO())
    (out / cells[0].folder / "per_user_test.csv").unlink()
    result = run_study(study, cells, out, report=False, stream=io.StringIO())
    assert (result["trained"], result["steps"], result["skipped"]) == (0, 1, 1)

    tiny_study["base"]["model"]["dim"] = 4
    study, cells = parse_study(tiny_study)
    with pytest.raises(ConfigError, match="another config"):
        run_study(study, cells, out, report=False, stream=io.StringIO())


def test_per_user_metrics_average_to_the_test_metrics(tmp_path, tiny_study):
    study, cells = parse_study(tiny_study)
    out = tmp_path / "s"
    run_study(study, cells, out, report=False, stream=io.StringIO())
    for cell in cells:
        test = json.loads((out / cell.folder / "results.json").read_text())["test"]
        table = pd.read_csv(out / cell.folder / "per_user_test.csv")
        assert len(table) == len(set(table.user)) > 0
        for metric, value in test.items():
            assert np.nanmean(table[metric]) == pytest.approx(value, abs=1e-9), metric


def _cfgan_probe_study(tiny_study):
    tiny_study["axes"] = {"method": {"cfgan": {"model": {"name": "cfgan", "g_hidden": [8], "d_hidden": [8]}}}}
    tiny_study["base"]["train"]["epochs"] = 2
    tiny_study["probe"] = {"attack": "fgsm", "eps": [0.5]}
    tiny_study["report"] = {}
    return parse_study(tiny_study)


def test_a_gan_recommender_in_a_study_is_probed(tmp_path, tiny_study):
    study, cells = _cfgan_probe_study(tiny_study)
    out = tmp_path / "s"
    run_study(study, cells, out, report=False, stream=io.StringIO())
    results = json.loads((out / cells[0].folder / "results.json").read_text())
    assert "probe_skipped" not in results and "0.5" in results["robustness"]["fgsm"]


def test_probe_is_recorded_as_skipped_for_models_without_embeddings(tmp_path, tiny_study, monkeypatch):
    # every shipped model has perturbable tables; a model without any (a user's own) is stood in for by
    # the trained CFGAN reporting none when the probe loads it
    load_run = runs_load.load_run

    def without_tables(*args, **kwargs):
        loaded = load_run(*args, **kwargs)
        loaded[2].embedding_tables = lambda: {}
        return loaded

    monkeypatch.setattr(runs_load, "load_run", without_tables)
    tiny_study["per_user"] = False  # per-user scoring needs the tables the stand-in hides
    study, cells = _cfgan_probe_study(tiny_study)
    out = tmp_path / "s"
    run_study(study, cells, out, report=False, stream=io.StringIO())
    results = json.loads((out / cells[0].folder / "results.json").read_text())
    assert "robustness" not in results and "no embedding tables" in results["probe_skipped"]
    again = run_study(study, cells, out, report=False, stream=io.StringIO())
    assert (again["skipped"], again["steps"]) == (1, 0)
