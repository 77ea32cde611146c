import numpy as np
import pytest
import scipy.sparse as sp
import torch

from advrec.attack.gan_attack import (
    AushNets,
    Batch,
    GanAttackSettings,
    d_loss,
    g_loss,
    rating_matrix,
    train_gan_attack,
)
from advrec.attack.profiles import AttackSpec
from advrec.attack.registry import get_attack
from advrec.data.interactions import Interactions
from advrec.defend.gan_discriminator import discriminator_detector
from advrec.errors import ConfigError
from advrec.measure.detection import roc_auc

FAST = GanAttackSettings(hidden=32, steps=60, batch=32)


def _rated(n_users=60, n_items=40, seed=0) -> Interactions:
    """Real users rate 12 items each, ratings 1..5 around a per-item mean (a clear 'real' structure)."""
    rng = np.random.default_rng(seed)
    item_mean = rng.uniform(1.5, 4.5, n_items)
    users, items, ratings = [], [], []
    for u in range(n_users):
        chosen = rng.choice(n_items, 12, replace=False)
        users += [u] * 12
        items += chosen.tolist()
        ratings += np.clip(np.round(item_mean[chosen] + rng.normal(0, 0.7, 12)), 1, 5).tolist()
    return Interactions.from_raw(np.array(users), np.array(items), np.array(ratings, dtype=np.float32))


def test_profiles_have_the_requested_shape_and_max_rated_targets():
    train = _rated()
    spec = AttackSpec(n_fake=7, filler=9, targets=np.array([3, 17]), n_selected=4)
    made = train_gan_attack(spec, train, np.random.default_rng(0), FAST)
    p = made.profiles
    assert p.n_fake == 7 and len(p) == 7 * (2 + 4 + 9)
    per_user = np.bincount(p.users, minlength=7)
    assert (per_user == 15).all()
    for u in range(7):
        items = p.items[p.users == u]
        assert len(np.unique(items)) == len(items)  # no item twice in one profile
        r = dict(zip(items.tolist(), p.ratings[p.users == u].tolist()))
        assert r[3] == 5.0 and r[17] == 5.0
    assert set(np.unique(p.ratings)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert get_attack("gan") is not None


def test_seeded():
    train = _rated()
    spec = AttackSpec(n_fake=5, filler=6, targets=np.array([1]), n_selected=2)
    a = train_gan_attack(spec, train, np.random.default_rng(4), FAST).profiles
    b = train_gan_attack(spec, train, np.random.default_rng(4), FAST).profiles
    assert np.array_equal(a.items, b.items) and np.array_equal(a.ratings, b.ratings)


def test_unknown_loss_and_too_many_fillers_are_config_errors():
    train = _rated()
    with pytest.raises(ConfigError, match="GAN loss"):
        train_gan_attack(
            AttackSpec(2, 5, np.array([0])), train, np.random.default_rng(0), GanAttackSettings(loss="x")
        )
    with pytest.raises(ConfigError, match="filler"):
        train_gan_attack(AttackSpec(2, 45, np.array([0])), train, np.random.default_rng(0), FAST)


def _batch(n_items=20, b=8, seed=0) -> Batch:
    gen = torch.Generator().manual_seed(seed)
    real = (
        torch.randint(1, 6, (b, n_items), generator=gen) * (torch.rand(b, n_items, generator=gen) < 0.4)
    ) / 5.0
    templates = (
        torch.randint(1, 6, (b, n_items), generator=gen) * (torch.rand(b, n_items, generator=gen) < 0.4)
    ) / 5.0
    filler = torch.zeros(b, n_items, dtype=torch.bool)
    filler[:, 5:12] = True
    selected = torch.zeros(b, n_items, dtype=torch.bool)
    selected[:, 2:4] = True
    targets = torch.zeros(b, n_items, dtype=torch.bool)
    targets[:, 0] = True
    return Batch(templates.float(), real.float(), filler, selected, targets)


def _step_improves(params, loss_fn):
    before = [p.detach().clone() for p in params]
    opt = torch.optim.SGD(params, lr=0.05)
    first = loss_fn()
    opt.zero_grad()
    first.backward()
    opt.step()
    assert any(not torch.equal(a, p) for a, p in zip(before, params))
    return first.item(), loss_fn().item()


def test_discriminator_one_step():
    torch.manual_seed(0)
    nets, batch = AushNets(20, 16, 1.0, 5.0), _batch()
    g_before = [p.detach().clone() for p in nets.generator.parameters()]
    first, second = _step_improves(
        list(nets.discriminator.parameters()), lambda: d_loss(nets, batch, "non_saturating")
    )
    assert second < first
    assert all(torch.equal(a, p) for a, p in zip(g_before, nets.generator.parameters()))


def test_generator_one_step():
    torch.manual_seed(0)
    nets, batch = AushNets(20, 16, 1.0, 5.0), _batch()
    settings = GanAttackSettings()
    d_before = [p.detach().clone() for p in nets.discriminator.parameters()]
    first, second = _step_improves(list(nets.generator.parameters()), lambda: g_loss(nets, batch, settings))
    assert second < first
    assert all(torch.equal(a, p) for a, p in zip(d_before, nets.discriminator.parameters()))


def test_fake_rows_rate_targets_max_and_only_rated_items():
    torch.manual_seed(0)
    nets, batch = AushNets(20, 16, 1.0, 5.0), _batch()
    rows = nets.fake_rows(batch.templates, batch.filler | batch.selected, batch.targets)
    assert torch.all(rows[:, 0] == 1.0)
    assert torch.all(rows[:, 12:] == 0) and torch.all(rows[:, 1] == 0)
    scaled = rows[:, 5:12] * 5
    assert torch.all(scaled >= 1) and torch.all(scaled <= 5) and torch.equal(scaled, torch.round(scaled))


def test_discriminator_separates_real_from_fake_after_short_training():
    train = _rated(n_users=80)
    spec = AttackSpec(n_fake=20, filler=10, targets=np.array([0, 1]), n_selected=3)
    made = train_gan_attack(spec, train, np.random.default_rng(1), GanAttackSettings(hidden=32, steps=80))
    real = rating_matrix(train)
    # the fake profiles in the training item order (item ids 0..39 are their own indices)
    fake_m = sp.csr_matrix(
        (made.profiles.ratings, (made.profiles.users, made.profiles.items)),
        shape=(spec.n_fake, train.n_items),
    )
    matrix = sp.vstack([real, fake_m]).tocsr()
    labels = np.r_[np.zeros(real.shape[0]), np.ones(spec.n_fake)].astype(int)
    detector = discriminator_detector(made.nets, n_flag=spec.n_fake)
    auc = roc_auc(detector.score(matrix), labels)
    assert auc > 0.7
    with pytest.raises(ValueError, match="items"):
        detector.score(matrix[:, :10])
