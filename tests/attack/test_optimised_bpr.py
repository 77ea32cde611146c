"""The BPR-surrogate unrolled attack: surrogate training, the unrolled map, the gradient pick."""

import numpy as np
import torch

from advrec.attack.optimised import exposure_loss
from advrec.attack.optimised_bpr import (
    BprAttackSettings,
    _draws,
    optimised_bpr_attack,
    train_surrogate,
    unrolled_scores,
)
from advrec.attack.profiles import AttackSpec, random_items

SMALL = BprAttackSettings(
    dim=8, epochs=15, lr=0.05, batch=256, steps=5, real_pairs=500, negatives=8, rounds=3, k=10
)


def _bpr_loss(r, p, q, gen):
    users, items = torch.nonzero(r > 0, as_tuple=True)
    neg = torch.randint(0, r.shape[1], (len(users),), generator=gen)
    return torch.nn.functional.softplus(-(p[users] * (q[items] - q[neg])).sum(-1)).mean().item()


def test_surrogate_training_lowers_the_bpr_loss(synthetic_split):
    r = torch.from_numpy(synthetic_split.train.csr().toarray().astype(np.float32))
    p0, q0 = train_surrogate(r, BprAttackSettings(dim=8, epochs=0), torch.Generator().manual_seed(0))
    p, q = train_surrogate(r, SMALL, torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(1)
    assert _bpr_loss(r, p, q, gen) < _bpr_loss(r, p0, q0, torch.Generator().manual_seed(1)) - 0.05


def test_unrolled_steps_pull_the_target_toward_the_fake_users():
    """Two real users, three items (item 2: the target), one fake user who likes item 0. Step 1 from
    p_fake = 0 moves p_fake toward q_0 - q_1 (the target's gradient needs p_fake != 0); step 2 pulls
    q_target toward p_fake, so real user 0 (aligned with item 0) scores the target higher when the fake
    user has it than when it does not."""
    s = BprAttackSettings(dim=2, steps=2, step_lr=0.5, negatives=2, real_pairs=1, l2=0.0)
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], requires_grad=True)
    real = tuple(torch.tensor([[v], [v]]) for v in (0, 0, 1))  # per step: user 0, positive 0, negative 1
    fake_neg = torch.tensor([[[1, 1]], [[1, 1]]])  # per step, the fake user's negatives: item 1
    with_target = unrolled_scores(torch.tensor([[1.0, 0.0, 1.0]]), p, q, real, fake_neg, s)[0, 2]
    without = unrolled_scores(torch.tensor([[1.0, 0.0, 0.0]]), p, q, real, fake_neg, s)[0, 2]
    assert with_target > without + 1e-3


def test_chosen_fillers_beat_random_ones_in_the_surrogate(synthetic_split):
    train = synthetic_split.train
    counts = np.bincount(train.items, minlength=train.n_items)
    targets = np.flatnonzero(counts == 2)[:2]
    spec = AttackSpec(n_fake=4, filler=10, targets=targets)
    prof = optimised_bpr_attack(spec, train, np.random.default_rng(0), SMALL)
    for u in range(4):
        items = prof.items[prof.users == u]
        assert len(items) == len(set(items.tolist())) == 12 and set(targets.tolist()) <= set(items.tolist())
    # re-create the attack's surrogate and draws (same seeded stream) and score both profile sets
    rng = np.random.default_rng(0)
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    r = torch.from_numpy(train.csr().toarray().astype(np.float32))
    p, q = train_surrogate(r, SMALL, gen)
    p.requires_grad_(True)
    q.requires_grad_(True)
    real, fake_neg = _draws(r, 4, SMALL, gen)

    def loss_of(rows):
        x = torch.zeros(4, train.n_items)
        for u, items in enumerate(rows):
            x[u, items] = 1.0
        scores = unrolled_scores(x, p, q, real, fake_neg, SMALL)
        return exposure_loss(scores, r, torch.from_numpy(targets), SMALL.k).item()

    chosen = loss_of([prof.items[prof.users == u] for u in range(4)])
    randoms = [
        loss_of([np.concatenate([targets, row]) for row in random_items(4, 10, train.n_items, targets, rng2)])
        for rng2 in (np.random.default_rng(k) for k in range(5))
    ]
    assert chosen < min(randoms)
