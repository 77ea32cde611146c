import numpy as np
import pytest

from advrec.attack.targets import band_items, select_targets
from advrec.data.interactions import Interactions
from advrec.errors import ConfigError


def _counts_data() -> Interactions:
    """Item i (id 100 + i) has exactly counts[i] training interactions, each from a different user."""
    counts = [0, 1, 3, 5, 6, 19, 20, 30, 40, 41]
    users, items = [], []
    for item, c in enumerate(counts):
        users += list(range(c))
        items += [100 + item] * c
    users.append(99)  # item 100 (count 0) exists in the catalogue through this one row...
    items.append(100)
    data = Interactions.from_raw(np.array(users), np.array(items))
    return data.select(np.arange(len(data) - 1))  # ...which is then dropped from train


def test_bands_follow_the_documented_counts():
    train = _counts_data()
    ids = lambda idx: train.item_map.raw[idx].tolist()  # noqa: E731
    assert ids(band_items(train, "unpopular")) == [101, 102, 103]
    assert ids(band_items(train, "mid")) == [106, 107, 108]
    assert ids(band_items(train, "random")) == list(range(100, 110))


def test_select_is_seeded_and_inside_the_band():
    train = _counts_data()
    a = select_targets("mid:2", train, np.random.default_rng(1))
    b = select_targets("mid:2", train, np.random.default_rng(1))
    assert np.array_equal(a, b) and len(set(a.tolist())) == 2
    assert set(train.item_map.raw[a].tolist()) <= {106, 107, 108}


def test_explicit_ids_keep_their_order():
    train = _counts_data()
    idx = select_targets("107, 101", train, np.random.default_rng(0))
    assert train.item_map.raw[idx].tolist() == [107, 101]


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("mid:4", "only 3 items"),
        ("mid:x", "integer K"),
        ("mid:0", "at least 1"),
        ("cold:3", "unknown band"),
        ("999", "not in the data"),
        ("101,101", "repeated"),
        (" , ", "expected a band"),
    ],
)
def test_bad_specs_name_the_problem(spec, fragment):
    with pytest.raises(ConfigError, match=fragment):
        select_targets(spec, _counts_data(), np.random.default_rng(0))
