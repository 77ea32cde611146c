"""IRGAN: sampling for the discriminator, one step of each player, reward and importance weights."""

import numpy as np
import pytest
import torch

from advrec.train.gan.monitor import RunningMeans

RNGS = {"sampler": np.random.default_rng(0)}


def _params(mf):
    return [p.detach().clone() for p in mf.parameters()]


def _changed(before, mf):
    return [not torch.equal(b, p) for b, p in zip(before, mf.parameters())]


def test_discriminator_samples_follow_the_generator(make_game, train):
    model, game = make_game("irgan")
    with torch.no_grad():  # a generator that puts almost all its mass on item 3 for every user
        model.generator_mf.item_bias[3] = 50.0
    samples = game.sample_for_discriminator()
    assert samples.shape == game.pair_items.shape
    assert (samples == 3).float().mean() > 0.99
    # One sample per training pair, users in the pairs' order.
    assert torch.equal(game.pair_users.bincount(minlength=train.n_users), game.n_pos)


def test_discriminator_step_changes_only_it_and_lowers_its_loss(make_game):
    model, game = make_game("irgan", discriminator={"optimizer": {"lr": 1e-2}, "l2": 0.1})
    users, pos = game.pair_users[:64], game.pair_items[:64]
    neg = game.sample_for_discriminator()[:64]
    g_before, d_before = _params(model.generator_mf), _params(model.discriminator_mf)
    loss, _, _ = game.discriminator_loss(users, pos, neg)
    game.discriminator.update(loss, epoch=0)
    after, _, _ = game.discriminator_loss(users, pos, neg)
    assert after.item() < loss.item()
    assert any(_changed(d_before, model.discriminator_mf))
    assert not any(_changed(g_before, model.generator_mf))


def _expected_reward(model, users):
    """E_{j ~ p_θ(·|u)}[2(σ(f(u, j)) - ½)], averaged over users: what the policy gradient ascends."""
    with torch.no_grad():
        prob = torch.softmax(model.generator_mf.full_scores(users) / 0.2, dim=1)
        reward = 2 * (torch.sigmoid(model.discriminator_mf.full_scores(users)) - 0.5)
        return (prob * reward).sum(1).mean().item()


def test_generator_step_raises_the_expected_reward_and_changes_only_it(make_game):
    model, game = make_game("irgan", generator={"optimizer": {"lr": 5e-2}, "batch_size": 60})
    stats = RunningMeans()
    for epoch in range(5):  # a discriminator with an opinion
        game.discriminator_pass(epoch, stats, RNGS["sampler"])
    users = game.users
    g_before, d_before = _params(model.generator_mf), _params(model.discriminator_mf)
    before = _expected_reward(model, users)
    loss, _ = game.generator_loss(users)
    game.generator.update(loss, epoch=0)
    assert _expected_reward(model, users) > before
    assert any(_changed(g_before, model.generator_mf))
    assert not any(_changed(d_before, model.discriminator_mf))


def test_policy_gradient_is_unbiased_under_importance_sampling(make_game):
    """The importance-weighted sampled gradient matches the exact gradient of E_{p_θ}[R] on average."""
    model, game = make_game("irgan")
    with torch.no_grad():
        model.discriminator_mf.item_bias.copy_(torch.linspace(-2, 2, model.n_items))
    users = game.users[:3]
    bias = model.generator_mf.item_bias

    def exact():
        prob = torch.softmax(model.generator_mf.full_scores(users) / 0.2, dim=1)
        reward = 2 * (torch.sigmoid(model.discriminator_mf.full_scores(users)) - 0.5)
        return -(prob * reward.detach()).sum(1).mean()

    (exact_grad,) = torch.autograd.grad(exact(), bias)
    grads = []
    for _ in range(400):
        loss, _ = game.generator_loss(users)
        grads.append(torch.autograd.grad(loss, bias)[0])
    estimate = torch.stack(grads).mean(0)
    cosine = torch.nn.functional.cosine_similarity(estimate, exact_grad, dim=0)
    assert cosine > 0.9


@pytest.mark.parametrize("player", ["generator", "discriminator"])
def test_either_player_recommends(make_game, player):
    model, _ = make_game("irgan", recommend_with=player)
    users = torch.tensor([0, 1])
    mf = model.generator_mf if player == "generator" else model.discriminator_mf
    assert torch.equal(model.full_scores(users), mf.full_scores(users))


def test_pretraining_is_bpr_and_improves_the_generator(make_game):
    model, game = make_game("irgan", generator={"pretrain_epochs": 5, "optimizer": {"lr": 5e-2}})
    logs = [game.run_epoch(e, RNGS) for e in range(5)]
    assert all(log["phase"] == "pretrain_generator" for log in logs)
    assert logs[-1]["g_loss"] < logs[0]["g_loss"] < 0.7  # BPR starts at log 2 ≈ 0.693


@pytest.mark.parametrize("player", ["generator", "discriminator"])
def test_deltas_move_the_recommending_players_embeddings(make_game, player):
    model, _ = make_game("irgan", recommend_with=player)
    mf = model.generator_mf if player == "generator" else model.discriminator_mf
    tables = model.embedding_tables()
    assert tables["user"] is mf.user_embedding.weight
    assert tables["item"] is mf.item_embedding.weight
    gen = torch.Generator().manual_seed(0)
    deltas = {name: 0.1 * torch.randn(t.shape, generator=gen) for name, t in tables.items()}
    users = torch.tensor([0, 2, 4])
    with torch.no_grad():
        p = mf.user_embedding.weight + deltas["user"]
        q = mf.item_embedding.weight + deltas["item"]
        expected = p[users] @ q.T + mf.item_bias
        assert torch.allclose(model.full_scores(users, deltas), expected, atol=1e-6)
        items = torch.tensor([[1, 5], [0, 7], [3, 3]])
        assert torch.allclose(model.score(users, items, deltas), expected.gather(1, items), atol=1e-6)
