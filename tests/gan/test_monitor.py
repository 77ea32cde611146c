"""The mode-collapse signal and the epoch means, against hand values."""

import math

import pytest
import torch

from advrec.train.gan.monitor import RunningMeans, topk_diversity


def test_collapsed_generator_gives_minimal_coverage_and_entropy():
    scores = torch.tensor([[5.0, 4.0, 0.0, 0.0]]).repeat(6, 1)  # every user: items 0 and 1
    seen = torch.zeros(6, 4, dtype=torch.bool)
    out = topk_diversity(scores, seen, k=2)
    assert out["coverage"] == pytest.approx(2 / 4)
    assert out["entropy"] == pytest.approx(math.log(2) / math.log(4))


def test_spread_generator_and_seen_items_masked():
    scores = torch.tensor([[4.0, 3.0, 2.0, 1.0], [4.0, 3.0, 2.0, 1.0]])
    seen = torch.tensor([[False, False, True, True], [True, True, False, False]])
    out = topk_diversity(scores, seen, k=2)  # user 0 gets {0, 1}, user 1 gets {2, 3}: uniform
    assert out["coverage"] == 1.0
    assert out["entropy"] == pytest.approx(1.0)


def test_running_means_weight_by_rows():
    stats = RunningMeans()
    stats.add(3, loss=1.0, d_real=0.5)
    stats.add(1, loss=5.0)
    assert stats.means() == {"loss": pytest.approx(2.0), "d_real": 0.5}
