"""Scoring with deltas: None and zero change nothing; a delta is added to the table before lookup."""

import pytest
import torch

MODELS = ["mf", "neumf", "lightgcn"]


TABLES = {"mf": ["user", "item"], "lightgcn": ["user", "item"]}
TABLES["neumf"] = ["gmf_user", "gmf_item", "mlp_user", "mlp_item"]


def _inputs(model):
    users = torch.arange(model.n_users)
    items = torch.randint(0, model.n_items, (model.n_users, 3), generator=torch.Generator().manual_seed(2))
    return users, items


@pytest.mark.parametrize("name", MODELS)
def test_tables_named_and_shaped(name, make_model):
    model = make_model(name)
    tables = model.embedding_tables()
    assert list(tables) == TABLES[name]
    params = {id(p) for p in model.parameters()}
    assert all(id(t) in params for t in tables.values())


@pytest.mark.parametrize("name", MODELS)
def test_none_and_zero_deltas_are_bit_identical(name, make_model):
    model = make_model(name)
    users, items = _inputs(model)
    zero = {k: torch.zeros_like(t) for k, t in model.embedding_tables().items()}
    ref = model.score(users, items)
    for deltas in (None, {}, zero):
        assert torch.equal(model.score(users, items, deltas), ref)
        assert torch.equal(model.score(users, items[:, 0], deltas), model.score(users, items[:, 0]))
        assert torch.equal(model.full_scores(users, deltas), model.full_scores(users))
        assert torch.equal(model.scorer(deltas)(users), model.scorer()(users))


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


@pytest.mark.parametrize("name", MODELS)
def test_pair_and_full_scores_agree_under_deltas(name, make_model):
    model = make_model(name)
    users, items = _inputs(model)
    gen = torch.Generator().manual_seed(4)
    deltas = {k: 0.1 * torch.randn(t.shape, generator=gen) for k, t in model.embedding_tables().items()}
    full = model.full_scores(users, deltas)
    assert not torch.allclose(full, model.full_scores(users))
    assert torch.allclose(model.score(users, items, deltas), full.gather(1, items), atol=1e-5)
    assert torch.allclose(model.scorer(deltas)(users), full, atol=1e-5)


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
