"""Divergence inside the numba kernels surfaces as TrainingDiverged (one line, exit 2), never as a
ZeroDivisionError from inside a kernel, and the kernels' updates stop before a bad batch is applied."""

import math

import numpy as np
import pytest
import torch

from advrec.errors import TrainingDiverged


@pytest.mark.parametrize(
    "overrides",
    [
        ["train.optimizer.name=sgd", "train.optimizer.lr=1e6"],  # the fused step's kernel
        ["model.init_std=1e20"],
        ["model.init_std=1e30", "train.optimizer.name=sgd"],
        ["model.init_std=1e20", "train.optimizer.name=adagrad"],
        ["train.optimizer.name=sgd", "train.optimizer.lr=1e6", "train.kernel=fused_epoch"],
        ["train.optimizer.name=sparse_adam", "train.optimizer.lr=1e6"],
        ["train.optimizer.name=sgd", "train.optimizer.lr=1e30", "train.kernel=fused_epoch"],
    ],
)
def test_a_diverging_kernel_run_is_one_line_exit_2(tmp_path, cli, base_yaml, overrides):
    """Before: SGD lr 1e6 (or init_std 1e20+, or lr .inf, which the config now refuses) ended in a
    ZeroDivisionError traceback raised inside the fused kernel."""
    sets = [a for o in overrides for a in ("--set", o)]
    result = cli("train", base_yaml, "--out", tmp_path / "run", "--quiet", *sets)
    assert result.code == 2
    line = result.error_line()
    assert "training loss" in line and "training stopped: no checkpoint had been written yet" in line


def _tiny_mf(n_users=6, n_items=9, dim=4, scale=0.1):
    from advrec.models.mf import MF

    torch.manual_seed(0)
    model = MF(n_users, n_items, dim, init_std=scale)
    return model


def test_fused_step_kernel_returns_nan_on_a_non_finite_score():
    from advrec.train.fused import _compiled_kernel

    kernel = _compiled_kernel()
    P = np.ones((3, 4), dtype=np.float32)
    Q = np.ones((5, 4), dtype=np.float32)
    P[1, 2] = np.inf
    users, pos, neg = np.array([0, 1]), np.array([1, 2]), np.array([[3], [4]])
    grads = np.zeros_like(P), np.zeros_like(Q)
    assert math.isnan(kernel(P, Q, users, pos, neg, 0.0, *grads))
    P[1, 2] = np.nan
    assert math.isnan(kernel(P, Q, users, pos, neg, 0.01, *grads))


def _fused_epoch(model, lr, name="sgd", max_growth=1e4, batch_size=4):
    from advrec.data.interactions import Interactions
    from advrec.data.sampler import NegativeSampler
    from advrec.objectives.pairwise import build_objective
    from advrec.train.config import TrainConfig
    from advrec.train.fused_epoch import build_fused_epoch
    from advrec.train.optim import build_optimizer

    users = np.repeat(np.arange(6), 3)
    items = (users * 2 + np.tile(np.arange(3), 6)) % 9
    train = Interactions.from_raw(users, items, None, None)
    cfg = TrainConfig.model_validate(
        {
            "kernel": "fused_epoch",
            "optimizer": {"name": name, "lr": lr},
            "batch_size": batch_size,
            "max_loss_growth": max_growth,
        }
    )
    optimizer = build_optimizer(model.parameters(), cfg.optimizer)
    return build_fused_epoch(
        cfg,
        model,
        build_objective("bpr", 0.0),
        optimizer,
        NegativeSampler(train, 1),
        [],
        False,
        torch.device("cpu"),
    )


def test_fused_epoch_stops_before_applying_a_non_finite_batch():
    model = _tiny_mf()
    with torch.no_grad():
        model.user_embedding.weight[:, 0] = float("inf")  # every batch has a non-finite score
    before = {k: v.clone() for k, v in model.state_dict().items()}
    epoch = _fused_epoch(model, lr=0.01)
    with pytest.raises(TrainingDiverged, match=r"the training loss became nan in batch 1 of 5"):
        epoch.run(np.random.default_rng(0))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # no row moved: batch 1 was refused
    assert not epoch._gP.any() and not epoch._gQ.any() and not epoch._seenP.any() and not epoch._seenQ.any()


def test_fused_epoch_stops_an_exploding_loss_at_the_batch_it_explodes():
    model = _tiny_mf()
    epoch = _fused_epoch(model, lr=1e6, max_growth=100.0)
    with pytest.raises(TrainingDiverged, match=r"grew to .* more than train.max_loss_growth \(100\) times"):
        epoch.run(np.random.default_rng(0))
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_fused_epoch_without_a_growth_bound_still_stops_on_non_finite(tmp_path):
    model = _tiny_mf(scale=1e30)
    epoch = _fused_epoch(model, lr=1.0, max_growth=None)
    with pytest.raises(TrainingDiverged, match="became (inf|nan)"):
        epoch.run(np.random.default_rng(0))


# the trainer-level guards (exploding loss, naming only checkpoints that exist) are regression tests of
# defect 7 as well; they pass since the trainer's guarded step


def test_adam_lr_1e6_stops_as_diverged_instead_of_training_on(tmp_path, cli, base_yaml):
    """Before: Adam lr 1e6 trained 15 epochs at loss ~5e12 with exit 0 and no warning."""
    result = cli("train", base_yaml, "--out", tmp_path / "r", "--quiet", "--set", "train.optimizer.lr=1e6")
    assert result.code == 2 and "more than train.max_loss_growth" in result.error_line()


@pytest.mark.parametrize("sets", [["train.optimizer.lr=1e30"], ["adversary.name=apr", "adversary.eps=1e30"]])
def test_divergence_names_only_checkpoints_that_exist(tmp_path, cli, base_yaml, sets):
    """Before: 'last good checkpoint kept' where no checkpoints folder existed."""
    run = tmp_path / "r"
    result = cli("train", base_yaml, "--out", run, "--quiet", *[a for s in sets for a in ("--set", s)])
    line = result.error_line()
    assert result.code == 2 and "no checkpoint had been written yet" in line
    assert not (run / "checkpoints" / "last.pt").exists()
