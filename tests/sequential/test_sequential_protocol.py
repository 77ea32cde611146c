"""Next-item full ranking with and without the history masked, against hand-computed values."""

import math

import numpy as np
import pytest
import torch

from advrec.data.interactions import Interactions, RawInteractions
from advrec.data.split import Split
from advrec.measure.config import EvalConfig
from advrec.measure.sequential import SequentialProtocol


def _split() -> Split:
    # user A: train 0 1, valid 2, test 3; user B: train 4, valid 0, test 1 (raw ids = indices)
    def raw(users, items):
        return RawInteractions(np.array(users), np.array(items), timestamps=np.arange(len(users)))

    parts = Interactions.encode_together(
        [raw([0, 0, 1], [0, 1, 4]), raw([0, 1], [2, 0]), raw([0, 1], [3, 1])]
    )
    return Split(*parts)


class LastItemScorer:
    """Scores decided by the history's last item (shifted id), so the expected ranks are known."""

    def __init__(self, table: dict[int, list[float]]):
        self.table = table

    def sequence_scores(self, seqs, deltas=None):
        return torch.tensor([self.table[int(row[-1])] for row in seqs], dtype=torch.float32)


def test_histories_and_metrics_masked_and_unmasked():
    split = _split()
    protocol = SequentialProtocol.from_split(
        split, EvalConfig(ks=[2, 10], metrics=["ndcg", "hit"]), max_len=3
    )
    assert protocol.valid_histories.tolist()[:2] == [[0, 1, 2], [0, 0, 5]]
    assert protocol.test_histories.tolist()[:2] == [[1, 2, 3], [0, 5, 1]]
    model = LastItemScorer(
        {
            2: [5, 4, 3, 2, 1],  # A at valid (truth 2): rank 3 unmasked, 1 past items 0 and 1
            5: [1, 2, 3, 4, 5],  # B at valid (truth 0): rank 5 unmasked, 4 past item 4
            3: [5, 4, 3, 2, 1],  # A at test (truth 3): rank 4 unmasked, 1 past 0, 1, 2
            1: [9, 1, 0, 0, 8],  # B at test (truth 1): rank 3 unmasked, 1 past 4 and 0
        }
    )
    valid = protocol.validate(model)  # default: not masked (RecBole's convention)
    assert valid["ndcg@10"] == pytest.approx((1 / math.log2(4) + 1 / math.log2(6)) / 2)
    assert valid["hit@2"] == 0.0
    test = protocol.test_metrics(model)
    assert test["ndcg@10"] == pytest.approx((1 / math.log2(5) + 1 / math.log2(4)) / 2)
    assert test["masked_ndcg@10"] == pytest.approx(1.0) and test["masked_hit@2"] == 1.0
    masked = SequentialProtocol.from_split(
        split, EvalConfig(ks=[2, 10], metrics=["ndcg", "hit"], sequential_mask_seen=True), max_len=3
    )
    valid = masked.validate(model)
    assert valid["ndcg@10"] == pytest.approx((1.0 + 1 / math.log2(5)) / 2)
    assert valid["hit@2"] == 0.5
    test = masked.test_metrics(model)
    assert test["ndcg@10"] == pytest.approx(1.0)
    assert test["unmasked_ndcg@10"] == pytest.approx((1 / math.log2(5) + 1 / math.log2(4)) / 2)
    users, top = masked.test_topk(model, 2)
    assert users.tolist() == [0, 1] and top[:, 0].tolist() == [3, 1]


def test_valid_as_test_ranks_the_valid_item_past_train():
    """The robustness probe's view of valid: test's place taken by valid, history and seen = train."""
    protocol = SequentialProtocol.from_split(
        _split(), EvalConfig(ks=[2, 10], metrics=["ndcg", "hit"]), max_len=3
    )
    model = LastItemScorer({2: [5, 4, 3, 2, 1], 5: [1, 2, 3, 4, 5]})  # only valid histories end in 2, 5
    view = protocol.valid_as_test().test_metrics(model)
    assert view["ndcg@10"] == pytest.approx(protocol.validate(model)["ndcg@10"])
    assert view["ndcg@10"] == pytest.approx((1 / math.log2(4) + 1 / math.log2(6)) / 2)
    # masked: A's valid item 2 is first past train items 0 and 1; B's item 0 is fourth past item 4
    assert view["masked_ndcg@10"] == pytest.approx((1 + 1 / math.log2(5)) / 2)
