"""Profile features against hand-computed values on a 3 × 3 set, and against a slow per-user reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from advrec.defend.features import (
    EXPLICIT_FEATURES,
    IMPLICIT_FEATURES,
    ProfileFeatures,
    compute_features,
    degsim,
)

# users × items, 0 = unrated
#        i0 i1 i2
# u0  [  4, 2, 0 ]
# u1  [  2, 4, 5 ]
# u2  [  3, 0, 5 ]
# NR = [3, 2, 2], item means [3, 3, 5]; n_u = [2, 3, 2], mean length 7/3
TINY = sp.csr_matrix(np.array([[4, 2, 0], [2, 4, 5], [3, 0, 5]], dtype=float))


def test_features_by_hand():
    f = compute_features(TINY, k=1, min_common=2)
    np.testing.assert_allclose(f["length"], [2, 3, 2])
    np.testing.assert_allclose(f["mean"], [3, 11 / 3, 4])
    # u1: deviations -5/3, 1/3, 4/3 -> variance (25 + 1 + 16) / 9 / 3 = 14/9
    np.testing.assert_allclose(f["std"], [1, math.sqrt(14) / 3, 1])
    np.testing.assert_allclose(f["max_share"], [0, 1 / 3, 1 / 2])  # the matrix's top rating is 5
    # |r - item mean|: u0 [1, 1], u1 [1, 1, 0], u2 [0, 0]; divided by NR [3, 2, 2]
    np.testing.assert_allclose(f["wda"], [1 / 3 + 1 / 2, 1 / 3 + 1 / 2, 0])
    np.testing.assert_allclose(f["rdma"], [(5 / 6) / 2, (5 / 6) / 3, 0])
    np.testing.assert_allclose(f["wdma"], [(1 / 9 + 1 / 4) / 2, (1 / 9 + 1 / 4) / 3, 0])
    # |n_u - 7/3| / sum (n_v - 7/3)^2 = [1/3, 2/3, 1/3] / (2/3)
    np.testing.assert_allclose(f["length_var"], [0.5, 1.0, 0.5])
    # Filler split: u0's target is i0 (its max, 4): filler {i1}, (2-3)^2 = 1; fmtd |4 - 2|.
    # u1's target is i2 (5): filler {i0, i1}: (1 + 1) / 2; fmtd |5 - 3|. u2: target i2, filler {i0}: 0.
    np.testing.assert_allclose(f["meanvar"], [1, 1, 0])
    np.testing.assert_allclose(f["fmtd"], [2, 2, 2])
    lp = np.log1p([3.0, 2.0, 2.0])
    np.testing.assert_allclose(f["pop_mean"], [lp[[0, 1]].mean(), lp.mean(), lp[[0, 2]].mean()])
    np.testing.assert_allclose(f["pop_std"], [lp[[0, 1]].std(), lp.std(), lp[[0, 2]].std()])


def test_degsim_by_hand():
    # Centred: u0 (+1, -1, .), u1 (-5/3, 1/3, 4/3), u2 (-1, ., +1).
    # u0-u1 over {i0, i1}: -2 / sqrt(2 * 26/9) = -6/sqrt(52);
    # u1-u2 over {i0, i2}: 3 / sqrt(41/9 * 2) = 9/sqrt(82);
    # u0-u2 share one item only, below min_common = 2: not neighbours.
    s01, s12 = -6 / math.sqrt(52), 9 / math.sqrt(82)
    np.testing.assert_allclose(degsim(TINY, k=1, min_common=2), [s01, s12, s12])
    # k = 2: u1 averages both; u0 and u2 have one neighbour each and average over it.
    np.testing.assert_allclose(degsim(TINY, k=2, min_common=2), [s01, (s01 + s12) / 2, s12])
    # min_common = 1: u0-u2 over {i0}: (1)(-1) / sqrt(1 * 1) = -1
    np.testing.assert_allclose(
        degsim(TINY, k=2, min_common=1), [(s01 - 1) / 2, (s01 + s12) / 2, (s12 - 1) / 2]
    )
    # Blocks of one row give the same result as one block.
    np.testing.assert_allclose(
        degsim(TINY, k=2, min_common=1, block_users=1), degsim(TINY, k=2, min_common=1)
    )


def test_degsim_cosine_by_hand():
    # 0/1 rows u0 {i0,i1}, u1 {i0,i1,i2}, u2 {i0,i2}: cos u0u1 = u1u2 = 2/sqrt(6), u0u2 = 1/2
    c = 2 / math.sqrt(6)
    np.testing.assert_allclose(degsim(TINY, k=1, min_common=1, cosine=True), [c, c, c])
    np.testing.assert_allclose(
        degsim(TINY, k=2, min_common=1, cosine=True), [(c + 0.5) / 2, c, (c + 0.5) / 2]
    )


def _reference(dense: np.ndarray, k: int, min_common: int) -> dict[str, np.ndarray]:
    """The module doc's definitions, one user at a time."""
    rated = dense > 0
    nr = rated.sum(axis=0)
    item_mean = np.where(nr > 0, dense.sum(axis=0) / np.maximum(nr, 1), 0)
    top = dense[rated].max()
    lengths = rated.sum(axis=1)
    out = {name: [] for name in EXPLICIT_FEATURES}
    for u in range(dense.shape[0]):
        items = np.flatnonzero(rated[u])
        r = dense[u, items]
        dev = np.abs(r - item_mean[items])
        out["length"].append(len(items))
        out["mean"].append(r.mean())
        out["std"].append(r.std())
        out["max_share"].append(np.mean(r == top))
        out["wda"].append(np.sum(dev / nr[items]))
        out["rdma"].append(np.sum(dev / nr[items]) / len(items))
        out["wdma"].append(np.sum(dev / nr[items] ** 2) / len(items))
        spread = np.sum((lengths - lengths.mean()) ** 2)
        out["length_var"].append(abs(lengths[u] - lengths.mean()) / spread)
        # Try every max-rated item as the target; keep the split with the smallest filler variance.
        best = None
        for t in np.flatnonzero(r == r.max()):
            filler = np.delete(np.arange(len(items)), t)
            var = np.mean(dev[filler] ** 2) if len(filler) else 0.0
            fmtd = abs(r[t] - r[filler].mean()) if len(filler) else 0.0
            if best is None or var < best[0]:
                best = (var, fmtd)
        out["meanvar"].append(best[0])
        out["fmtd"].append(best[1])
        lp = np.log1p(nr[items])
        out["pop_mean"].append(lp.mean())
        out["pop_std"].append(lp.std())
        sims = []
        for v in range(dense.shape[0]):
            common = np.flatnonzero(rated[u] & rated[v])
            if v == u or len(common) < min_common:
                continue
            a = dense[u, common] - r.mean()
            b = dense[v, common] - dense[v, rated[v]].mean()
            den = math.sqrt(np.sum(a**2) * np.sum(b**2))
            sims.append(np.sum(a * b) / den if den > 0 else 0.0)
        out["degsim"].append(np.mean(sorted(sims)[::-1][:k]) if sims else 0.0)
    return {name: np.asarray(values, dtype=float) for name, values in out.items()}


