import numpy as np
import pytest
import torch

from advrec.attack.optimised import OptimisedSettings, exposure_loss, optimised_attack, poisoned_scores
from advrec.attack.optimised_bpr import BprAttackSettings, optimised_bpr_attack
from advrec.attack.profiles import AttackSpec, RatingStats
from advrec.attack.registry import ATTACKS, get_attack
from advrec.errors import ConfigError

FAST = OptimisedSettings(dim=4, als_iters=3, rounds=2, k=3)
FAST_BPR = BprAttackSettings(dim=4, epochs=3, batch=8, steps=3, real_pairs=16, negatives=4, rounds=2, k=3)


def _generate(name, spec, train, seed=0):
    if name == "optimised":
        return optimised_attack(spec, train, np.random.default_rng(seed), FAST)
    if name == "optimised-bpr":
        return optimised_bpr_attack(spec, train, np.random.default_rng(seed), FAST_BPR)
    return get_attack(name)(spec, train, np.random.default_rng(seed))


def _per_user(profiles):
    return [profiles.items[profiles.users == u] for u in range(profiles.n_fake)]


@pytest.mark.parametrize("name", ATTACKS.names())
def test_requested_profiles_filler_and_target_ratings(name, toy_train):
    targets = np.array([toy_train.item_map.index(17), toy_train.item_map.index(16)])
    spec = AttackSpec(n_fake=4, filler=2, targets=targets, n_selected=1)
    prof = _generate(name, spec, toy_train)
    assert prof.n_fake == 4 and sorted(set(prof.users.tolist())) == [0, 1, 2, 3]
    selected = 1 if name in ("bandwagon", "segment", "gan") else 0  # gan: AUSH's selected items
    for items in _per_user(prof):
        assert len(items) == len(set(items.tolist())) == 2 + selected + 2  # targets + selected + filler
        assert set(targets.tolist()) <= set(items.tolist())
    assert np.all(prof.ratings[np.isin(prof.items, targets)] == 5.0)
    assert prof.ratings.min() >= 1.0 and prof.ratings.max() <= 5.0
    assert np.all(prof.ratings == np.round(prof.ratings))


@pytest.mark.parametrize("name", ATTACKS.names())
def test_generators_are_seeded(name, toy_train):
    spec = AttackSpec(n_fake=3, filler=3, targets=np.array([7]), n_selected=1)
    a, b = _generate(name, spec, toy_train, 5), _generate(name, spec, toy_train, 5)
    assert np.array_equal(a.items, b.items) and np.array_equal(a.ratings, b.ratings)


def test_bandwagon_selects_the_most_popular_item_at_max(toy_train):
    spec = AttackSpec(n_fake=2, filler=1, targets=np.array([toy_train.item_map.index(17)]), n_selected=1)
    prof = get_attack("bandwagon")(spec, toy_train, np.random.default_rng(0))
    top = toy_train.item_map.index(10)  # in all 6 profiles
    for u in range(2):
        rows = prof.users == u
        assert top in prof.items[rows]
        assert prof.ratings[rows][prof.items[rows] == top][0] == 5.0


def test_segment_selects_items_co_rated_with_the_target_and_rates_filler_low(toy_train):
    target = toy_train.item_map.index(16)  # only user 6 has it, with 10, 11 and 12
    spec = AttackSpec(n_fake=3, filler=2, targets=np.array([target]), n_selected=2)
    prof = get_attack("segment")(spec, toy_train, np.random.default_rng(0))
    # co-rated ties (10, 11, 12 each once) break by popularity: 10 (6 users), then 11 (3 users)
    selected = {toy_train.item_map.index(10), toy_train.item_map.index(11)}
    for u in range(3):
        items, ratings = prof.items[prof.users == u], prof.ratings[prof.users == u]
        assert selected <= set(items.tolist())
        filler = ~np.isin(items, [*selected, target])
        assert filler.sum() == 2 and np.all(ratings[filler] == 1.0)


def test_rating_stats_by_hand(toy_train):
    stats = RatingStats.of(toy_train)
    assert (stats.low, stats.high) == (1.0, 5.0)
    item10 = toy_train.item_map.index(10)  # ratings 5, 4, 3, 5, 2, 1
    assert stats.item_mean[item10] == pytest.approx(20 / 6)
    assert stats.item_std[item10] == pytest.approx(np.std([5, 4, 3, 5, 2, 1]))
    assert stats.mean == pytest.approx(toy_train.ratings.mean())


def test_too_large_a_filler_is_a_config_error(toy_train):
    with pytest.raises(ConfigError, match="--filler"):
        get_attack("random")(AttackSpec(2, 8, np.array([0])), toy_train, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="--attack: unknown attack 'nope'; valid: .*random"):
        get_attack("nope")


def test_optimised_step_lowers_the_surrogate_loss(synthetic_split):
    """The one-step test of the attack's optimisation: its profiles expose the targets more, in the
    surrogate, than the random profiles it starts from (and the loss has a finite gradient)."""
    from advrec.attack.optimised import fit_als
    from advrec.attack.profiles import random_items

    train = synthetic_split.train
    counts = np.bincount(train.items, minlength=train.n_items)
    targets = np.flatnonzero(counts == 2)[:2]
    settings = OptimisedSettings(dim=8, als_iters=5, rounds=3, k=10)
    spec = AttackSpec(n_fake=4, filler=10, targets=targets)
    prof = optimised_attack(spec, train, np.random.default_rng(0), settings)
    r = torch.from_numpy(train.csr().toarray().astype(np.float64))
    p, q = fit_als(r, settings.dim, settings.reg, settings.als_iters, torch.Generator().manual_seed(0))

    def loss_of(rows_items):
        x = torch.zeros(4, train.n_items, dtype=r.dtype, requires_grad=True)
        with torch.no_grad():
            for u, items in enumerate(rows_items):
                x[u, items] = 1.0
        loss = exposure_loss(poisoned_scores(r, x, p, q, settings.reg), r, torch.from_numpy(targets), 10)
        (grad,) = torch.autograd.grad(loss, x)
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0
        return loss.item()

    optimised = loss_of([prof.items[prof.users == u] for u in range(4)])
    rng = np.random.default_rng(0)
    start = random_items(4, 10, train.n_items, targets, rng)
    random_loss = loss_of([np.concatenate([targets, row]) for row in start])
    assert optimised < random_loss


def test_als_surrogate_fits_a_low_rank_matrix():
    from advrec.attack.optimised import fit_als

    gen = torch.Generator().manual_seed(0)
    truth = torch.randn(30, 3, generator=gen, dtype=torch.float64) @ torch.randn(
        3, 20, generator=gen, dtype=torch.float64
    )
    p, q = fit_als(truth, dim=3, reg=1e-6, iters=30, gen=gen)
    assert torch.linalg.norm(p @ q.T - truth) / torch.linalg.norm(truth) < 1e-3
    p0, q0 = fit_als(truth, dim=3, reg=1e-6, iters=0, gen=torch.Generator().manual_seed(0))
    assert torch.linalg.norm(p @ q.T - truth) < torch.linalg.norm(p0 @ q0.T - truth)
