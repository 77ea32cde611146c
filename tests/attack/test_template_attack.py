"""The light-user template attack: profile shape, templates, top-up, seeding, bad settings."""

import numpy as np
import pytest
import torch

from advrec.attack.optimised import exposure_loss, fit_als, poisoned_scores
from advrec.attack.profiles import AttackSpec
from advrec.attack.registry import get_attack
from advrec.attack.template import TemplateSettings, light_users, template_attack
from advrec.data.interactions import Interactions
from advrec.errors import ConfigError


@pytest.fixture
def lengths_train() -> Interactions:
    """Users 1..8 with 2, 3, 4, 5, 6, 7, 8, 9 items (ids 100.. in order), ratings = item id % 5 + 1."""
    users, items = [], []
    for u in range(1, 9):
        for i in range(u + 1):
            users.append(u)
            items.append(100 + i)
    u, i = np.array(users), np.array(items)
    return Interactions.from_raw(u, i, (i % 5 + 1).astype(np.float32), np.arange(len(u)))


def test_light_users_are_the_short_profiles_by_hand(lengths_train):
    lengths = np.diff(lengths_train.csr().indptr)
    # quantile 0.25 of 2..9 is 3.75: the users with 2 and 3 items
    assert sorted(lengths[light_users(lengths_train, 0.25)].tolist()) == [2, 3]
    assert len(light_users(lengths_train, 1.0)) == 8
    with pytest.raises(ConfigError, match="quantile"):
        light_users(lengths_train, 0.0)


def test_profiles_copy_light_templates_with_the_requested_filler(lengths_train):
    """Quantile 0.25: the templates are users 1 (items 100, 101) and 2 (100, 101, 102). With target
    102 both templates hold {100, 101} once the target is left out, so each fake is {100, 101} (the
    template's own ratings) plus one topped-up item that no light user has (103..108), never the
    target, which gets the maximum rating."""
    train = lengths_train
    target = train.item_map.index(102)
    spec = AttackSpec(n_fake=2, filler=3, targets=np.array([target]))
    prof = template_attack(spec, train, np.random.default_rng(0), TemplateSettings(quantile=0.25))
    for f in range(2):
        items, ratings = prof.items[prof.users == f], prof.ratings[prof.users == f]
        assert len(items) == len(set(items.tolist())) == 1 + 3
        assert ratings[items == target][0] == 5.0
        raw = train.item_map.raw[items[items != target]]
        own = np.isin(raw, [100, 101])
        assert own.sum() == 2
        assert set(raw[~own].tolist()) <= set(range(103, 109))
        assert np.array_equal(ratings[items != target][own], (raw[own] % 5 + 1).astype(np.float32))


def test_short_templates_are_topped_up_to_the_filler(lengths_train):
    train = lengths_train
    spec = AttackSpec(n_fake=3, filler=5, targets=np.array([train.item_map.index(108)]))
    prof = template_attack(spec, train, np.random.default_rng(1), TemplateSettings(quantile=0.25))
    assert prof.n_fake == 3
    for f in range(3):
        items = prof.items[prof.users == f]
        assert len(items) == len(set(items.tolist())) == 6  # target + 5, templates have 2-3 items
    assert prof.ratings.min() >= 1.0 and prof.ratings.max() <= 5.0


def test_registered_and_seeded(lengths_train):
    gen = get_attack("template")
    spec = AttackSpec(n_fake=4, filler=3, targets=np.array([0]))
    a = gen(spec, lengths_train, np.random.default_rng(3))
    b = gen(spec, lengths_train, np.random.default_rng(3))
    assert np.array_equal(a.items, b.items) and np.array_equal(a.ratings, b.ratings)


def _two_camps() -> Interactions:
    """60 light users in two camps: camp A (users 0-29) rates items 0-5, camp B (30-59) items 10-15;
    30 heavy users rate items 0-15 and 20-159 (a catalogue larger than the surrogate's top-50). Target
    200 is rated by 2 camp-A users only, so fakes that look like camp A put it into camp A's lists; a
    camp-B profile carries it nowhere near them."""
    users, items = [], []
    for u in range(60):
        base = 0 if u < 30 else 10
        for i in range(base, base + 6):
            if (u + i) % 7:  # not every light user has every camp item
                users.append(u)
                items.append(i)
    for u in range(60, 90):
        for i in [*range(16), *range(20, 160)]:
            if (u * 3 + i) % 4:
                users.append(u)
                items.append(i)
    users += [0, 1]
    items += [200, 200]
    u, i = np.array(users), np.array(items)
    return Interactions.from_raw(u, i, np.ones(len(u), dtype=np.float32), np.arange(len(u)))


def test_surrogate_choice_keeps_the_templates_that_move_the_target_most():
    train = _two_camps()
    target = train.item_map.index(200)
    spec = AttackSpec(n_fake=6, filler=4, targets=np.array([target]))
    settings = TemplateSettings(quantile=0.6, choose="surrogate")
    prof = template_attack(spec, train, np.random.default_rng(0), settings)
    assert prof.n_fake == 6
    raw = train.item_map.raw

    def camps(profiles):
        out = []
        for f in range(profiles.n_fake):
            items = raw[profiles.items[profiles.users == f]]
            assert len(items) == 4 + 1 and 200 in items.tolist()
            a, b = np.isin(items, range(6)).sum(), np.isin(items, range(10, 16)).sum()
            out.append("A" if a > b else "B" if b > a else "?")
        return out

    # the surrogate's choice: one camp (A, where the target already has raters); random templates mix
    assert camps(prof).count("A") == 6, camps(prof)
    random = template_attack(spec, train, np.random.default_rng(0), TemplateSettings(quantile=0.6))
    assert "B" in camps(random)
    # and, injected together, the chosen fakes lower the surrogate's exposure loss more than random ones
    r = torch.from_numpy(train.csr().toarray().astype(np.float64))
    p, q = fit_als(r, 64, 10.0, 15, torch.Generator().manual_seed(0))

    def loss_with(profiles):
        x = torch.zeros(profiles.n_fake, train.n_items, dtype=r.dtype)
        x[torch.from_numpy(profiles.users), torch.from_numpy(profiles.items)] = 1.0
        scores = poisoned_scores(r, x, p, q, 10.0)
        return float(exposure_loss(scores, r, torch.tensor([target]), 50))

    assert loss_with(prof) < loss_with(random)
    with pytest.raises(ValueError, match="choose"):  # the settings cannot hold another choice
        TemplateSettings(choose="best")
    a = get_attack("template-surrogate")(spec, train, np.random.default_rng(5))
    b = get_attack("template-surrogate")(spec, train, np.random.default_rng(5))
    assert np.array_equal(a.items, b.items)
