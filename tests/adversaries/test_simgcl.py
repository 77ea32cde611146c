"""SimGCL / XSimGCL: InfoNCE by hand, the noise's shape, reductions at ε = 0, training steps, config, state.

Definitions under test (``advrec.train.adversaries.simgcl``): noisy layer
E_k' = E_k + ε · sign(E_k) ⊙ unit(U);
SimGCL loss = objective(clean) + λ · (InfoNCE_u + InfoNCE_i) between two noisy propagations (mean of
layers 1..K); XSimGCL loss = objective(noisy final) + λ · InfoNCE(noisy final, noisy layer l*).
"""

import json
import math

import pytest
import torch

from advrec.data.graph import symmetric_matmul
from advrec.errors import AdvrecError, ConfigError
from advrec.models.lightgcn import mean_of_layers
from advrec.objectives.pairwise import build_objective
from advrec.runs.config import parse_config
from advrec.runs.train import train_run
from advrec.train.adversaries.simgcl import SimGCLHook, XSimGCLHook, info_nce


def _simgcl(eps=0.1, weight=0.5, temperature=0.2, seed=0):
    return SimGCLHook(eps, weight, temperature, torch.Generator().manual_seed(seed))


def _xsimgcl(eps=0.2, weight=0.2, temperature=0.15, l2=0.0, seed=0):
    objective = build_objective("bpr", l2)
    return objective, XSimGCLHook(objective, eps, weight, temperature, 1, torch.Generator().manual_seed(seed))


def test_info_nce_matches_a_hand_computation():
    v1 = torch.tensor([[3.0, 0.0], [0.0, 2.0]])  # normalised: e1, e2
    v2 = torch.tensor([[1.0, 1.0], [0.0, 5.0]])  # normalised: (1, 1)/√2, e2
    tau = 0.5
    c = 1 / math.sqrt(2)
    # Row 0: similarities (c, 0) / τ, positive c / τ; row 1: (c, 1) / τ, positive 1 / τ.
    row0 = -math.log(math.exp(c / tau) / (math.exp(c / tau) + math.exp(0.0)))
    row1 = -math.log(math.exp(1 / tau) / (math.exp(c / tau) + math.exp(1 / tau)))
    assert info_nce(v1, v2, tau).item() == pytest.approx((row0 + row1) / 2, rel=1e-6)


def test_noise_has_norm_eps_per_row_and_the_embeddings_signs(make_model):
    model = make_model("lightgcn")
    hook = _simgcl(eps=0.3)
    with torch.no_grad():
        layers = hook.noisy_layers(model)
        assert len(layers) == model.n_layers + 1
        assert torch.equal(layers[0], torch.cat([model.user_embedding.weight, model.item_embedding.weight]))
        for k in range(1, len(layers)):
            clean = symmetric_matmul(model.adjacency, layers[k - 1])  # E_k from the noisy E_{k-1}'
            noise = layers[k] - clean
            rows = clean.ne(0).all(1)  # sign(0) = 0: rows with a zero entry are not a full-norm case
            assert rows.sum() > 0.9 * len(rows)
            norms = torch.linalg.vector_norm(noise[rows], dim=1)
            assert torch.allclose(norms, torch.full_like(norms, 0.3), atol=1e-5)
            assert torch.equal(torch.sign(noise[rows]), torch.sign(clean[rows]))


def test_zero_eps_views_are_the_clean_layers_and_simgcl_adds_the_deterministic_infonce(make_model, batch):
    model = make_model("lightgcn")
    objective = build_objective("bpr", 1e-3)
    hook = _simgcl(eps=0.0, weight=0.5, temperature=0.2)
    clean_layers = model.propagate_layers()
    users_view, items_view = hook.views(model)
    users_clean, items_clean = model.split(mean_of_layers(clean_layers[1:]))
    assert torch.equal(users_view, users_clean) and torch.equal(items_view, items_clean)
    u, i = torch.unique(batch["users"]), torch.unique(batch["pos"])
    expected_cl = info_nce(users_clean[u], users_clean[u], 0.2)
    expected_cl = expected_cl + info_nce(items_clean[i], items_clean[i], 0.2)
    plain = objective(model, batch)
    hook.on_epoch_start(0)
    assert torch.allclose(hook.on_loss(model, batch, plain), plain + 0.5 * expected_cl, atol=0, rtol=1e-6)
    log = {}
    hook.on_epoch_end(0, log)
    assert log["cl_loss"] == pytest.approx(expected_cl.item(), rel=1e-6)


def test_xsimgcl_with_zero_eps_and_weight_is_exactly_the_plain_lightgcn_objective(make_model, batch):
    model = make_model("lightgcn")
    objective, hook = _xsimgcl(eps=0.0, weight=0.0, l2=1e-3)
    assert torch.equal(hook.batch_loss(model, batch), objective(model, batch))
    # With noise the loss differs, and with weight 0 it is the objective on the noisy propagation.
    _, noisy = _xsimgcl(eps=0.2, weight=0.0, l2=1e-3)
    assert not torch.equal(noisy.batch_loss(model, batch), objective(model, batch))


