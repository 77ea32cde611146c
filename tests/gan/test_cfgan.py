"""CFGAN: the negative-set sampler, the networks, one step of each player, and the ablation."""

import numpy as np
import pytest
import torch

from advrec.train.gan.cfgan import sample_negatives
from advrec.train.gan.monitor import RunningMeans

RNGS = {"sampler": np.random.default_rng(0)}


def test_sample_negatives_exact_share_of_negatives_never_a_positive():
    gen = torch.Generator().manual_seed(0)
    real = (torch.rand(50, 40, generator=gen) < 0.2).float()
    n_neg = (real == 0).sum(1)
    for ratio in [0.0, 0.3, 0.7, 1.0]:
        mask = sample_negatives(real, ratio, gen)
        assert torch.equal(mask.sum(1).long(), torch.floor(ratio * n_neg).long())
        assert (mask * real).sum() == 0
    # Uniform: over many draws every negative of a row is picked about ratio of the time.
    row = torch.zeros(1, 10)
    row[0, :2] = 1
    freq = sum(sample_negatives(row, 0.5, gen) for _ in range(2000)) / 2000
    assert torch.all(freq[0, :2] == 0)
    assert torch.allclose(freq[0, 2:], torch.full((8,), 0.5), atol=0.05)


@pytest.mark.parametrize("variant", ["user", "item"])
def test_variants_score_users_by_items(make_game, train, variant):
    model, _ = make_game("cfgan", variant=variant)
    scores = model.user_item_scores()
    assert scores.shape == (train.n_users, train.n_items)
    rows = torch.arange(model.purchases.shape[0])
    direct = model.generate(rows)
    assert torch.equal(scores, direct if variant == "user" else direct.T)
    users = torch.tensor([0, 5, 7])
    assert torch.allclose(model.full_scores(users), scores[users], atol=1e-6)
    assert torch.equal(model.scorer()(users), scores[users])
    # The condition is the row's real vector: the training matrix, users x items or items x users.
    dense = torch.from_numpy(train.csr().toarray() > 0).float()
    assert torch.equal(model.purchases, dense if variant == "user" else dense.T)


def test_generator_output_is_linear_as_the_authors_or_a_sigmoid(make_game):
    linear, _ = make_game("cfgan")
    assert linear.g_output == "linear"  # the authors' code: no activation on the output layer
    with torch.no_grad():
        linear.generator_net[-1].bias.fill_(3.0)  # logits far above 0: a sigmoid would stay below 1
        rows = torch.arange(6)
        raw = linear.generator_net(linear.purchases[rows])
        assert torch.equal(linear.generate(rows), raw)
        assert linear.generate(rows).max() > 1.0
    squashed, _ = make_game("cfgan", g_output="sigmoid")
    with torch.no_grad():
        raw = squashed.generator_net(squashed.purchases[rows])
        assert torch.equal(squashed.generate(rows), torch.sigmoid(raw))


def test_cfgan_defaults_to_the_authors_non_saturating_generator_loss():
    from advrec.runs.config import parse_config

    config = parse_config({"model": {"name": "cfgan"}})
    assert config.model.loss == "non_saturating"
    assert config.model.g_output == "linear"


def test_noise_input_makes_the_generator_stochastic(make_game):
    model, _ = make_game("cfgan", noise_dim=8)
    rows = torch.arange(5)
    a, b = model.generate(rows, torch.randn(5, 8)), model.generate(rows, torch.randn(5, 8))
    assert not torch.allclose(a, b)
    assert torch.equal(model.generate(rows), model.generate(rows, torch.zeros(5, 8)))  # scoring: z = 0
    plain, _ = make_game("cfgan")
    assert plain.generator_net[0].in_features == plain.purchases.shape[1]
    assert model.generator_net[0].in_features == plain.purchases.shape[1] + 8


def _params(module):
    return [p.detach().clone() for p in module.parameters()]


def _changed(before, module):
    return [not torch.equal(b, p) for b, p in zip(before, module.parameters())]


def test_discriminator_step_changes_only_it_and_lowers_its_loss_on_a_fixed_batch(make_game):
    model, game = make_game("cfgan", discriminator={"optimizer": {"lr": 1e-3}})
    rows = game.rows[:32]
    g_before, d_before = _params(model.generator_net), _params(model.discriminator_net)
    state = game.gen.get_state()
    loss, _, _ = game.discriminator_loss(rows)
    game.discriminator.update(loss, epoch=0)
    game.gen.set_state(state)  # the same noise and PM sets: the same batch
    after, _, _ = game.discriminator_loss(rows)
    assert after.item() < loss.item()
    assert all(_changed(d_before, model.discriminator_net))
    assert not any(_changed(g_before, model.generator_net))


@pytest.mark.parametrize("adversarial", [True, False])
def test_generator_step_changes_only_it_and_lowers_its_loss_on_a_fixed_batch(make_game, adversarial):
    model, game = make_game("cfgan", generator={"optimizer": {"lr": 1e-3}}, noise_dim=4)
    rows = game.rows[:16]
    g_before, d_before = _params(model.generator_net), _params(model.discriminator_net)
    state = game.gen.get_state()
    loss, _, _ = game.generator_loss(rows, adversarial)
    game.generator.update(loss, epoch=0)
    game.gen.set_state(state)
    after, _, _ = game.generator_loss(rows, adversarial)
    assert after.item() < loss.item()
    assert any(_changed(g_before, model.generator_net))
    assert not any(_changed(d_before, model.discriminator_net))
    assert all(
        p.grad is None for p in model.discriminator_net.parameters()
    )  # never computed, not just unused


