"""DLAttack (Huang et al. 2021): the attack loss, the tuning it drives, the diversified filler choice."""

import copy

import numpy as np
import torch

from advrec.attack.dl_attack import DlAttackSettings, _attack_loss, _fit, _top_unrated, dl_attack
from advrec.attack.profiles import AttackSpec
from advrec.models.neumf import NeuMF

SMALL = DlAttackSettings(dim=8, mlp_layers=[16, 8], epochs=8, tune_epochs=3, batch=256, k=5, attack_users=64)


def _surrogate(train, s, seed=0):
    gen = torch.Generator().manual_seed(seed)
    rated = train.csr().toarray() > 0
    users, items = (a.astype(np.int64) for a in train.csr().nonzero())
    model = NeuMF(train.n_users, train.n_items, s.dim, s.mlp_layers, 0.0, 0.01, gen)
    opt = torch.optim.Adam(model.parameters(), lr=s.lr)
    _fit(model, opt, users, items, rated, s.epochs, s, gen)
    return model, rated, users, items, gen


def test_the_attack_loss_by_hand():
    """One user, top list {0}, target 1: log σ(s_0) - log σ(s_1), floored at -κ."""

    class Fixed(torch.nn.Module):
        def score(self, users, items):
            return torch.tensor([2.0, -1.0, 0.5])[items]

    rated = np.array([[False, False, False]])
    s = DlAttackSettings(attack_users=1, kappa=0.0)
    gen = torch.Generator().manual_seed(0)
    top = torch.tensor([[0]])
    loss = _attack_loss(Fixed(), (rated, torch.tensor([1]), np.array([0]), top), s, gen)
    expected = torch.nn.functional.logsigmoid(torch.tensor(2.0)) - torch.nn.functional.logsigmoid(
        torch.tensor(-1.0)
    )
    assert torch.isclose(loss, expected)
    floored = _attack_loss(Fixed(), (rated, torch.tensor([0]), np.array([0]), top), s, gen)
    assert floored.item() == 0.0  # the target is the top item: gap 0, floored at -κ = 0


def test_tuning_with_the_attack_loss_raises_the_targets_in_real_users_rankings(synthetic_split, rare_targets):
    train = synthetic_split.train
    targets = rare_targets
    model, rated, users, items, gen = _surrogate(train, SMALL)
    eligible = np.flatnonzero(~rated[:, targets].all(axis=1))
    attack = (rated, torch.from_numpy(targets), eligible, _top_unrated(model, rated, SMALL.k))

    def mean_target_rank(m):
        with torch.no_grad():
            scores = m.full_scores(torch.arange(train.n_users))
        ranks = (scores[:, None, :] > scores[:, targets][:, :, None]).sum(-1) + 1  # [users, targets]
        return ranks[torch.from_numpy(~rated[:, targets])].float().mean().item()

    plain, tuned = copy.deepcopy(model), copy.deepcopy(model)
    for m, with_attack in ((plain, None), (tuned, attack)):
        opt = torch.optim.Adam(m.parameters(), lr=SMALL.lr)
        _fit(m, opt, users, items, rated, 5, SMALL, torch.Generator().manual_seed(1), with_attack)
    assert mean_target_rank(tuned) < mean_target_rank(plain) - 5


def test_top_unrated_skips_rated_items():
    model = NeuMF(2, 4, 2, [4, 2], 0.0, 0.1, torch.Generator().manual_seed(0))
    rated = np.array([[True, True, True, False], [False, False, False, False]])
    assert _top_unrated(model, rated, 1)[0].tolist() == [3]


def test_fake_users_hold_the_budget_differ_and_are_seeded(synthetic_split, rare_targets):
    train = synthetic_split.train
    spec = AttackSpec(n_fake=4, filler=10, targets=rare_targets)
    a = dl_attack(spec, train, np.random.default_rng(0), SMALL)
    b = dl_attack(spec, train, np.random.default_rng(0), SMALL)
    assert np.array_equal(a.items, b.items) and np.array_equal(a.ratings, b.ratings)
    rows = [set(a.items[a.users == u].tolist()) for u in range(4)]
    for items in rows:
        assert len(items) == 12 and set(spec.targets.tolist()) <= items
    assert len({frozenset(r) for r in rows}) == 4  # the decayed selection weights diversify them


def test_dl_profiles_raise_the_targets_more_than_random_ones_in_a_retrained_surrogate(
    synthetic_split, rare_targets
):
    """A NeuMF surrogate retrained on [R; fakes] ranks the targets higher for real users who lack them
    after DLAttack's profiles than after random profiles of the same shape (same training seed)."""
    from advrec.attack.inject import inject
    from advrec.attack.profiles import random_attack

    train = synthetic_split.train
    targets = rare_targets
    spec = AttackSpec(n_fake=6, filler=10, targets=targets)

    def mean_rank(profiles):
        poisoned = inject(synthetic_split, profiles)[0].train
        model, rated, *_ = _surrogate(poisoned, SMALL.model_copy(update={"epochs": 15}), seed=5)
        with torch.no_grad():
            scores = model.full_scores(torch.arange(train.n_users))
        real = rated[: train.n_users]
        ranks = (scores[:, None, :] > scores[:, targets][:, :, None]).sum(-1) + 1
        return ranks[torch.from_numpy(~real[:, targets])].float().mean().item()

    chosen = mean_rank(dl_attack(spec, train, np.random.default_rng(0), SMALL))
    randoms = [mean_rank(random_attack(spec, train, np.random.default_rng(k))) for k in range(3)]
    assert chosen < min(randoms)