@pytest.mark.parametrize("seed", [0, 1])
def test_features_match_per_user_reference(seed):
    rng = np.random.default_rng(seed)
    dense = np.where(rng.random((25, 12)) < 0.4, rng.integers(1, 6, (25, 12)), 0).astype(float)
    dense[np.arange(25), rng.integers(0, 12, 25)] = rng.integers(1, 6, 25)  # nobody empty
    got = compute_features(sp.csr_matrix(dense), k=3, min_common=2, block_users=7)
    want = _reference(dense, k=3, min_common=2)
    for name in EXPLICIT_FEATURES:
        np.testing.assert_allclose(got[name], want[name], atol=1e-12, err_msg=name)


def test_extractor_columns_and_implicit_set():
    explicit = ProfileFeatures(k=1, min_common=2).transform(TINY)
    assert explicit.shape == (3, len(EXPLICIT_FEATURES))
    np.testing.assert_allclose(explicit[:, EXPLICIT_FEATURES.index("wda")], [5 / 6, 5 / 6, 0])
    implicit = ProfileFeatures(implicit=True, k=1, min_common=1).transform(TINY)
    assert implicit.shape == (3, len(IMPLICIT_FEATURES))
    np.testing.assert_allclose(implicit[:, IMPLICIT_FEATURES.index("degsim")], [2 / math.sqrt(6)] * 3)


def test_empty_profile_gets_zeros_not_nan():
    m = sp.csr_matrix(np.array([[4, 2, 0], [0, 0, 0], [3, 0, 5]], dtype=float))
    x = ProfileFeatures(k=1, min_common=1).transform(m)
    assert np.isfinite(x).all()
    np.testing.assert_array_equal(
        x[1, [EXPLICIT_FEATURES.index(n) for n in ("length", "mean", "rdma", "degsim")]], 0
    )
