"""VAT and PamaCF: the per-user multipliers of ε checked by hand on a tiny MF, the radii of Δ they give
(user rows and item rows), the reduction to APR when every user is alike, one training step, the config
and the runs they refuse, and a killed run that resumes exactly.

Definitions under test (``advrec.train.adversaries.vat`` / ``pamacf``): m_u = λ · σ(x_u − 1), with
x_u = L̄ / L_u (VAT: L_u the user's pair loss in the batch, L̄ its mean over the batch's users) or
x_u = ||p_u||² / mean_j ||p_{u_j}||² (PamaCF: the mean over the batch's examples); a user row's radius is
ε · m_u, an item row's ε times the mean m of the examples it appears in.
"""

import math

import pytest
import torch

from advrec.errors import ConfigError
from advrec.models.mf import MF
from advrec.objectives.pairwise import build_objective
from advrec.perturb.builder import PerturbationBuilder
from advrec.perturb.perturbation import row_norms
from advrec.runs.config import parse_config
from advrec.train.adversaries.apr import APRHook
from advrec.train.adversaries.pamacf import PamaCFHook
from advrec.train.adversaries.registry import AdversaryContext, build_adversary
from advrec.train.adversaries.vat import VATHook

USERS = torch.tensor([[1.0, 0.5], [-0.5, 2.0], [0.3, -1.5]])
ITEMS = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.5], [0.5, 0.5]])
# user 0 twice; item 0 in examples 0 (pos) and 3 (neg), item 1 in 0 (neg) and 1 (pos), ...
BATCH = {
    "users": torch.tensor([0, 0, 1, 2]),
    "pos": torch.tensor([0, 1, 2, 3]),
    "neg": torch.tensor([[1], [2], [3], [0]]),
}


def _mf(users=USERS) -> MF:
    model = MF(3, 4, dim=2)
    with torch.no_grad():
        model.user_embedding.weight.copy_(users)
        model.item_embedding.weight.copy_(ITEMS)
    return model


def _hook(cls, eps=0.5, lam=2.0, **kw):
    builder = PerturbationBuilder("fgsm", eps, generator=torch.Generator().manual_seed(0))
    return cls(build_objective("bpr", 0.0), builder, 1.0, lam=lam, **kw)


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _bpr(u: int, i: int, j: int) -> float:
    diff = float(USERS[u] @ ITEMS[i] - USERS[u] @ ITEMS[j])
    return -math.log(_sigmoid(diff))


def _item_multipliers(m: list[float]) -> list[float]:
    """Mean multiplier of the examples each item appears in (see BATCH)."""
    return [(m[0] + m[2]) / 2, m[0], (m[0] + m[1]) / 2, (m[1] + m[2]) / 2]


@pytest.mark.parametrize("user_loss", ["mean", "sum"])
def test_vat_multipliers_follow_its_vulnerability_function(user_loss):
    losses = [_bpr(0, 0, 1), _bpr(0, 1, 2), _bpr(1, 2, 3), _bpr(2, 3, 0)]
    mine = losses[0] + losses[1]
    per_user = [mine / 2 if user_loss == "mean" else mine, losses[2], losses[3]]
    mean = sum(per_user) / 3
    expected = [1.5 * _sigmoid(mean / loss - 1) for loss in per_user]
    users, mult = _hook(VATHook, lam=1.5, user_loss=user_loss).user_multipliers(_mf(), BATCH)
    assert users.tolist() == [0, 1, 2]
    assert mult.tolist() == pytest.approx(expected, rel=1e-5)
    # the better the model fits a user (the lower its loss), the larger its perturbation
    order = sorted(range(3), key=lambda u: per_user[u])
    assert mult[order[0]] > mult[order[1]] > mult[order[2]]


def test_pamacf_multipliers_follow_the_embedding_scale():
    squared = [float(USERS[u].pow(2).sum()) for u in range(3)]  # 1.25, 4.25, 2.34
    mean = (2 * squared[0] + squared[1] + squared[2]) / 4  # over the examples: user 0 counts twice
    expected = [2 * _sigmoid(s / mean - 1) for s in squared]
    users, mult = _hook(PamaCFHook).user_multipliers(_mf(), BATCH)
    assert users.tolist() == [0, 1, 2]
    assert mult.tolist() == pytest.approx(expected, rel=1e-5)
    assert mult[1] > mult[2] > mult[0]  # longer embedding, larger perturbation
    # scaling one user's row up raises its multiplier and no one else's relative order
    longer = USERS.clone()
    longer[0] *= 3
    _, more = _hook(PamaCFHook).user_multipliers(_mf(longer), BATCH)
    assert more[0] > mult[0] and more[0] == more.max()


@pytest.mark.parametrize("cls", [VATHook, PamaCFHook])
def test_delta_rows_have_the_personal_radii(cls):
    model, eps = _mf(), 0.4
    hook = _hook(cls)
    _, m = hook.user_multipliers(model, BATCH)
    deltas = hook.adversarial_deltas(model, BATCH, eps)
    assert row_norms(deltas["user"]).squeeze(1).tolist() == pytest.approx((eps * m).tolist(), rel=1e-5)
    items = [eps * x for x in _item_multipliers(m.tolist())]
    assert row_norms(deltas["item"]).squeeze(1).tolist() == pytest.approx(items, rel=1e-5)