def test_zr_term_is_alpha_times_squared_outputs_on_the_zr_set(make_game):
    model, game = make_game("cfgan", scheme="zr", zr_ratio=1.0, zr_coefficient=0.5)
    rows = game.rows[:4]
    _, main, zr = game.generator_loss(rows, adversarial=False)
    generated, real = model.generate(rows), model.purchases[rows]
    # ZR ratio 1: every negative is in the ZR set; no PM, so the reconstruction sees the positives only.
    assert zr.item() == pytest.approx(0.5 * (generated.pow(2) * (1 - real)).sum(1).mean().item(), rel=1e-5)
    assert main.item() == pytest.approx(((generated * real - real).pow(2)).sum(1).mean().item(), rel=1e-5)


def test_discriminator_separates_real_from_generated_profiles(make_game):
    model, game = make_game("cfgan", discriminator={"optimizer": {"lr": 3e-3}})
    stats = RunningMeans()
    for epoch in range(2):  # a generator trained a little, by reconstruction
        game.pretrain_generator_pass(epoch, stats, RNGS["sampler"])
    for epoch in range(40):
        game.discriminator_pass(epoch, stats, RNGS["sampler"])
    with torch.no_grad():
        _, real, fake = game.discriminator_loss(game.rows)
    # AUC of "real" over "generated": every real profile against every generated one.
    auc = (real.unsqueeze(1) > fake.unsqueeze(0)).float().mean().item()
    assert auc > 0.95
    assert torch.sigmoid(real).mean() > torch.sigmoid(fake).mean() + 0.3


def test_ablation_never_trains_or_consults_the_discriminator(make_game):
    model, game = make_game("cfgan", use_discriminator=False)
    d_before = _params(model.discriminator_net)
    logs = [game.run_epoch(e, RNGS) for e in range(3)]
    assert not any(_changed(d_before, model.discriminator_net))
    assert all("d_loss" not in log and "g_adv" not in log for log in logs)
    assert logs[-1]["g_recon"] < logs[0]["g_recon"]


def test_wgan_gp_trains_the_critic(make_game):
    model, game = make_game("cfgan", loss="wgan_gp")
    logs = [game.run_epoch(e, RNGS) for e in range(3)]
    assert all(np.isfinite(log["d_loss"]) for log in logs)
    # The generator held fixed (a linear output moves fast at this lr), the critic's loss goes down.
    losses = []
    for epoch in range(3):
        stats = RunningMeans()
        game.discriminator_pass(epoch, stats, RNGS["sampler"])
        losses.append(stats.means()["d_loss"])
    assert losses[-1] < losses[0]


def test_negative_sets_are_drawn_once_per_epoch_and_shared_by_its_passes(make_game):
    model, game = make_game("cfgan", scheme="zp", zr_ratio=0.5, pm_ratio=0.3)
    seen = []
    original = game.generator_loss

    def spy(rows, adversarial):
        seen.append((game._pm_set.clone(), game._zr_set.clone()))
        return original(rows, adversarial)

    game.generator_loss = spy
    for epoch in range(2):
        game.run_epoch(epoch, RNGS)
    per_epoch = len(seen) // 2
    first, second = seen[:per_epoch], seen[per_epoch:]
    # One PM set and one ZR set per epoch, the same for every batch and pass of it; new the next epoch.
    assert all(torch.equal(pm, first[0][0]) and torch.equal(zr, first[0][1]) for pm, zr in first)
    assert all(torch.equal(pm, second[0][0]) for pm, _ in second)
    assert not torch.equal(first[0][0], second[0][0])
    n_neg = (model.purchases == 0).sum(1)
    assert torch.equal(first[0][0].sum(1).long(), torch.floor(0.3 * n_neg).long())
    assert torch.equal(first[0][1].sum(1).long(), torch.floor(0.5 * n_neg).long())


@pytest.mark.parametrize("variant", ["user", "item"])
def test_deltas_perturb_the_condition_input_and_the_output_vectors(make_game, variant):
    model, _ = make_game("cfgan", variant=variant, g_hidden=[8, 6])
    gen = torch.Generator().manual_seed(1)
    rows = torch.arange(model.purchases.shape[0])
    d_cond = 0.3 * torch.randn(model.purchases.shape, generator=gen)
    d_out = 0.3 * torch.randn(model.generator_net[-1].weight.shape, generator=gen)
    with torch.no_grad():
        # By hand: the network on the perturbed input, its last layer with the perturbed weight.
        hidden = model.generator_net[:-1](model.purchases + d_cond)
        last = model.generator_net[-1]
        expected = hidden @ (last.weight + d_out).T + last.bias
        got = model.generate(rows, deltas={"condition": d_cond, "output_embedding": d_out})
        assert torch.allclose(got, expected, atol=1e-5)
        users = torch.tensor([0, 3])
        full = model.full_scores(users, {"condition": d_cond, "output_embedding": d_out})
        by_rows = expected if variant == "user" else expected.T
        assert torch.allclose(full, by_rows[users], atol=1e-5)
