"""A player's guarded update, and the game's phases, D:G ratio and per-player schedules."""

import numpy as np
import pytest
import torch
from torch import nn

from advrec.config.optim import ScheduleConfig
from advrec.errors import TrainingDiverged
from advrec.train.gan.players import Player
from advrec.train.optim import LRSchedule


def _player(lr=1.0, clip=None):
    module = nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        module.weight.fill_(1.0)
    opt = torch.optim.SGD(module.parameters(), lr=lr)
    return Player("generator", module, opt, LRSchedule(opt, ScheduleConfig(), 10), clip)


def test_update_returns_the_gradient_norm_and_steps():
    player = _player(lr=0.1)
    x = torch.tensor([[3.0, 4.0, 0.0]])
    norm = player.update(player.module(x).sum(), epoch=0)
    assert norm == pytest.approx(5.0)  # d/dw (w·x) = x
    assert torch.allclose(player.module.weight, torch.tensor([[0.7, 0.6, 1.0]]))


def test_gradient_clipping_bounds_the_step_but_reports_the_raw_norm():
    player = _player(lr=1.0, clip=0.5)
    norm = player.update(player.module(torch.tensor([[3.0, 4.0, 0.0]])).sum(), epoch=0)
    assert norm == pytest.approx(5.0)
    step = torch.linalg.vector_norm(player.module.weight - 1.0)
    assert step.item() == pytest.approx(0.5, rel=1e-5)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_loss_stops_before_touching_the_parameters(bad):
    player = _player()
    loss = player.module(torch.ones(1, 3)).sum() * bad
    with pytest.raises(TrainingDiverged, match="epoch 4: the generator loss became"):
        player.update(loss, epoch=4)
    assert torch.equal(player.module.weight, torch.ones(1, 3))


def _steps(player: Player) -> int:
    states = [s for s in player.optimizer.state.values() if "step" in s]
    return int(states[0]["step"]) if states else 0


def test_phases_and_step_ratio(make_game):
    model, game = make_game(
        "cfgan",
        generator={"pretrain_epochs": 1, "steps": 3},
        discriminator={"pretrain_epochs": 2, "steps": 2},
    )
    rngs = {"sampler": np.random.default_rng(0)}
    n_rows = len(game.rows)
    g_per_pass, d_per_pass = -(-n_rows // game.g_batch), -(-n_rows // game.d_batch)
    expected = [
        ("pretrain_generator", 3 * g_per_pass, 0),
        ("pretrain_discriminator", 3 * g_per_pass, 2 * d_per_pass),
        ("pretrain_discriminator", 3 * g_per_pass, 4 * d_per_pass),
        ("adversarial", 6 * g_per_pass, 6 * d_per_pass),
    ]
    for epoch, (phase, g_steps, d_steps) in enumerate(expected):
        log = game.run_epoch(epoch, rngs)
        assert log["phase"] == phase
        assert (_steps(game.generator), _steps(game.discriminator)) == (g_steps, d_steps)
        assert game.counts_for_selection(epoch) == (phase == "adversarial")
    assert {"d_loss", "d_real", "d_fake", "g_loss", "g_grad_norm", "d_grad_norm"} <= set(log)
    assert {"g_top10_coverage", "g_top10_entropy"} <= set(log)


def test_each_player_follows_its_own_learning_rate_schedule(make_game):
    model, game = make_game(
        "cfgan",
        generator={"optimizer": {"lr": 1e-3}, "schedule": {"name": "step", "step_size": 1, "gamma": 0.5}},
        discriminator={"optimizer": {"lr": 4e-3}, "schedule": {"name": "constant", "warmup_epochs": 1}},
    )
    rngs = {"sampler": np.random.default_rng(0)}
    logs = [game.run_epoch(e, rngs) for e in range(3)]
    assert [log["lr_g"] for log in logs] == pytest.approx([1e-3, 5e-4, 2.5e-4])
    assert [log["lr_d"] for log in logs] == pytest.approx([2e-3, 4e-3, 4e-3])  # two time scales