def test_every_user_alike_reduces_to_apr():
    # equal user norms: every PamaCF multiplier is λ · σ(0) = 1 at λ = 2, so Δ is APR's at the same ε
    alike = torch.nn.functional.normalize(USERS, dim=1) * 1.7
    model = _mf(alike)
    builder = PerturbationBuilder("fgsm", 0.3, generator=torch.Generator().manual_seed(0))
    apr = APRHook(build_objective("bpr", 0.0), builder, 1.0).adversarial_deltas(model, BATCH, 0.3)
    pamacf = _hook(PamaCFHook).adversarial_deltas(model, BATCH, 0.3)
    assert all(torch.allclose(apr[k], pamacf[k], atol=1e-6) for k in apr)


@pytest.mark.parametrize("name", ["vat", "pamacf"])
@pytest.mark.parametrize("model_name", ["mf", "neumf", "lightgcn"])
def test_one_step_changes_parameters_and_lowers_the_objective(name, model_name, make_model):
    model = make_model(model_name).train()
    objective = build_objective("bpr", 1e-4)
    settings = parse_config({"adversary": {"name": name, "eps": 0.1}}).adversary
    (hook,) = build_adversary(settings, AdversaryContext(model, objective, seed=0, epochs=5))
    gen = torch.Generator().manual_seed(1)
    batch = {
        "users": torch.randint(0, model.n_users, (32,), generator=gen),
        "pos": torch.randint(0, model.n_items, (32,), generator=gen),
        "neg": torch.randint(0, model.n_items, (32, 1), generator=gen),
    }
    hook.on_epoch_start(0)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    loss0 = hook.on_loss(model, batch, objective(model, batch))
    assert loss0 > objective(model, batch)  # the adversarial term is there
    opt.zero_grad()
    loss0.backward()
    opt.step()
    for key, value in model.named_parameters():
        if "embedding" in key or "gmf" in key or "mlp_" in key:
            assert not torch.equal(value, before[key]), key
    assert hook.on_loss(model, batch, objective(model, batch)).item() < loss0.item()


def test_settings_and_the_runs_they_refuse(adversary_of):
    vat = parse_config({"adversary": {"name": "vat"}}).adversary
    pamacf = parse_config({"adversary": {"name": "pamacf", "lam": 1.0}}).adversary
    assert (vat.eps, vat.lam, vat.user_loss, vat.reg_adv) == (0.6, 2.0, "mean", 1.0)
    assert (pamacf.eps, pamacf.lam) == (0.9, 1.0)
    with pytest.raises(ConfigError, match="unknown key 'adversary.user_loss'.*lam"):
        parse_config({"adversary": {"name": "pamacf", "user_loss": "sum"}})
    with pytest.raises(ConfigError, match="adversary.lam"):
        parse_config({"adversary": {"name": "vat", "lam": 0}})
    for key, value in (("universal_step", 0.5), ("full_data_every", 2), ("shared_forward", True)):
        with pytest.raises(ConfigError, match=f"unknown key 'adversary.{key}'.*lam"):  # APR's only
            parse_config({"adversary": {"name": "vat", key: value}})
    with pytest.raises(ConfigError, match="method 'worst_case' is for sequential models; pamacf"):
        parse_config({"adversary": {"name": "pamacf", "method": "worst_case"}})
    with pytest.raises(ConfigError, match="random_start: applies to method fgsm or pgd"):
        parse_config({"adversary": {"name": "vat", "method": "fgsm_sign", "random_start": True}})
    objective = build_objective("bpr", 0.0)
    with pytest.raises(ConfigError, match="adversary.name: pamacf: not under distributed training"):
        adversary_of(parse_config({"adversary": {"name": "pamacf"}}), objective, world_size=2)
    sasrec = {"name": "sasrec", "dim": 8, "n_heads": 1, "n_blocks": 1, "max_len": 5}
    with pytest.raises(ConfigError, match="adversary.name: vat needs a pairwise objective"):
        adversary_of(parse_config({"model": sasrec, "adversary": {"name": "vat"}}), object())
    with pytest.raises(
        ConfigError, match="adversary.name: pamacf needs a model that scores user ids.*SASRec"
    ):
        adversary_of(parse_config({"model": sasrec, "adversary": {"name": "pamacf"}}), objective)


SMALL = {
    "seed": 3,
    "data": {"synthetic": {"n_users": 60, "n_items": 80, "interactions_per_user": 10}},
    "model": {"name": "mf", "dim": 8},
    "train": {"epochs": 4, "batch_size": 128, "patience": 50, "optimizer": {"lr": 0.01}},
    "eval": {"ks": [5, 10], "metrics": ["ndcg"]},
}


@pytest.mark.parametrize("name", ["vat", "pamacf"])
def test_killed_and_resumed_run_matches_uninterrupted(name, resumes_exactly):
    cfg = parse_config({**SMALL, "adversary": {"name": name, "eps": 0.2, "start_epoch": 1}})
    log, part = resumes_exactly(cfg)
    assert [x["loss"] for x in log] == [x["loss"] for x in part]
    assert "adv_loss" not in log[0] and all(x["adv_loss"] > 0 and x["adv_eps"] == 0.2 for x in log[1:])
