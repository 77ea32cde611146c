"""Run.recommend: top-k lists in original ids, the protocol's masking, the protocol's own top-k."""

import numpy as np
import pandas as pd
import pytest
import torch

from advrec.errors import ConfigError, DataError
from advrec.runs.load import export_topk, load_run
from advrec.runs.setup import build_protocol


def _pairs(run, *parts):
    frames = [pd.read_csv(run.run_dir / "split" / f"{p}.tsv", sep="\t") for p in parts]
    both = pd.concat(frames)
    return set(zip(both.user, both.item))


def test_recommend_excludes_train_and_valid_and_ranks_by_score(apr_run):
    top = apr_run.recommend(None, k=10)
    assert list(top.columns) == ["user", "rank", "item", "score"]
    users = sorted(set(top.user))
    assert len(users) == apr_run.results["dataset"]["n_users"] and len(top) == 10 * len(users)
    seen = _pairs(apr_run, "train", "valid")
    assert not {(u, i) for u, i in zip(top.user, top.item)} & seen
    # the scores are the model's, best first
    config, split, model = load_run(apr_run.run_dir)
    for user, rows in top.groupby("user"):
        assert rows["rank"].tolist() == list(range(1, 11))
        scores = model.full_scores(torch.tensor([split.train.user_map.index(user)]))[0]
        items = [split.train.item_map.index(i) for i in rows["item"]]
        assert np.allclose(rows["score"].to_numpy(), scores[items].detach().numpy())
        assert (np.diff(rows["score"].to_numpy()) <= 0).all()


def test_without_exclusion_the_lists_are_the_plain_argsort(apr_run):
    config, split, model = load_run(apr_run.run_dir)
    top = apr_run.recommend([0, 5], k=6, exclude_seen=False)
    for user, rows in top.groupby("user"):
        scores = model.full_scores(torch.tensor([split.train.user_map.index(user)]))[0].detach()
        expected = split.train.item_map.raw[torch.argsort(scores, descending=True)[:6].numpy()]
        assert rows["item"].tolist() == expected.tolist()
    seen = _pairs(apr_run, "train", "valid")
    assert {(u, i) for u, i in zip(top.user, top.item)} & seen  # the model ranks its training items high


def test_recommend_matches_the_protocol_and_the_cli_export(apr_run, tmp_path):
    config, split, model = load_run(apr_run.run_dir)
    users, items = build_protocol(config, split).test_topk(model, 10)
    raw_users = split.train.user_map.raw[users]
    top = apr_run.recommend(raw_users, k=10)
    assert top["item"].to_numpy().reshape(len(users), 10).tolist() == split.train.item_map.raw[items].tolist()
    export_topk(apr_run.run_dir, tmp_path / "top.tsv", k=10)  # advrec evaluate --export-topk
    exported = pd.read_csv(tmp_path / "top.tsv", sep="\t")
    pd.testing.assert_frame_equal(top[["user", "rank", "item"]], exported, check_dtype=False)


def test_users_in_the_order_given_and_short_lists_when_candidates_run_out(apr_run):
    top = apr_run.recommend([7, 3, 7], k=2)
    assert top["user"].tolist() == [7, 7, 3, 3, 7, 7]
    n_items = apr_run.results["dataset"]["n_items"]
    everything = apr_run.recommend([3], k=n_items + 5)
    seen = {i for u, i in _pairs(apr_run, "train", "valid") if u == 3}
    assert len(everything) == n_items - len(seen)  # every candidate once, no padding rows
    assert everything["rank"].tolist() == list(range(1, len(everything) + 1))


@pytest.mark.parametrize(
    "users, error, fragment",
    [
        ([0, 1000, 2000], DataError, "users: not in the run's data: 1000, 2000"),
        (["a"], DataError, "not in the run's data: 'a'"),
        ([1.5], DataError, "floating ids"),
        ([True], DataError, "boolean ids"),
        ([1, "a"], DataError, "mixed-integer ids"),
        ([None], DataError, "missing (null)"),
    ],
)
def test_bad_users_name_what_is_wrong(apr_run, users, error, fragment):
    with pytest.raises(error) as caught:
        apr_run.recommend(users)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("k", [0, -1, 2.5, True, "10"])
def test_bad_k(apr_run, k):
    with pytest.raises(ConfigError, match="k .*: expected a whole number of at least 1"):
        apr_run.recommend([0], k=k)
