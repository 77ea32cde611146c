"""The contract every registered model keeps, checked for each entry of the model registry: a model is
registered, so it is tested here, with nobody listing it by hand.

Each model is built small (its settings shrunk by field name: ``dim``, hidden widths, ``max_len``) on
tiny synthetic data, with item features when it reads them, and must: be the kind of model its training
procedure needs; be fixed by its seed; name perturbable tables that are its own weights or inputs; score
exactly as without deltas when given none or zeros, and differently under a real delta; agree between
its scoring paths; restore from its state dict; and change its parameters in one epoch of its own
training procedure. (Models with sharded tables need a process group: tests/scale covers them.)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advrec.data.config import SplitConfig, SyntheticConfig
from advrec.data.interactions import Interactions
from advrec.data.split import leave_one_out_split, ratio_split
from advrec.data.synthetic import make_synthetic
from advrec.models.base import Recommender, ScoringModel, SequentialRecommender
from advrec.models.registry import MODELS, build_model, procedure_of, reads_item_features
from advrec.runs.config import parse_config
from advrec.runs.setup import build_setup
from advrec.train.distributed import DistContext

SHRUNK = {"dim": 8, "mlp_layers": [8, 4], "g_hidden": [16], "d_hidden": [8], "max_len": 5, "ffn_dim": 8}


def small(name: str):
    fields = MODELS[name].config.model_fields
    return MODELS.validate({"name": name, **{k: v for k, v in SHRUNK.items() if k in fields}})


@pytest.fixture(scope="module")
def data():
    raw = make_synthetic(SyntheticConfig(n_users=30, n_items=40, interactions_per_user=8, seed=3))
    train = Interactions.from_raw(raw.users, raw.items, timestamps=raw.timestamps)
    return train, torch.rand(train.n_items, 5, generator=torch.Generator().manual_seed(0))


def build(name: str, data, seed: int = 0) -> ScoringModel:
    train, features = data
    return build_model(
        small(name),
        train,
        torch.Generator().manual_seed(seed),
        features if reads_item_features(name) else None,
    ).eval()


def histories(model: SequentialRecommender) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    seqs = torch.randint(1, model.n_items + 1, (6, model.max_len), generator=gen)
    seqs[0, :2] = 0  # left padding
    return seqs


def scores(model: ScoringModel, deltas=None) -> torch.Tensor:
    if isinstance(model, SequentialRecommender):
        return model.sequence_scores(histories(model), deltas)
    return model.full_scores(torch.arange(model.n_users), deltas)


# Models whose tables are sharded over a process group cannot be built in one process; their own tests
# run them under torchrun against the single-process model they shard (tests/scale).
NAMES = [name for name in MODELS.names() if not MODELS[name].info.get("sharded")]


def test_the_registry_holds_every_family():
    assert {procedure_of(name) for name in NAMES} == {"pairwise", "sequential", "gan"}
    assert len(NAMES) >= 7


@pytest.mark.parametrize("name", NAMES)
def test_kind_matches_its_procedure(name, data):
    model = build(name, data)
    expected = SequentialRecommender if procedure_of(name) == "sequential" else Recommender
    assert isinstance(model, expected)
    assert model.n_users == data[0].n_users and model.n_items == data[0].n_items


@pytest.mark.parametrize("name", NAMES)
def test_the_seed_fixes_the_model(name, data):
    a, b, c = build(name, data, 4), build(name, data, 4), build(name, data, 5)
    sa, sc = a.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], v) for k, v in b.state_dict().items())
    assert any(not torch.equal(sa[k], v) for k, v in sc.items() if v.is_floating_point())


@pytest.mark.parametrize("name", NAMES)
def test_tables_are_the_models_own_and_deltas_are_additive(name, data):
    model = build(name, data)
    tables = model.embedding_tables()
    own = {id(t) for t in [*model.parameters(), *model.buffers()]}
    for table_name, table in tables.items():
        assert table.dim() == 2 and id(table) in own, table_name
    clean = scores(model)
    zeros = {k: torch.zeros_like(t) for k, t in tables.items()}
    for deltas in (None, {}, zeros):
        assert torch.equal(scores(model, deltas), clean)
    gen = torch.Generator().manual_seed(2)
    for table_name, table in tables.items():  # each table, moved alone, moves the scores
        moved = {table_name: 0.5 * torch.randn(table.shape, generator=gen)}
        assert not torch.allclose(scores(model, moved), clean), table_name


@pytest.mark.parametrize("name", [n for n in NAMES if procedure_of(n) != "sequential"])
def test_pair_scores_scorer_and_full_scores_agree(name, data):
    model = build(name, data)
    users = torch.arange(model.n_users)
    items = torch.randint(0, model.n_items, (model.n_users, 3), generator=torch.Generator().manual_seed(3))
    full = model.full_scores(users)
    assert torch.allclose(model.score(users, items), full.gather(1, items), atol=1e-5)
    assert torch.allclose(model.scorer()(users), full, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_the_state_dict_restores_the_scores(name, data):
    model, other = build(name, data, 0), build(name, data, 9)
    other.load_state_dict(model.state_dict())
    assert torch.equal(scores(other.eval()), scores(model))


@pytest.mark.parametrize("name", NAMES)
def test_one_epoch_of_its_procedure_changes_its_parameters(name, data):
    train, features = data
    split_method = "loo" if procedure_of(name) == "sequential" else "ratio"
    raw = {
        "seed": 1,
        "data": {"synthetic": {"n_users": 30, "n_items": 40, "interactions_per_user": 8}},
        "split": {"method": split_method},
        "model": small(name).model_dump(mode="json"),
        "train": {"epochs": 5, "batch_size": 64},
    }
    if reads_item_features(name):
        raw["data"]["item_features"] = {"path": "unused.npy", "ids_path": "unused.txt"}
    if procedure_of(name) == "gan":
        raw["model"]["generator"] = {"batch_size": 8}
        raw["model"]["discriminator"] = {"batch_size": 8}
    config = parse_config(raw)
    split = _split(config, train)
    given = features if reads_item_features(name) else None
    setup = build_setup(config, split, None, DistContext(), item_features=given)
    before = {k: v.detach().clone() for k, v in setup.model.state_dict().items()}
    log = setup.procedure.run_epoch(0, {"sampler": np.random.default_rng(0)})
    assert torch.isfinite(torch.tensor(float(log["loss"])))
    after = setup.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before), "no parameter moved"


def _split(config, train: Interactions):
    if config.split.method == "loo":
        return leave_one_out_split(train)
    return ratio_split(train, SplitConfig().ratios, np.random.default_rng(0))
