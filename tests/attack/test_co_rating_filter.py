"""The co-rating (item-group) filter detector: hand-checked pieces and a planted attack."""

import numpy as np
import pytest
import scipy.sparse as sp

from advrec.data.interactions import Interactions
from advrec.defend.co_rating import (
    CoRatingSettings,
    anomalous_pairs,
    co_rating_filter,
    flag_top,
    holding_probability,
    item_groups,
    maximal_cliques,
)
from advrec.defend.defences import build_defence
from advrec.defend.filters import FILTER_DETECTORS, filter_detector
from advrec.errors import ConfigError

N_ITEMS = 120
TARGETS = [110, 111, 112, 113]  # unpopular items
SEQUEL = (60, 61)  # a natural pair: rated together by many genuine users, no third item


def _interactions(profiles: list[list[int]]) -> Interactions:
    users = np.repeat(np.arange(len(profiles)), [len(p) for p in profiles])
    items = np.concatenate([np.asarray(p, dtype=np.int64) for p in profiles])
    # raw ids 0..N_ITEMS-1 all present (an item nobody rated would drop out of the map)
    users = np.r_[users, np.zeros(N_ITEMS, dtype=np.int64)]
    items = np.r_[items, np.arange(N_ITEMS)]
    return Interactions.from_raw(users, items)


def _population(seed=0, n_genuine=300, n_fake=9, heavy_holds_targets=False):
    """Genuine users with skewed lengths and popular items more likely; one heavy user rating the 100
    most popular items; 25 genuine users who rate the sequel pair; ``n_fake`` fakes rating the four
    targets plus a popularity-drawn filler. Fakes take the last rows."""
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, N_ITEMS + 1) ** 0.8
    pop /= pop.sum()
    profiles = []
    for u in range(n_genuine):
        k = int(np.clip(rng.lognormal(np.log(15), 0.5), 5, 60))
        chosen = set(rng.choice(N_ITEMS, k, replace=False, p=pop).tolist())
        if u < 25:
            chosen |= set(SEQUEL)
        profiles.append(sorted(chosen))
    heavy = list(range(100)) + (TARGETS if heavy_holds_targets else [])
    profiles.append(heavy)
    for _ in range(n_fake):
        filler = set(rng.choice(N_ITEMS, 12, replace=False, p=pop).tolist())
        profiles.append(sorted(filler | set(TARGETS)))
    return _interactions(profiles)


def _fake_rows(train: Interactions, n_fake: int) -> np.ndarray:
    truth = np.zeros(train.n_users, dtype=bool)
    truth[train.n_users - n_fake :] = True
    return truth


# size: the defender's expected attack size, 9 fakes among 301 + 9 users
SIZE = 9 / 301
# 310 users give pair z-scores ~3× smaller than ML-100K's (z grows with √ratings) and less unlikely
# holders (the planted group scores 4.1-4.5 here): lower min_z and min_evidence
SMALL = CoRatingSettings(min_z=3.0, min_evidence=3.0)


def _detect(train: Interactions, settings: CoRatingSettings = SMALL) -> np.ndarray:
    return co_rating_filter(SIZE, settings)(train)


def test_flags_exactly_the_planted_group():
    train = _population()
    flags = _detect(train)
    assert flags.tolist() == _fake_rows(train, 9).tolist()
    # the heavy genuine user (100 popular items, the row before the fakes) holds no group
    assert not flags[train.n_users - 10]


def test_a_heavy_genuine_user_holding_the_targets_comes_after_the_fakes():
    # the heavy user rates all four targets too (share 1.0), but the degree-corrected model expects a
    # 104-item profile to hold them: it is ranked after the light fakes and the cap leaves it out
    train = _population(heavy_holds_targets=True)
    x = train.csr().astype(np.float64)
    [group] = [g for g in item_groups(x, 9, SMALL) if set(g.items.tolist()) <= set(TARGETS)][:1]
    heavy = train.n_users - 10
    assert group.holders[heavy]
    assert group.evidence[heavy] < group.evidence[train.n_users - 9 :].min()
    flags = _detect(train)
    assert not flags[heavy] and flags.tolist() == _fake_rows(train, 9).tolist()


def test_without_an_attack_a_natural_pair_is_not_a_group():
    train = _population(n_fake=0)
    x = train.csr().astype(np.float64)
    pairs = anomalous_pairs(x, 9, SMALL)
    assert pairs[SEQUEL[0], SEQUEL[1]]  # the sequel pair is anomalous ...
    assert item_groups(x, 9, SMALL) == []  # ... but a pair is not a group
    assert not _detect(train).any()


def test_cap_limits_the_flags():
    train = _population()
    truth = _fake_rows(train, 9)
    flags = _detect(train, CoRatingSettings(min_z=3.0, min_evidence=3.0, cap=0.5))
    assert flags.sum() == round(0.5 * 9) and (flags <= truth).all()


