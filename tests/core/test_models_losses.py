import math

import pytest
import torch

from advrec.data.config import SyntheticConfig
from advrec.data.interactions import Interactions
from advrec.data.synthetic import make_synthetic
from advrec.models.registry import MODELS, build_model
from advrec.objectives.losses import bce_loss, bpr_loss
from advrec.objectives.pairwise import build_objective


def _train() -> Interactions:
    raw = make_synthetic(SyntheticConfig(n_users=40, n_items=60, interactions_per_user=10))
    return Interactions.from_raw(raw.users, raw.items)


def test_bpr_loss_hand_value():
    pos = torch.tensor([2.0, 0.0])
    neg = torch.tensor([[1.0], [0.0]])
    expected = (-math.log(1 / (1 + math.exp(-1.0))) - math.log(0.5)) / 2
    assert bpr_loss(pos, neg).item() == pytest.approx(expected, rel=1e-6)


def test_bce_loss_hand_value():
    pos = torch.tensor([0.0])
    neg = torch.tensor([[0.0, 0.0]])
    assert bce_loss(pos, neg).item() == pytest.approx(2 * math.log(2), rel=1e-6)


@pytest.mark.parametrize("name", ["mf", "neumf", "lightgcn"])
def test_pair_scores_match_full_scores(name):
    train = _train()
    model = build_model(
        MODELS.validate({"name": name, "dim": 8, **({"mlp_layers": [8, 4]} if name == "neumf" else {})}),
        train,
        torch.Generator().manual_seed(0),
    )
    model.eval()
    users = torch.tensor([0, 3, 5])
    items = torch.tensor([[1, 2], [7, 0], [59, 30]])
    full = model.full_scores(users)
    assert full.shape == (3, train.n_items)
    assert torch.allclose(model.score(users, items), full.gather(1, items), atol=1e-5)
    assert torch.allclose(model.scorer()(users), full, atol=1e-5)
    assert torch.allclose(model.score(users, items[:, 0]), full.gather(1, items[:, :1]).squeeze(1), atol=1e-5)


@pytest.mark.parametrize("name", ["mf", "neumf", "lightgcn"])
@pytest.mark.parametrize("objective", ["bpr", "bce"])
def test_one_step_changes_parameters_and_lowers_loss(name, objective):
    train = _train()
    model = build_model(
        MODELS.validate({"name": name, "dim": 8, **({"mlp_layers": [8, 4]} if name == "neumf" else {})}),
        train,
        torch.Generator().manual_seed(0),
    )
    loss_fn = build_objective(objective, l2=1e-4)
    gen = torch.Generator().manual_seed(1)
    batch = {
        "users": torch.from_numpy(train.users[:64]),
        "pos": torch.from_numpy(train.items[:64]),
        "neg": torch.randint(0, train.n_items, (64, 1), generator=gen),
    }
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    loss0 = loss_fn(model, batch)
    opt.zero_grad()
    loss0.backward()
    opt.step()
    changed = [k for k, v in model.named_parameters() if not torch.equal(v, before[k])]
    assert changed and all(k in changed for k in before if "embedding" in k or "gmf" in k)
    assert loss_fn(model, batch).item() < loss0.item()


def test_init_is_seeded():
    train = _train()
    a = build_model(MODELS.default_config(), train, torch.Generator().manual_seed(5))
    b = build_model(MODELS.default_config(), train, torch.Generator().manual_seed(5))
    assert torch.equal(a.user_embedding.weight, b.user_embedding.weight)
