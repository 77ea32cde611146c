"""The text-aware model's content-only options: ID dropout (DropoutNet) and no ID embedding for rare items.

Scores are checked against <p_u, E f_i> and <p_u, q_i + E f_i> computed here from the model's tables."""

import numpy as np
import pytest
import torch

from advrec.data.interactions import Interactions
from advrec.errors import ConfigError
from advrec.measure.config import EvalConfig
from advrec.measure.protocol import Protocol
from advrec.measure.tail import restrict_valid
from advrec.models.mf_features import MFFeatures
from advrec.models.registry import MODELS, build_model
from advrec.objectives.pairwise import build_objective
from advrec.runs.config import parse_config

N_USERS, N_ITEMS, N_FEATURES = 20, 30, 6


def _model(**kw) -> MFFeatures:
    gen = torch.Generator().manual_seed(0)
    features = torch.rand(N_ITEMS, N_FEATURES, generator=gen)
    return MFFeatures(N_USERS, N_ITEMS, features, dim=4, init_std=0.3, generator=gen, **kw)


def _by_hand(
    model: MFFeatures, users: torch.Tensor, items: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(full, content-only) scores of (users, items) pairs, items [N] or [N, M]."""
    p = model.user_embedding.weight[users].detach()
    q = model.item_embedding.weight.detach()
    content = model.item_features @ model.projection.detach().T
    if items.dim() == 2:
        p = p.unsqueeze(1)
    return (p * (q[items] + content[items])).sum(-1), (p * content[items]).sum(-1)


USERS = torch.tensor([0, 3, 5, 7, 19])
ITEMS = torch.tensor([1, 2, 2, 29, 0])
NEGS = torch.tensor([[4, 5, 6], [7, 8, 9], [1, 1, 1], [0, 28, 29], [3, 2, 1]])


@pytest.mark.parametrize("items", [ITEMS, NEGS])
def test_id_dropout_one_scores_by_content_alone_in_training_and_fully_in_evaluation(items):
    model = _model(id_dropout=1.0)
    full, content = _by_hand(model, USERS, items)
    assert not torch.allclose(full, content)  # the check below can fail
    torch.testing.assert_close(model.train().score(USERS, items).detach(), content)
    torch.testing.assert_close(model.eval().score(USERS, items).detach(), full)
    with torch.no_grad():
        rows = model.train().full_scores(USERS)
        torch.testing.assert_close(
            rows, model.user_embedding.weight[USERS] @ (model.item_features @ model.projection.T).T
        )


def test_id_dropout_half_drops_about_half_of_the_occurrences_reproducibly():
    model = _model(id_dropout=0.5).train()
    users = torch.arange(N_USERS).repeat_interleave(100)
    items = torch.arange(len(users)) % N_ITEMS
    full, content = _by_hand(model, users, items)
    torch.manual_seed(7)
    scores = model.score(users, items).detach()
    dropped = torch.isclose(scores, content, rtol=0, atol=1e-6)
    kept = torch.isclose(scores, full, rtol=0, atol=1e-6)
    assert bool((dropped | kept).all())  # every score is one of the two
    assert 0.45 < dropped.float().mean().item() < 0.55  # 2,000 draws: 0.5 ± 0.011 (std)
    torch.manual_seed(7)
    assert torch.equal(model.score(users, items).detach(), scores)  # seeded: the same draws again


def test_id_dropout_zero_changes_nothing_and_draws_nothing():
    model = _model(id_dropout=0.0).train()
    state = torch.get_rng_state()
    full, _ = _by_hand(model, USERS, ITEMS)
    torch.testing.assert_close(model.score(USERS, ITEMS).detach(), full)
    assert torch.equal(torch.get_rng_state(), state)


def test_id_mask_scores_masked_items_by_content_alone_always():
    mask = torch.ones(N_ITEMS)
    mask[[2, 29]] = 0.0
    model = _model(id_mask=mask)
    full, content = _by_hand(model, USERS, ITEMS)
    expected = torch.where(mask[ITEMS].bool(), full, content)
    for mode in (model.train(), model.eval()):
        torch.testing.assert_close(mode.score(USERS, ITEMS).detach(), expected)
    with torch.no_grad():
        rows = model.full_scores(USERS)
    torch.testing.assert_close(rows[torch.arange(len(USERS)), ITEMS], expected)


def _one_step(model: MFFeatures) -> dict[str, torch.Tensor]:
    """One Adam step of BPR on a fixed batch; returns the parameters before it."""
    gen = torch.Generator().manual_seed(1)
    batch = {
        "users": torch.randint(0, N_USERS, (64,), generator=gen),
        "pos": torch.randint(0, N_ITEMS, (64,), generator=gen),
        "neg": torch.randint(0, N_ITEMS, (64, 1), generator=gen),
    }
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    model.train()
    torch.manual_seed(0)
    loss = build_objective("bpr", 0.0)(model, batch)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return before


def test_one_step_with_id_dropout_one_trains_users_and_projection_not_ids():
    model = _model(id_dropout=1.0)
    before = _one_step(model)
    assert torch.equal(model.item_embedding.weight, before["item_embedding.weight"])
    assert not torch.equal(model.projection, before["projection"])
    assert not torch.equal(model.user_embedding.weight, before["user_embedding.weight"])


def test_one_step_with_dropout_half_moves_ids_too():
    model = _model(id_dropout=0.5)
    before = _one_step(model)
    for key, value in model.named_parameters():
        assert not torch.equal(value, before[key]), key


def test_one_step_never_moves_a_masked_items_id_embedding():
    mask = torch.ones(N_ITEMS)
    mask[: N_ITEMS // 2] = 0.0
    model = _model(id_mask=mask)
    before = _one_step(model)
    moved = (model.item_embedding.weight != before["item_embedding.weight"]).any(1)
    assert not moved[: N_ITEMS // 2].any()
    assert moved[N_ITEMS // 2 :].any()


def test_bad_values_fail():
    with pytest.raises(ValueError, match="id_dropout"):
        _model(id_dropout=1.5)
    with pytest.raises(ValueError, match="id_mask"):
        _model(id_mask=torch.ones(N_ITEMS + 1))


def _train() -> Interactions:
    # item raw ids 1..4 -> indices 0..3; train counts 3, 1, 2, 0 (raw 4 appears only to size the catalogue)
    users = np.array([0, 1, 2, 0, 0, 1])
    items = np.array([1, 1, 1, 2, 3, 3])
    data = Interactions.from_raw(np.r_[users, 3], np.r_[items, 4])
    return data.select(np.arange(len(users)))


def test_registry_builds_the_mask_from_train_counts_and_refuses_other_models():
    train = _train()
    assert np.bincount(train.items, minlength=train.n_items).tolist() == [3, 1, 2, 0]
    features = torch.rand(train.n_items, 3)
    gen = torch.Generator().manual_seed(0)
    model = build_model(
        MODELS.validate({"name": "mf_features", "dim": 2, "id_min_count": 2}), train, gen, features
    )
    assert model.id_mask.squeeze(1).tolist() == [1.0, 0.0, 1.0, 0.0]
    model = build_model(
        MODELS.validate({"name": "mf_features", "dim": 2, "id_dropout": 0.3}), train, gen, features
    )
    assert model.id_mask is None and model.id_dropout == 0.3
    for key in ("id_dropout", "id_min_count"):  # MF has no content part: the key cannot be written
        with pytest.raises(ConfigError, match=f"unknown key 'model.{key}'"):
            parse_config({"model": {"name": "mf", "dim": 2, key: 1}})


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ({"id_dropout": 1.5}, "model.id_dropout"),
        ({"id_dropout": -0.1}, "model.id_dropout"),
        ({"id_min_count": -1}, "model.id_min_count"),
    ],
)
def test_config_rejects_bad_values_naming_the_key(model, key):
    with pytest.raises(ConfigError, match=key):
        parse_config({"model": {"name": "mf_features", **model}})


def test_restrict_valid_by_hand():
    import scipy.sparse as sp

    n = 5
    train = sp.csr_matrix(([1.0], ([0], [0])), shape=(2, n))
    valid = sp.csr_matrix(([1.0, 1.0, 1.0], ([0, 0, 1], [1, 3, 4])), shape=(2, n))
    test = sp.csr_matrix((2, n))
    protocol = Protocol(train, valid, test, (train + valid).tocsr(), EvalConfig(ks=[2], metrics=["ndcg"]))

    class Fixed:
        scores = torch.tensor([[9.0, 8, 6, 7, 5], [1.0, 9, 2, 3, 4]])

        def scorer(self, deltas=None):
            return lambda users: self.scores[users]

    tail = restrict_valid(protocol, np.array([3]))
    assert tail.valid.toarray().tolist() == [[0, 0, 0, 1, 0], [0] * 5]
    assert torch.equal(torch.as_tensor(tail.test.toarray()), torch.as_tensor(test.toarray()))
    # user 0 ranks past train (item 0 excluded): 1, 3, ... -> tail item 3 at rank 2; user 1 has no tail item
    assert tail.validate(Fixed())["ndcg@2"] == pytest.approx(1 / np.log2(3))
    # the whole valid split differs: user 0's item 1 is at rank 1, user 1's item 4 at rank 2 (past 9)
    assert protocol.validate(Fixed())["ndcg@2"] != pytest.approx(1 / np.log2(3))
