"""Filters of advrec.data.filtering on hand-checked RawInteractions."""

from __future__ import annotations

import numpy as np
import pytest

from advrec.data.filtering import apply_rating_threshold, drop_duplicates, k_core
from advrec.data.interactions import RawInteractions
from advrec.errors import ConfigError, DataError


def raw(users, items, ratings=None, timestamps=None) -> RawInteractions:
    return RawInteractions(
        users=np.asarray(users),
        items=np.asarray(items),
        ratings=None if ratings is None else np.asarray(ratings, dtype=np.float64),
        timestamps=None if timestamps is None else np.asarray(timestamps, dtype=np.int64),
        source="ratings.csv",
    )


def pairs(r: RawInteractions) -> list[tuple]:
    return list(zip(r.users.tolist(), r.items.tolist()))


# ---------------------------------------------------------------------------------- rating threshold


def test_threshold_keeps_ratings_at_or_above():
    r = raw([1, 2, 3, 4], [10, 20, 30, 40], ratings=[1.0, 3.5, 4.0, 5.0], timestamps=[1, 2, 3, 4])
    out = apply_rating_threshold(r, 4)
    assert pairs(out) == [(3, 30), (4, 40)]
    assert out.ratings.tolist() == [4.0, 5.0] and out.timestamps.tolist() == [3, 4]
    assert out.source == "ratings.csv"
    assert len(r) == 4  # input untouched


def test_threshold_none_is_a_no_op_even_without_ratings():
    r = raw([1], [2])
    assert apply_rating_threshold(r, None) is r


def test_threshold_without_ratings_names_the_source():
    with pytest.raises(
        DataError, match=r"^ratings.csv: a rating threshold \(4\) was given but the file has no ratings"
    ):
        apply_rating_threshold(raw([1], [2]), 4)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "4", True])
def test_threshold_must_be_a_finite_number(bad):
    with pytest.raises(ConfigError, match="finite number"):
        apply_rating_threshold(raw([1], [2], ratings=[5.0]), bad)


# ---------------------------------------------------------------------------------------- duplicates

#          row:  0    1    2    3
DUP_USERS = [1, 1, 2, 1]
DUP_ITEMS = [10, 10, 20, 10]
DUP_RATINGS = [1.0, 2.0, 5.0, 3.0]
DUP_STAMPS = [5, 3, 1, 5]  # pair (1, 10): rows 0 and 3 tie on the latest time, row 1 is the earliest


def test_keep_last_takes_latest_timestamp_and_the_later_row_on_ties():
    out = drop_duplicates(raw(DUP_USERS, DUP_ITEMS, DUP_RATINGS, DUP_STAMPS))
    assert pairs(out) == [(2, 20), (1, 10)]  # file order of the kept rows 2 and 3
    assert out.ratings.tolist() == [5.0, 3.0]
    assert out.timestamps.tolist() == [1, 5]


def test_keep_first_takes_earliest_timestamp():
    out = drop_duplicates(raw(DUP_USERS, DUP_ITEMS, DUP_RATINGS, DUP_STAMPS), "keep_first")
    assert out.ratings.tolist() == [2.0, 5.0]  # rows 1 and 2


def test_without_timestamps_file_order_decides():
    r = raw(DUP_USERS, DUP_ITEMS, DUP_RATINGS)
    assert drop_duplicates(r, "keep_last").ratings.tolist() == [5.0, 3.0]  # rows 2, 3
    assert drop_duplicates(r, "keep_first").ratings.tolist() == [1.0, 5.0]  # rows 0, 2


def test_keep_all_returns_everything():
    r = raw(DUP_USERS, DUP_ITEMS, DUP_RATINGS, DUP_STAMPS)
    assert drop_duplicates(r, "keep_all") is r


def test_error_policy_names_the_first_repeat():
    r = raw(["a", "b", "a", "b", "a"], ["x", "y", "y", "y", "x"])
    with pytest.raises(
        DataError, match=r"^ratings.csv: duplicate interaction \(user b, item y\): interaction #4 repeats #2"
    ):
        drop_duplicates(r, "error")


def test_error_policy_passes_unique_pairs_through():
    r = raw([1, 1, 2], [1, 2, 1])
    assert drop_duplicates(r, "error") is r


def test_duplicates_distinguish_user_item_order():
    r = raw([1, 2], [2, 1])  # (1, 2) and (2, 1) are different pairs
    assert len(drop_duplicates(r)) == 2


def test_unknown_policy():
    with pytest.raises(ConfigError, match="unknown duplicate policy 'newest'; expected one of keep_last"):
        drop_duplicates(raw([1], [2]), "newest")


# -------------------------------------------------------------------------------------------- k-core


def test_k_core_needs_two_rounds():
    # k=2. Round 1: item c has 1 interaction -> drop (u3, c). Then u3 has 1 -> round 2 drops (u3, a).
    r = raw(
        ["u1", "u1", "u2", "u2", "u3", "u3"], ["a", "b", "a", "b", "c", "a"], timestamps=[1, 2, 3, 4, 5, 6]
    )
    out = k_core(r, 2)
    assert pairs(out) == [("u1", "a"), ("u1", "b"), ("u2", "a"), ("u2", "b")]
    assert out.timestamps.tolist() == [1, 2, 3, 4]


def test_k_core_can_unravel_everything():
    # u1-a, u2-a, u2-b: b is dropped, then u2, then a, then u1.
    assert len(k_core(raw([1, 2, 2], [10, 10, 20]), 2)) == 0


def test_k_core_result_is_a_fixed_point():
    rng = np.random.default_rng(0)
    r = raw(rng.integers(0, 60, 600), rng.integers(0, 80, 600))
    out = k_core(r, 5)
    assert len(out) > 0
    assert np.unique(out.users, return_counts=True)[1].min() >= 5
    assert np.unique(out.items, return_counts=True)[1].min() >= 5
    assert len(k_core(out, 5)) == len(out)


def test_k_core_small_k_is_a_no_op():
    r = raw([1, 2], [3, 4])
    assert k_core(r, 1) is r and k_core(r, 0) is r


@pytest.mark.parametrize("bad", [-1, 2.5, "3", True])
def test_k_core_rejects_bad_k(bad):
    with pytest.raises(ConfigError, match="non-negative integer"):
        k_core(raw([1], [2]), bad)
