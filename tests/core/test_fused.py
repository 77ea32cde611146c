"""The fused BPR-MF kernel computes exactly the autograd loss and gradients, and is used only where exact."""

import json

import numpy as np
import pytest
import torch

from advrec.errors import ConfigError
from advrec.models.mf import MF
from advrec.models.neumf import NeuMF
from advrec.objectives.pairwise import build_objective
from advrec.runs.config import parse_config
from advrec.runs.train import train_run
from advrec.train.fused import _bpr_mf_kernel_py, _compiled_kernel, build_fused_step, why_not_fused
from advrec.train.hooks import TrainHook

CPU = torch.device("cpu")


def _model_and_batch(n_neg: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    model = MF(7, 9, dim=5, init_std=0.5, generator=gen)
    rows = 40  # many rows over few users/items: repeated rows must accumulate, not overwrite
    batch = {
        "users": torch.randint(0, 7, (rows,), generator=gen),
        "pos": torch.randint(0, 9, (rows,), generator=gen),
        "neg": torch.randint(0, 9, (rows, n_neg), generator=gen),
    }
    return model, batch


def _autograd(model, batch, l2):
    model.zero_grad(set_to_none=True)
    loss = build_objective("bpr", l2)(model, batch)
    loss.backward()
    grads = model.user_embedding.weight.grad.clone(), model.item_embedding.weight.grad.clone()
    return float(loss.detach()), *grads


@pytest.mark.parametrize("kernel_name", ["python", "numba"])
@pytest.mark.parametrize("n_neg", [1, 3])
@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_kernel_matches_autograd_loss_and_gradients(kernel_name, n_neg, l2):
    kernel = _bpr_mf_kernel_py if kernel_name == "python" else _compiled_kernel()
    if kernel is None:
        pytest.skip("numba is not installed")
    model, batch = _model_and_batch(n_neg)
    want_loss, want_gp, want_gq = _autograd(model, batch, l2)
    gp = np.zeros_like(want_gp.numpy())
    gq = np.zeros_like(want_gq.numpy())
    loss = kernel(
        model.user_embedding.weight.detach().numpy(),
        model.item_embedding.weight.detach().numpy(),
        batch["users"].numpy(),
        batch["pos"].numpy(),
        batch["neg"].numpy(),
        l2,
        gp,
        gq,
    )
    assert loss == pytest.approx(want_loss, rel=1e-6)
    np.testing.assert_allclose(gp, want_gp.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(gq, want_gq.numpy(), rtol=1e-5, atol=1e-7)
    assert np.abs(gq).sum() > 0  # not vacuous


def test_kernel_is_stable_at_extreme_scores():
    P = np.array([[100.0], [-100.0]], dtype=np.float32)
    Q = np.array([[100.0], [-100.0]], dtype=np.float32)
    users, pos, neg = np.array([0, 1]), np.array([0, 0]), np.array([[1], [1]])
    gp, gq = np.zeros_like(P), np.zeros_like(Q)
    # row 0: x = 100 * 200 (well ranked, ~0 loss); row 1: x = -100 * 200 (loss 20000, gradient -1/2)
    loss = _bpr_mf_kernel_py(P, Q, users, pos, neg, 0.0, gp, gq)
    assert loss == pytest.approx(20000.0 / 2)
    assert gp[1, 0] == pytest.approx(-0.5 * 200.0)
    assert np.isfinite(gp).all() and np.isfinite(gq).all()


def test_fused_step_fills_grads_like_autograd():
    if _compiled_kernel() is None:
        pytest.skip("numba is not installed")
    model, batch = _model_and_batch(2)
    _, want_gp, want_gq = _autograd(model, batch, 0.01)
    step = build_fused_step("fused", model, build_objective("bpr", 0.01), [], False, CPU)
    model.zero_grad(set_to_none=True)
    step(batch)
    torch.testing.assert_close(model.user_embedding.weight.grad, want_gp)
    torch.testing.assert_close(model.item_embedding.weight.grad, want_gq)


class _AddsToLoss(TrainHook):
    def on_loss(self, model, batch, loss):
        return loss * 2


class _OwnLoss(TrainHook):
    def batch_loss(self, model, batch):
        return None


class _InputNoise(TrainHook):
    def input_deltas(self, model, batch):
        return None


def test_used_only_where_exact():
    model, _ = _model_and_batch(1)
    bpr = build_objective("bpr", 0.0)
    assert why_not_fused(model, bpr, [], False, CPU) == ""
    assert "NeuMF" in why_not_fused(NeuMF(3, 4, 4, [4]), bpr, [], False, CPU)
    assert "not BPR" in why_not_fused(model, build_objective("bce", 0.0), [], False, CPU)
    adversary = [_AddsToLoss()]
    assert "_AddsToLoss adds to the loss" in why_not_fused(model, bpr, adversary, False, CPU)
    assert why_not_fused(model, bpr, [TrainHook()], False, CPU) == ""  # a monitor keeps the kernel
    assert "_OwnLoss" in why_not_fused(model, bpr, [_OwnLoss()], False, CPU)
    assert "_InputNoise" in why_not_fused(model, bpr, [_InputNoise()], False, CPU)
    assert "DDP" in why_not_fused(model, bpr, [], True, CPU)
    assert build_fused_step("auto", model, bpr, adversary, False, CPU) is None
    assert build_fused_step("autograd", model, bpr, [], False, CPU) is None
    with pytest.raises(ConfigError, match="train.kernel.*adds to the loss"):
        build_fused_step("fused", model, bpr, adversary, False, CPU)


def test_fused_and_autograd_runs_agree(tmp_path):
    if _compiled_kernel() is None:
        pytest.skip("numba is not installed")
    raw = {
        "seed": 3,
        "data": {"synthetic": {"n_users": 80, "n_items": 100, "interactions_per_user": 12}},
        "model": {"dim": 8, "init_std": 0.1},
        "train": {"epochs": 3, "batch_size": 128, "patience": 50, "l2": 1e-3, "optimizer": {"lr": 0.01}},
        "eval": {"ks": [10], "metrics": ["ndcg", "recall"]},
    }
    results = {}
    for mode in ["fused", "autograd"]:
        cfg = parse_config(json.loads(json.dumps(raw)) | {"train": raw["train"] | {"kernel": mode}})
        results[mode] = train_run(cfg, tmp_path / mode, show_progress=False)
    # float32 rounding differs (summation order), so close, not bit-identical
    for key in ["ndcg@10", "recall@10"]:
        assert results["fused"]["test"][key] == pytest.approx(results["autograd"]["test"][key], abs=1e-4)
    losses = {
        mode: [json.loads(line)["loss"] for line in (tmp_path / mode / "metrics.jsonl").open()]
        for mode in results
    }
    np.testing.assert_allclose(losses["fused"], losses["autograd"], rtol=1e-5)
