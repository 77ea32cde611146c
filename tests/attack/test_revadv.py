"""RevAdv (Tang et al. 2020): the unrolled Adam, the gradient through the surrogate's training, and the
attack's effect in its surrogate."""

import numpy as np
import torch

from advrec.attack.profiles import AttackSpec
from advrec.attack.revadv import (
    RevAdvSettings,
    _adam_step,
    adversarial_loss,
    revadv_attack,
    revadv_fillers,
    target_hit,
    train_wmf,
)

SMALL = RevAdvSettings(dim=8, epochs=12, unroll=4, lr=0.05, outer_epochs=6, k=10)


def test_written_out_adam_equals_torch_adam():
    s = RevAdvSettings(lr=0.1, weight_decay=0.01)
    start = torch.tensor([[0.5, -1.0], [2.0, 0.3]], dtype=torch.float64)
    ref = start.clone().requires_grad_(True)
    opt = torch.optim.Adam([ref], lr=s.lr, weight_decay=s.weight_decay)
    mine, m, v = start.clone(), torch.zeros_like(start), torch.zeros_like(start)
    for t in range(1, 5):
        opt.zero_grad()
        (ref**3).sum().backward()
        opt.step()
        mine, m, v = _adam_step(mine, 3 * mine**2, m, v, t, s)
    assert torch.allclose(mine, ref.detach(), atol=1e-10)


def test_the_data_gradient_through_unrolled_training_matches_finite_differences():
    """Every epoch unrolled: d(adversarial loss)/d(one fake entry) by autograd equals the central
    difference of retraining from the same seed."""
    s = RevAdvSettings(dim=3, epochs=4, unroll=4, lr=0.05, batch=2)
    gen = torch.Generator().manual_seed(0)
    real = (torch.rand(5, 6, generator=gen, dtype=torch.float64) > 0.5).double()
    fake = torch.tensor([[1.0, 0.0, 0.3, 0.0, 1.0, 0.0]], dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([3])

    def loss_of(f):
        p, q = train_wmf(torch.cat([real, f]), s, seed=7, differentiable=True)
        return adversarial_loss(p[:5] @ q.T, targets)

    (grad,) = torch.autograd.grad(loss_of(fake), fake)
    h = 1e-5
    for j in (0, 2, 4):  # entries off 0: the positive weight switches on at 0
        step = torch.zeros_like(fake)
        step[0, j] = h
        numeric = (loss_of(fake.detach() + step) - loss_of(fake.detach() - step)).item() / (2 * h)
        assert abs(grad[0, j].item() - numeric) < 1e-5 * max(1.0, abs(numeric))
    assert grad.abs().sum() > 0


def test_plain_training_lowers_the_wmf_loss():
    s = RevAdvSettings(dim=4, epochs=30, lr=0.05)
    gen = torch.Generator().manual_seed(0)
    data = (torch.rand(20, 15, generator=gen) > 0.7).float()

    def wmf_loss(p, q):
        w = torch.where(data > 0, s.weight, 1.0)
        return (w * (data - p @ q.T) ** 2).sum().item()

    start = train_wmf(data, s.model_copy(update={"epochs": 1, "lr": 1e-9}), 0, differentiable=False)
    trained = train_wmf(data, s, 0, differentiable=False)
    assert wmf_loss(*trained) < 0.5 * wmf_loss(*start)


def test_target_hit_by_hand():
    scores = torch.tensor([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    r = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    # k=1, target 1: user 0's best unrated is item 0 (miss); user 1's best unrated is item 1 (hit)
    assert target_hit(scores, r, torch.tensor([1]), 1) == 0.5


def test_outer_steps_lower_the_adversarial_loss(synthetic_split, rare_targets):
    train = synthetic_split.train
    spec = AttackSpec(n_fake=4, filler=10, targets=rare_targets)
    _, trace = revadv_fillers(spec, train, np.random.default_rng(0), SMALL)
    losses = [loss for _, loss in trace]
    assert len(trace) == SMALL.outer_epochs + 1
    assert min(losses[1:]) < losses[0] - 1.0


def test_revadv_profiles_beat_random_ones_in_the_surrogate(synthetic_split, rare_targets, random_rows):
    """Retrained from the attack's own seed on [R; fake profiles], the WMF surrogate ranks the targets
    into more real users' top-k with RevAdv's profiles than with random ones of the same shape."""
    train = synthetic_split.train
    targets = rare_targets
    spec = AttackSpec(n_fake=4, filler=10, targets=targets)
    prof = revadv_attack(spec, train, np.random.default_rng(0), SMALL)
    seed = int(np.random.default_rng(0).integers(2**62))  # the attack's first draw: its surrogate's seed
    r = torch.from_numpy(train.csr().toarray().astype(np.float32)).clamp(max=1.0)

    def hit(rows):
        x = torch.zeros(4, train.n_items)
        for u, items in enumerate(rows):
            x[u, items] = 1.0
        p, q = train_wmf(torch.cat([r, x]), SMALL, seed, differentiable=False)
        return target_hit(p[: r.shape[0]] @ q.T, r, torch.from_numpy(targets), SMALL.k)

    chosen = hit([prof.items[prof.users == u] for u in range(4)])
    randoms = [hit(random_rows(targets, 4, 10, train.n_items, k)) for k in range(5)]
    assert chosen > max(randoms)


def test_every_fake_user_holds_the_budget_and_the_attack_is_seeded(synthetic_split, rare_targets):
    train = synthetic_split.train
    spec = AttackSpec(n_fake=3, filler=9, targets=rare_targets)
    a = revadv_attack(spec, train, np.random.default_rng(2), SMALL)
    b = revadv_attack(spec, train, np.random.default_rng(2), SMALL)
    assert np.array_equal(a.items, b.items) and np.array_equal(a.ratings, b.ratings)
    for u in range(3):
        items = a.items[a.users == u]
        assert len(items) == len(set(items.tolist())) == 9 + 2
        assert set(spec.targets.tolist()) <= set(items.tolist())