@pytest.mark.parametrize("method", ["simgcl", "xsimgcl"])
def test_training_steps_change_parameters_and_lower_the_loss(method, make_model, batch):
    model = make_model("lightgcn").train()
    objective = build_objective("bpr", 1e-4)
    if method == "simgcl":
        hook = _simgcl()

        def loss_fn():
            return hook.on_loss(model, batch, objective(model, batch))
    else:
        objective, hook = _xsimgcl(l2=1e-4)

        def loss_fn():
            return hook.batch_loss(model, batch)

    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(8):
        loss = loss_fn()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    for key, value in model.named_parameters():
        assert not torch.equal(value, before[key]), key
    assert losses[-1] < losses[0]


def test_generator_state_round_trips(make_model):
    model = make_model("lightgcn")
    one, two = _simgcl(seed=5), _simgcl(seed=99)
    one.noisy_layers(model)
    two.load_state_dict(one.state_dict())
    a, b = one.views(model), two.views(model)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    _, x1 = _xsimgcl(seed=1)
    _, x2 = _xsimgcl(seed=2)
    x2.load_state_dict(x1.state_dict())
    assert [torch.equal(p, q) for p, q in zip(x1.noisy_layers(model), x2.noisy_layers(model))] == [True] * 3


SMALL = {
    "seed": 7,
    "data": {"synthetic": {"n_users": 80, "n_items": 100, "interactions_per_user": 12}},
    "model": {"name": "lightgcn", "dim": 8},
    "train": {"epochs": 4, "batch_size": 256, "patience": 50, "l2": 1e-4, "optimizer": {"lr": 0.01}},
    "eval": {"ks": [5, 10], "metrics": ["ndcg", "hit"]},
    "adversary": {"name": "simgcl"},
}


def _config(model=None, **adversary):
    raw = json.loads(json.dumps(SMALL))
    raw["adversary"].update(adversary)
    raw["model"].update(model or {})
    return parse_config(raw)


def test_paper_defaults_per_method_and_config_errors(adversary_of):
    simgcl = _config().adversary
    assert (simgcl.cl_eps, simgcl.cl_weight, simgcl.cl_temperature) == (0.1, 0.5, 0.2)
    x = _config(name="xsimgcl", cl_eps=0.05).adversary
    assert (x.cl_eps, x.cl_weight, x.cl_temperature, x.cl_layer) == (0.05, 0.2, 0.15, 1)
    objective = build_objective("bpr", 0.0)
    for name in ("simgcl", "xsimgcl"):
        for model in ("mf", "neumf"):
            with pytest.raises(ConfigError, match=f"adversary.name: {name} .*lightgcn.*got a"):
                adversary_of(_config(model={"name": model}, name=name), objective)
        with pytest.raises(ConfigError, match="n_layers"):
            adversary_of(_config(model={"n_layers": 0}, name=name), objective)
        with pytest.raises(ConfigError, match="does not support distributed"):
            adversary_of(_config(name=name), objective, world_size=2)
    with pytest.raises(ConfigError, match="adversary.cl_layer: 3 > model.n_layers"):
        adversary_of(_config(name="xsimgcl", cl_layer=3), objective)
    with pytest.raises(ConfigError, match="adversary.cl_temperature"):
        _config(cl_temperature=0)
    # APR's and XSimGCL's keys are not SimGCL's: the config cannot be written
    for key, value in (
        ("cl_layer", 1),
        ("min_adv_epochs", 3),
        ("universal_step", 0.5),
        ("random_start", True),
    ):
        with pytest.raises(ConfigError, match=f"unknown key 'adversary.{key}'.*cl_eps"):
            _config(**{key: value})
    assert isinstance(adversary_of(_config(), objective)[0], SimGCLHook)
    assert isinstance(adversary_of(_config(name="xsimgcl"), objective)[0], XSimGCLHook)


@pytest.mark.parametrize("name", ["simgcl", "xsimgcl"])
def test_killed_and_resumed_run_matches_uninterrupted(name, resumes_exactly):
    full_log, part_log = resumes_exactly(_config(name=name))
    assert [(x["loss"], x["cl_loss"]) for x in full_log] == [(x["loss"], x["cl_loss"]) for x in part_log]


def test_at_most_one_hook_may_replace_the_objective(tmp_path):
    cfg = _config(name="xsimgcl")
    extra = XSimGCLHook(build_objective("bpr", 0.0), 0.2, 0.2, 0.15)
    with pytest.raises(AdvrecError, match="2 hooks replace the objective's loss"):
        train_run(cfg, tmp_path / "two", hooks=[extra], show_progress=False)
