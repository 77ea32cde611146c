"""Config-driven loading: every format and split method reaches a Split with shared id maps."""

import numpy as np
import pytest

from advrec.data.config import DataConfig, SplitConfig
from advrec.data.loading import load_split
from advrec.errors import ConfigError, DataError


def _rng():
    return np.random.default_rng(0)


def test_lightgcn_given_split_carves_valid_from_train(tmp_path):
    (tmp_path / "train.txt").write_text("0 1 2 3 4 5 6 7 8 9\n1 2 3 4 5 6 7 8 9 10\n")
    (tmp_path / "test.txt").write_text("0 11\n1 12 13\n")
    data = DataConfig(format="lightgcn", path="train.txt", test_path="test.txt")
    split = load_split(data, SplitConfig(method="given", valid_ratio_of_train=0.2), tmp_path, _rng())
    # 9 items per user in train.txt: round(0.8 * 9) = 7 stay in train, 2 go to valid
    assert len(split.train) == 14 and len(split.valid) == 4 and len(split.test) == 3
    assert split.train.item_map is split.test.item_map and split.train.n_items == 13
    test_items = set(split.test.item_map.raw[split.test.items].tolist())
    assert test_items == {11, 12, 13}


def test_table_given_split_with_valid_file(tmp_path):
    for name, rows in {"tr": "a\tx\t5\na\ty\t3\nb\tx\t4\n", "va": "a\tz\t1\n", "te": "b\tz\t2\n"}.items():
        (tmp_path / f"{name}.tsv").write_text(rows)
    data = DataConfig(
        format="table",
        path="tr.tsv",
        valid_path="va.tsv",
        test_path="te.tsv",
        columns={"user": 0, "item": 1, "rating": 2},
        sep="\t",
        header=False,
    )
    split = load_split(data, SplitConfig(method="given"), tmp_path, _rng())
    assert (len(split.train), len(split.valid), len(split.test)) == (3, 1, 1)
    assert list(split.train.user_map.raw) == ["a", "b"] and split.train.n_items == 3


def test_movielens_ratio_split_with_threshold_and_kcore(tmp_path):
    rows = [f"{u}\t{i}\t{1 + (u + i) % 5}\t{1000 + i}" for u in range(1, 21) for i in range(1, 16)]
    (tmp_path / "u.data").write_text("\n".join(rows) + "\n")
    data = DataConfig(format="movielens-100k", path="u.data", rating_threshold=3, k_core=2)
    split = load_split(data, SplitConfig(), tmp_path, _rng())
    total = len(split.train) + len(split.valid) + len(split.test)
    assert total == sum(1 for u in range(1, 21) for i in range(1, 16) if 1 + (u + i) % 5 >= 3)


def test_missing_file_names_the_key_and_hints_data_root(tmp_path):
    with pytest.raises(
        DataError, match=r"data.path: file not found \(relative paths resolve against --data-root"
    ):
        load_split(DataConfig(format="movielens-100k", path="nope/u.data"), SplitConfig(), None, _rng())


def test_given_split_needs_test_path(tmp_path):
    with pytest.raises(ConfigError, match="test_path"):
        load_split(
            DataConfig(format="lightgcn", path="train.txt"), SplitConfig(method="given"), tmp_path, _rng()
        )
