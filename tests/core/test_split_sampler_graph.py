import numpy as np
import pytest
import torch

from advrec.data.config import SyntheticConfig
from advrec.data.graph import normalized_adjacency
from advrec.data.interactions import Interactions
from advrec.data.sampler import NegativeSampler
from advrec.data.split import leave_one_out_split, ratio_split, temporal_split
from advrec.data.synthetic import make_synthetic
from advrec.errors import DataError


def _data(n_users=50, n_items=80, seed=0) -> Interactions:
    raw = make_synthetic(
        SyntheticConfig(n_users=n_users, n_items=n_items, interactions_per_user=12, seed=seed)
    )
    return Interactions.from_raw(raw.users, raw.items, raw.ratings, raw.timestamps)


def _pairs(part: Interactions) -> set[tuple[int, int]]:
    return set(zip(part.users.tolist(), part.items.tolist()))


def test_synthetic_is_seeded_and_has_long_tail():
    a, b, c = make_synthetic(), make_synthetic(), make_synthetic(SyntheticConfig(seed=1))
    assert np.array_equal(a.items, b.items) and np.array_equal(a.users, b.users)
    assert not np.array_equal(a.items[:100], c.items[:100])
    counts = np.sort(np.bincount(a.items))[::-1]
    assert counts[: len(counts) // 10].sum() > 0.3 * counts.sum()  # top 10% of items hold >30%


def test_ratio_split_per_user_counts_and_disjoint():
    data = _data()
    split = ratio_split(data, (0.8, 0.1, 0.1), np.random.default_rng(0))
    assert len(split.train) + len(split.valid) + len(split.test) == len(data)
    assert not (_pairs(split.train) & _pairs(split.test)) and not (_pairs(split.valid) & _pairs(split.test))
    sizes = data.user_counts()
    for u in range(data.n_users):
        n = sizes[u]
        n_train = int((split.train.users == u).sum())
        n_valid = int((split.valid.users == u).sum())
        assert n_train == max(1, round(n * 0.8))
        assert n_train + n_valid == max(n_train, round(n * 0.9))


def test_ratio_split_seeded_and_input_untouched():
    data = _data()
    before = data.users.copy()
    one = ratio_split(data, (0.8, 0.1, 0.1), np.random.default_rng(3))
    two = ratio_split(data, (0.8, 0.1, 0.1), np.random.default_rng(3))
    other = ratio_split(data, (0.8, 0.1, 0.1), np.random.default_rng(4))
    assert _pairs(one.test) == _pairs(two.test) != _pairs(other.test)
    assert np.array_equal(before, data.users)


def test_leave_one_out_takes_latest_items():
    raw_users = np.array([1, 1, 1, 1, 2, 2])
    raw_items = np.array([10, 11, 12, 13, 10, 11])
    stamps = np.array([5, 1, 9, 7, 1, 2])
    data = Interactions.from_raw(raw_users, raw_items, timestamps=stamps)
    split = leave_one_out_split(data)
    test = {(data.user_map.raw[u], data.item_map.raw[i]) for u, i in _pairs(split.test)}
    valid = {(data.user_map.raw[u], data.item_map.raw[i]) for u, i in _pairs(split.valid)}
    assert test == {(1, 12)} and valid == {(1, 13)}  # user 2 has < 3 interactions: all train
    assert len(split.train) == 4


def test_temporal_split_orders_globally():
    data = _data()
    split = temporal_split(data, (0.8, 0.1, 0.1))
    assert split.train.timestamps.max() <= split.valid.timestamps.min()
    assert split.valid.timestamps.max() <= split.test.timestamps.min()


def test_time_splits_need_timestamps():
    data = Interactions.from_raw(np.array([1, 2]), np.array([1, 2]))
    with pytest.raises(DataError, match="timestamps"):
        leave_one_out_split(data)


def test_negatives_never_positive_and_cover_items():
    data = _data()
    sampler = NegativeSampler(data, n_negatives=4)
    rng = np.random.default_rng(0)
    epoch = sampler.epoch(rng)
    positives = _pairs(data)
    neg = epoch.neg.numpy()
    assert neg.shape == (len(data), 4)
    for u, row in zip(epoch.users.tolist(), neg.tolist()):
        assert all((u, j) not in positives for j in row)
    assert len(np.unique(neg)) > 0.9 * data.n_items
    assert sorted(zip(epoch.users.tolist(), epoch.pos.tolist())) == sorted(positives)


def test_sampler_refuses_user_with_every_item():
    data = Interactions.from_raw(np.array([1, 1]), np.array([1, 2]))
    with pytest.raises(ValueError, match="every item"):
        NegativeSampler(data)


def test_normalized_adjacency_matches_dense_formula():
    data = _data(10, 15)
    adj = normalized_adjacency(data).to_dense().numpy()
    r = data.csr().toarray()
    nu, ni = r.shape
    a = np.block([[np.zeros((nu, nu)), r], [r.T, np.zeros((ni, ni))]])
    d = a.sum(1)
    inv = np.where(d > 0, d, 1) ** -0.5 * (d > 0)
    expected = inv[:, None] * a * inv[None, :]
    assert np.allclose(adj, expected, atol=1e-6)
    assert torch.is_tensor(normalized_adjacency(data))


def test_symmetric_matmul_gradient_matches_dense():
    from advrec.data.graph import symmetric_matmul

    adj = normalized_adjacency(_data(10, 15))
    x = torch.randn(adj.shape[0], 3, requires_grad=True, generator=torch.Generator().manual_seed(0))
    symmetric_matmul(adj, x).pow(2).sum().backward()
    sparse_grad = x.grad.clone()
    x.grad = None
    (adj.to_dense() @ x).pow(2).sum().backward()
    assert torch.allclose(sparse_grad, x.grad, atol=1e-6)
