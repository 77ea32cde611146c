"""Leg-UP (Lin et al. 2022): the discrete generator with its straight-through gradient, one step of each
net, the budget, the seeding, and the attack's effect in the ALS surrogate it trains against."""

import numpy as np
import torch

from advrec.attack.legup import LegUpNets, LegUpSettings, legup_attack, train_legup
from advrec.attack.optimised import fit_als
from advrec.attack.profiles import AttackSpec

SMALL = LegUpSettings(hidden=32, dim=8, reg=1.0, als_iters=10, k=10)


def test_profiles_are_discrete_with_the_budget_and_pass_a_gradient():
    torch.manual_seed(0)
    nets = LegUpNets(n_items=12, hidden=8)
    templates = (torch.rand(3, 12) > 0.5).float()
    targets = torch.tensor([2, 7])
    rows = nets.profiles(templates, targets, filler=4, temperature=0.1)
    assert set(rows.detach().unique().tolist()) <= {0.0, 1.0}
    assert rows.detach().sum(1).tolist() == [6.0, 6.0, 6.0]  # 4 filler + 2 targets
    assert (rows.detach()[:, targets] == 1).all()
    (rows * torch.arange(12.0)).sum().backward()  # straight-through: the hard rows still carry a gradient
    first = nets.generator[0].weight.grad
    assert first is not None and first.abs().sum() > 0


def test_training_lowers_the_generators_exposure_loss(synthetic_split, rare_targets):
    """The surrogate's exposure loss of the generated profiles (fresh templates each step): its mean over
    the last 10 steps is below its mean over the first 10."""
    spec = AttackSpec(n_fake=4, filler=10, targets=rare_targets)
    _, history = train_legup(spec, synthetic_split.train, np.random.default_rng(0), SMALL)
    assert len(history["g_loss"]) == len(history["d_loss"]) == SMALL.steps
    assert np.mean(history["exposure"][-10:]) < np.mean(history["exposure"][:10])


def test_legup_profiles_raise_the_target_score_more_than_random_ones(
    synthetic_split, rare_targets, als_score_vs_random
):
    """Under the ALS surrogate Leg-UP trained against (the attack's seeded stream: its second draw seeds
    the surrogate), its profiles raise the targets' mean score over the real users who lack them more
    than random profiles of the same shape do."""
    train = synthetic_split.train
    targets = rare_targets
    spec = AttackSpec(n_fake=4, filler=10, targets=targets)
    prof = legup_attack(spec, train, np.random.default_rng(0), SMALL)
    rng = np.random.default_rng(0)
    rng.integers(2**62)  # the attack's first draw seeds its nets
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    r = torch.from_numpy((train.csr().toarray() > 0).astype(np.float64))
    p, q = fit_als(r, SMALL.dim, SMALL.reg, SMALL.als_iters, gen)

    chosen, best_random = als_score_vs_random(prof, targets, r, p, q, SMALL.reg)
    assert chosen > best_random


def test_every_fake_user_holds_the_budget_and_the_attack_is_seeded(synthetic_split, rare_targets):
    train = synthetic_split.train
    before = (train.users.copy(), train.items.copy(), train.ratings.copy())
    spec = AttackSpec(n_fake=5, filler=12, targets=rare_targets)
    small = SMALL.model_copy(update={"steps": 5})
    a = legup_attack(spec, train, np.random.default_rng(3), small)
    b = legup_attack(spec, train, np.random.default_rng(3), small)
    c = legup_attack(spec, train, np.random.default_rng(4), small)
    assert np.array_equal(a.items, b.items) and np.array_equal(a.ratings, b.ratings)
    assert not np.array_equal(a.items, c.items)
    assert a.n_fake == 5 and sorted(set(a.users.tolist())) == list(range(5))
    for u in range(5):
        items = a.items[a.users == u]
        assert len(items) == len(set(items.tolist())) == 12 + 2
        assert set(spec.targets.tolist()) <= set(items.tolist())
    # the attack reads TRAIN and leaves it as it was (the injection adds its rows to TRAIN only)
    assert all(np.array_equal(x, y) for x, y in zip(before, (train.users, train.items, train.ratings)))
