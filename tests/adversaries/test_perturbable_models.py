"""Scoring with deltas, model by model: the tables' names and the formulas under a perturbation. What every
registered model must do with deltas is checked for all of them in tests/models/test_model_contract.py."""

import pytest
import torch

TABLES = {"mf": ["user", "item"], "lightgcn": ["user", "item"]}
TABLES["neumf"] = ["gmf_user", "gmf_item", "mlp_user", "mlp_item"]


def _inputs(model):
    users = torch.arange(model.n_users)
    items = torch.randint(0, model.n_items, (model.n_users, 3), generator=torch.Generator().manual_seed(2))
    return users, items


@pytest.mark.parametrize("name", list(TABLES))
def test_tables_named_and_shaped(name, make_model):
    model = make_model(name)
    tables = model.embedding_tables()
    assert list(tables) == TABLES[name]
    params = {id(p) for p in model.parameters()}
    assert all(id(t) in params for t in tables.values())


def test_mf_scores_match_the_formula_before_and_after_perturbation(make_model):
    model = make_model("mf")
    users, items = _inputs(model)
    p, q = model.user_embedding.weight, model.item_embedding.weight
    assert torch.equal(model.score(users, items), (p[users].unsqueeze(1) * q[items]).sum(-1))
    gen = torch.Generator().manual_seed(3)
    deltas = {k: 0.1 * torch.randn(t.shape, generator=gen) for k, t in model.embedding_tables().items()}
    p2, q2 = p + deltas["user"], q + deltas["item"]
    assert torch.allclose(model.score(users, items, deltas), (p2[users].unsqueeze(1) * q2[items]).sum(-1))
    assert torch.allclose(model.full_scores(users, deltas), p2[users] @ q2.T)


def test_lightgcn_delta_propagates_to_neighbours(make_model, train):
    """Perturbing one item's ego embedding moves its raters (1 hop) and co-rated items (2 hops)."""
    model = make_model("lightgcn")
    item = int(train.items[0])
    deltas = {"item": torch.zeros_like(model.item_embedding.weight)}
    deltas["item"][item] = 1.0
    users_before, items_before = model.propagate()
    users_after, items_after = model.propagate(deltas)
    raters = train.users[train.items == item]
    assert ((users_after - users_before).abs().sum(1)[raters] > 0).all()
    moved_items = torch.nonzero((items_after - items_before).abs().sum(1) > 0).flatten().tolist()
    assert len(set(moved_items) - {item}) > 0


def test_bad_deltas_fail_loudly(make_model):
    model = make_model("mf")
    users, items = _inputs(model)
    with pytest.raises(KeyError, match="unknown table"):
        model.score(users, items, {"users": torch.zeros(1)})
    with pytest.raises(ValueError, match="shape"):
        model.score(users, items, {"user": torch.zeros(3, 8)})
