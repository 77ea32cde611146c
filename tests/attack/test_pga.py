"""PGA (Li et al. 2016): the integrity utility, the ascent, the projection to the budget, and its effect
in the surrogate it optimised against."""

import numpy as np
import torch

from advrec.attack.optimised import fit_als, poisoned_scores
from advrec.attack.pga import PgaSettings, integrity_utility, pga_attack, pga_ratings, project_to_budget
from advrec.attack.profiles import AttackSpec

SMALL = PgaSettings(dim=8, reg=1.0, als_iters=10, steps=15)


def test_integrity_utility_by_hand():
    """Mean score of each target over the users who lack it, then over targets."""
    scores = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    r = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    # target 0: users 0, 1 lack it -> (1 + 4) / 2; target 1: users 1, 2 -> (5 + 8) / 2
    assert integrity_utility(scores, r, torch.tensor([0, 1])).item() == (2.5 + 6.5) / 2


def test_projection_keeps_exactly_the_budget_outside_the_targets():
    x = np.array([[0.9, 0.1, 1.0, 0.5, 0.7], [0.0, 0.0, 1.0, 0.0, 0.0]])
    kept = project_to_budget(x, 2, np.array([2]))
    assert kept[0].tolist() == [0, 4]
    assert len(set(kept[1].tolist())) == 2 and 2 not in kept[1]  # all-zero row: still 2 filler items


def test_ascent_raises_the_surrogate_utility(synthetic_split, rare_targets):
    train = synthetic_split.train
    r = torch.from_numpy(train.csr().toarray().astype(np.float64))
    spec = AttackSpec(n_fake=4, filler=10, targets=rare_targets)

    def utility(settings, seed):
        x = pga_ratings(spec, r, settings, np.random.default_rng(seed))
        gen = torch.Generator().manual_seed(int(np.random.default_rng(seed).integers(2**62)))
        p, q = fit_als(r, settings.dim, settings.reg, settings.als_iters, gen)
        return integrity_utility(poisoned_scores(r, x, p, q, settings.reg), r, torch.from_numpy(spec.targets))

    start = utility(SMALL.model_copy(update={"steps": 1, "step": 1e-9}), 0)
    assert utility(SMALL, 0) > start + 1e-4


def test_pga_profiles_raise_the_target_score_more_than_random_ones(
    synthetic_split, rare_targets, als_score_vs_random
):
    """Under the ALS surrogate PGA optimised against (same seeded stream), its discrete profiles raise the
    targets' mean score over real users more than random profiles of the same shape do."""
    train = synthetic_split.train
    targets = rare_targets
    spec = AttackSpec(n_fake=4, filler=10, targets=targets)
    prof = pga_attack(spec, train, np.random.default_rng(0), SMALL)
    r = torch.from_numpy(train.csr().toarray().astype(np.float64))
    gen = torch.Generator().manual_seed(int(np.random.default_rng(0).integers(2**62)))
    p, q = fit_als(r, SMALL.dim, SMALL.reg, SMALL.als_iters, gen)

    chosen, best_random = als_score_vs_random(prof, targets, r, p, q, SMALL.reg)
    assert chosen > best_random


def test_every_fake_user_holds_the_budget_and_the_attack_is_seeded(synthetic_split, rare_targets):
    train = synthetic_split.train
    spec = AttackSpec(n_fake=5, filler=12, targets=rare_targets)
    a = pga_attack(spec, train, np.random.default_rng(3), SMALL)
    b = pga_attack(spec, train, np.random.default_rng(3), SMALL)
    c = pga_attack(spec, train, np.random.default_rng(4), SMALL)
    assert np.array_equal(a.items, b.items) and np.array_equal(a.ratings, b.ratings)
    assert not np.array_equal(a.items, c.items)
    for u in range(5):
        items = a.items[a.users == u]
        assert len(items) == len(set(items.tolist())) == 12 + 2
        assert set(spec.targets.tolist()) <= set(items.tolist())
