"""The least popular items and test metrics restricted to them, checked by hand."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from advrec.data.interactions import Interactions
from advrec.measure.config import EvalConfig
from advrec.measure.protocol import Protocol
from advrec.measure.tail import restrict_test, tail_items


def _train(users, items, n_items):
    data = Interactions.from_raw(np.asarray(users), np.asarray(items))
    assert data.n_items == n_items
    return data


def test_tail_is_the_fewest_train_interactions_ties_by_index():
    # item raw ids 1..5 -> indices 0..4; counts 3, 1, 2, 1, 1
    train = _train([0, 1, 2, 0, 1, 0, 1, 2], [1, 1, 1, 2, 3, 3, 4, 5], 5)
    assert np.bincount(train.items).tolist() == [3, 1, 2, 1, 1]
    assert tail_items(train, 0.2).tolist() == [1]  # ceil(0.2 * 5) = 1: the first of the count-1 items
    assert tail_items(train, 0.5).tolist() == [1, 3, 4]  # ceil(2.5) = 3
    assert tail_items(train, 0.8).tolist() == [1, 2, 3, 4]
    with pytest.raises(ValueError):
        tail_items(train, 0.0)


class _Fixed:
    """A model whose scores are a fixed matrix."""

    def __init__(self, scores):
        self.scores = torch.as_tensor(scores, dtype=torch.float32)

    def scorer(self, deltas=None):
        return lambda users: self.scores[users]


def test_restricted_ndcg_by_hand():
    n = 5
    train = sp.csr_matrix(([1.0, 1.0], ([0, 1], [0, 0])), shape=(3, n))
    valid = sp.csr_matrix((3, n))
    # user 0 tests items 1 (head) and 3 (tail); user 1 tests only item 2 (head); user 2 tests item 4 (tail)
    test = sp.csr_matrix(([1.0, 1.0, 1.0, 1.0], ([0, 0, 1, 2], [1, 3, 2, 4])), shape=(3, n))
    seen = (train + valid).tocsr()
    protocol = Protocol(train, valid, test, seen, EvalConfig(ks=[2], metrics=["ndcg", "hit"]))
    # user 0 ranks (train item 0 excluded): 1, 3, 2, 4 -> tail item 3 at rank 2
    # user 2 ranks: 4, 0, ... -> tail item 4 at rank 1
    scores = [[9, 8, 6, 7, 5], [9, 1, 2, 3, 4], [4, 3, 2, 1, 5]]
    tail = restrict_test(protocol, np.array([3, 4]))
    assert tail.test.toarray().tolist() == [[0, 0, 0, 1, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 1]]
    metrics = tail.test_metrics(_Fixed(scores))
    # user 0: DCG = 1/log2(3), IDCG = 1; user 2: 1; user 1 has no tail test item and is left out.
    assert metrics["ndcg@2"] == pytest.approx((1 / np.log2(3) + 1.0) / 2)
    assert metrics["hit@2"] == pytest.approx(1.0)
    # The full protocol differs: user 0's head item 1 counts there.
    full = protocol.test_metrics(_Fixed(scores))
    assert full["ndcg@2"] != pytest.approx(metrics["ndcg@2"])


def test_tail_by_test_share_is_the_shortest_prefix_holding_the_share():
    train = _train([0, 1, 2, 0, 1, 0, 1, 2], [1, 1, 1, 2, 3, 3, 4, 5], 5)
    # popularity order (fewest first, ties by index): 1, 3, 4, 2, 0 ; test counts per item below
    test_items = np.array([0, 0, 0, 0, 1, 2, 2, 4, 4, 4])  # item 1: 1, item 3: 0, item 4: 3, 2: 2, 0: 4
    from advrec.measure.tail import tail_items_by_test_share

    assert tail_items_by_test_share(train, test_items, 0.1).tolist() == [1]  # 1 of 10 reaches 10%
    assert tail_items_by_test_share(train, test_items, 0.2).tolist() == [1, 3, 4]  # 1, 1, then 4 >= 2
    assert tail_items_by_test_share(train, test_items, 0.6).tolist() == [1, 2, 3, 4]  # 6 >= 6
    assert tail_items_by_test_share(train, test_items, 1.0).tolist() == [0, 1, 2, 3, 4]
