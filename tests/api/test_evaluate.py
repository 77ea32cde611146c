"""Run.evaluate: the run's test split as `advrec evaluate` reads it, or metrics on a given DataFrame."""

import json
import shutil

import pandas as pd
import pytest
from api_data import FAST, interactions

import advrec
from advrec.cli.main import main
from advrec.errors import DataError


@pytest.fixture(scope="module")
def untested(tmp_path_factory):
    """A run trained by the CLI without reading test (--no-test), on a file of the API tests' table."""
    root = tmp_path_factory.mktemp("untested")
    interactions().to_csv(root / "data.csv", index=False)
    (root / "c.yaml").write_text(
        "seed: 4\ndata: {format: table, path: data.csv, columns: {user: user, item: item, rating: rating}, "
        "rating_threshold: 2}\nmodel: {dim: 8}\ntrain: {epochs: 3}\n"
    )
    sets = [x for k, v in FAST.items() for x in ("--set", f"{k}={json.dumps(v)}")]
    args = ["train", str(root / "c.yaml"), "--data-root", str(root), "--out", str(root / "run")]
    assert main([*args, *sets, "--no-test", "--quiet"]) == 0
    return root / "run"


def test_evaluate_reads_and_records_test_as_the_cli_does(untested, tmp_path, capsys):
    shutil.copytree(untested, tmp_path / "cli")
    assert main(["evaluate", str(tmp_path / "cli")]) == 0
    recorded_by_cli = json.loads((tmp_path / "cli" / "results.json").read_text())["test"]
    run = advrec.load(untested)
    assert run.results["test"] is None
    metrics = run.evaluate()
    assert metrics == recorded_by_cli
    assert run.results["test"] == metrics  # recorded, as advrec evaluate records it
    assert "ndcg@10" in metrics and "auc" in metrics


def _split(run, name):
    return pd.read_csv(run.run_dir / "split" / f"{name}.tsv", sep="\t")


def test_evaluate_on_a_dataframe_of_the_test_split_equals_the_run_test(untested):
    run = advrec.load(untested)
    test = _split(run, "test")
    assert run.evaluate(test) == run.evaluate()
    # a subset of the users: metrics over those users only, not the same figures
    fewer = test[test.user < 20]
    assert run.evaluate(fewer) != run.evaluate()


def test_the_run_rating_threshold_applies_to_a_dataframe(untested, df):
    """Rows rated below the run's data.rating_threshold (2) are left out, as from the run's data."""
    run = advrec.load(untested)
    test = _split(run, "test")
    seen = pd.concat([_split(run, "train"), _split(run, "valid")])
    seen_pairs = set(zip(seen.user, seen.item))
    unseen = [(u, i) for u, i in zip(df.user, df.item) if (u, i) not in seen_pairs]
    unseen = pd.DataFrame(unseen, columns=["user", "item"]).merge(test, how="left", indicator=True)
    extra = unseen[unseen["_merge"] == "left_only"][["user", "item"]].head(30).assign(rating=1.0)
    assert len(extra) == 30
    assert run.evaluate(pd.concat([test, extra])) == run.evaluate(test)
    assert run.evaluate(pd.concat([test, extra.assign(rating=5.0)])) != run.evaluate(test)


def test_a_dataframe_with_unknown_ids_or_seen_pairs_is_refused(untested):
    run = advrec.load(untested)
    test = _split(run, "test")
    with pytest.raises(DataError, match=r"^test: not in the run's data: 999"):
        run.evaluate(pd.concat([test, pd.DataFrame({"user": [999], "item": [1], "rating": [5.0]})]))
    with pytest.raises(DataError, match="test: 3 .user, item. pairs are in the run's train or valid split"):
        run.evaluate(pd.concat([test, _split(run, "train").head(3)]))
    renamed = test.rename(columns={"user": "u", "item": "i"})
    assert run.evaluate(renamed, columns={"user": "u", "item": "i", "rating": "rating"}) == run.evaluate()