def test_min_evidence_drops_a_weak_group():
    train = _population()
    x = train.csr().astype(np.float64)
    [group] = item_groups(x, 9, SMALL)
    above = CoRatingSettings(min_z=3.0, min_evidence=group.score + 0.01)
    assert item_groups(x, 9, above) == [] and not _detect(train, above).any()


def test_deterministic():
    a = _detect(_population(seed=3))
    b = _detect(_population(seed=3))
    assert a.tolist() == b.tolist() and a.sum() == 9


def test_the_filter_defence_drops_the_flagged_users():
    from advrec.data.split import Split

    train = _population()
    split = Split(train, train, train)
    kept, _ = build_defence("filter", detector=lambda t: _detect(t)).train_split(split)
    fake_ids = set(train.user_map.raw[_fake_rows(train, 9)].tolist())
    kept_ids = set(kept.train.user_map.raw[np.unique(kept.train.users)].tolist())
    assert kept_ids == set(train.user_map.raw.tolist()) - fake_ids


def test_anomalous_pairs_by_hand():
    # users 0, 1 rate items {0, 1}, user 2 rates {0, 2, 3}, user 3 rates {2, 3}: lengths 2, 2, 3, 2;
    # popularities 3, 2, 2, 2; N = 9; Σ w d² = 3 × 4/√2 + 9/√3 = 13.6814; Σ w² d² = 3 × 2 + 3 = 9.
    # (0, 1): observed 2/√2, mean 6/81 × 13.6814, std √(6/81 × 9): z = 0.49085 (unweighted: 0.356)
    # (2, 3): observed 1/√3 + 1/√2, mean 4/81 × 13.6814, std √(4/81 × 9): z = 0.91325
    # (0, 2), (0, 3): one co-rater, under pair_share × 2
    x = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 1, 0, 0], [1, 0, 1, 1], [0, 0, 1, 1]], dtype=float))

    def pairs(min_z):
        found = anomalous_pairs(x, 2, CoRatingSettings(pair_share=1.0, min_z=min_z))
        assert (found != found.T).nnz == 0
        return {(int(i), int(j)) for i, j in zip(*sp.triu(found).nonzero(), strict=True)}

    assert pairs(0.4908) == {(0, 1), (2, 3)}
    assert pairs(0.4909) == {(2, 3)}
    assert pairs(0.9132) == {(2, 3)}
    assert pairs(0.9133) == set()


def test_maximal_cliques_by_hand():
    # two triangles sharing the edge 1-2, a pendant 3-4, and a 4-clique 5..8
    edges = [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3), (3, 4)] + [
        (a, b) for a in range(5, 9) for b in range(a + 1, 9)
    ]
    rows, cols = zip(*edges, strict=True)
    adj = sp.coo_matrix((np.ones(len(edges), dtype=bool), (rows, cols)), shape=(9, 9))
    adj = (adj + adj.T).tocsr()
    cliques = [c.tolist() for c in maximal_cliques(adj, 3)]
    assert cliques == [[0, 1, 2], [1, 2, 3], [5, 6, 7, 8]]
    assert [c.tolist() for c in maximal_cliques(adj, 4)] == [[5, 6, 7, 8]]


def test_holding_probability_by_hand():
    # user 0: length 1, user 1: length 3; item popularities 2, 1, 1; N = 4
    x = sp.csr_matrix(np.array([[1, 0, 0], [1, 1, 1]], dtype=float))
    p0 = np.array([1 * 2 / 4, 1 * 1 / 4])  # user 0 on items 0, 1
    p1 = np.minimum(1, np.array([3 * 2 / 4, 3 * 1 / 4]))  # user 1: 1.0 (clipped), 0.75
    both = holding_probability(x, np.array([0, 1]), need=2)
    either = holding_probability(x, np.array([0, 1]), need=1)
    np.testing.assert_allclose(both, [p0.prod(), p1.prod()])
    np.testing.assert_allclose(either, [1 - (1 - p0).prod(), 1 - (1 - p1).prod()])


def test_flag_top_ignores_users_in_no_group():
    scores = np.array([-np.inf, 2.0, 5.0, -np.inf, 3.0])
    assert flag_top(scores, 2).tolist() == [False, False, True, False, True]
    assert flag_top(scores, 10).tolist() == [False, True, True, False, True]


@pytest.mark.parametrize(
    ("key", "value"),
    [("min_group", 2), ("pair_share", 0.0), ("hold_share", 1.5), ("min_z", 0.0), ("cap", 0.0)],
)
def test_bad_settings_name_the_key(key, value):
    with pytest.raises(ConfigError, match=key):
        co_rating_filter(0.03, CoRatingSettings(**{key: value}))


def test_registered_and_bad_size():
    assert "co-rating" in FILTER_DETECTORS
    with pytest.raises(ConfigError, match="--size"):
        filter_detector("co-rating", 0.0)
