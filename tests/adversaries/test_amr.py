"""mf_features (score = <p_u, q_i + E f_i>) and AMR: APR whose Δ perturbs the item feature inputs.

The features are a third perturbable table, ``item_features``, so APRHook (``targets``), the
robustness probe and ``deltas`` work on them unchanged.
"""

import json

import numpy as np
import pytest
import torch

from advrec.cli.main import main
from advrec.errors import ConfigError
from advrec.models.mf_features import MFFeatures
from advrec.objectives.pairwise import build_objective
from advrec.perturb.builder import PerturbationBuilder
from advrec.perturb.perturbation import row_norms
from advrec.runs.config import parse_config
from advrec.runs.load import load_run
from advrec.runs.probe import robustness_run
from advrec.runs.train import train_run
from advrec.train.adversaries.apr import APRHook


def _hand_model(item_bias: bool = False) -> MFFeatures:
    features = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    model = MFFeatures(2, 3, features, dim=2, item_bias=item_bias)
    with torch.no_grad():
        model.user_embedding.weight.copy_(torch.tensor([[1.0, 2.0], [0.0, -1.0]]))
        model.item_embedding.weight.copy_(torch.tensor([[0.5, 0.0], [0.0, 0.5], [1.0, 1.0]]))
        model.projection.copy_(torch.tensor([[1.0, 0.0], [2.0, 1.0]]))  # E, [dim, d_f]
        if item_bias:
            model.bias.copy_(torch.tensor([0.1, 0.2, 0.3]))
            model.feature_bias.copy_(torch.tensor([1.0, -1.0]))
    return model.eval()


# By hand: E f = [1, 2], [0, 1], [1, 3]; v = q + E f = [1.5, 2], [0, 1.5], [2, 4];
# bias b_i + <w, f_i> = 1.1, -0.8, 0.3.
PLAIN = torch.tensor([[5.5, 3.0, 10.0], [-2.0, -1.5, -4.0]])
BIASED = PLAIN + torch.tensor([1.1, -0.8, 0.3])


@pytest.mark.parametrize(("item_bias", "expected"), [(False, PLAIN), (True, BIASED)])
def test_scores_equal_the_formula_on_a_hand_made_example(item_bias, expected):
    model = _hand_model(item_bias)
    users = torch.tensor([0, 1])
    assert torch.allclose(model.full_scores(users), expected)
    assert torch.allclose(model.scorer()(users), expected)
    items = torch.tensor([[2, 0], [1, 1]])
    assert torch.allclose(model.score(users, items), expected.gather(1, items))
    pairs = model.score(users, torch.tensor([1, 2]))
    assert torch.allclose(pairs, torch.stack([expected[0, 1], expected[1, 2]]))
    # A delta on the features moves f_0 to [1, 1]: E f_0 = [1, 3], v_0 = [1.5, 3], <w, f_0> = 0.
    delta = torch.zeros(3, 2)
    delta[0, 1] = 1.0
    perturbed = expected.clone()
    perturbed[:, 0] = torch.tensor([7.5, -3.0]) + (0.1 if item_bias else 0.0)
    deltas = {"item_features": delta}
    assert torch.allclose(model.full_scores(users, deltas), perturbed)
    assert torch.allclose(model.score(users, torch.tensor([0, 0]), deltas), perturbed[:, 0])


def test_features_are_a_perturbable_buffer_not_a_parameter():
    model = _hand_model()
    tables = model.embedding_tables()
    assert list(tables) == ["user", "item", "item_features"]
    assert all(t is not tables["item_features"] for t in model.parameters())
    assert "item_features" not in model.state_dict()  # rebuilt from the run folder, not checkpointed
    zero = {k: torch.zeros_like(t) for k, t in tables.items()}
    users = torch.tensor([0, 1])
    assert torch.equal(model.full_scores(users, zero), model.full_scores(users))
    with pytest.raises(ValueError, match="item_features"):
        MFFeatures(2, 4, torch.zeros(3, 2))


@pytest.fixture
def model_and_batch():
    gen = torch.Generator().manual_seed(0)
    n_users, n_items = 30, 40
    features = (torch.rand(n_items, 6, generator=gen) < 0.3).float()
    model = MFFeatures(n_users, n_items, features, dim=8, init_std=0.3, generator=gen).eval()
    batch = {
        "users": torch.randint(0, n_users, (64,), generator=gen),
        "pos": torch.randint(0, n_items, (64,), generator=gen),
        "neg": torch.randint(0, n_items, (64, 1), generator=gen),
    }
    return model, batch


def test_one_step_changes_parameters_lowers_the_loss_and_leaves_features_alone(model_and_batch):
    model, batch = model_and_batch
    model.train()
    objective = build_objective("bpr", 1e-4)
    features = model.item_features.clone()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    loss0 = objective(model, batch)
    opt.zero_grad()
    loss0.backward()
    opt.step()
    for key, value in model.named_parameters():
        assert not torch.equal(value, before[key]), key
    assert objective(model, batch).item() < loss0.item()
    assert torch.equal(model.item_features, features)


def _amr(method="fgsm", eps=0.5, reg_adv=1.0, l2=0.0, targets=("item_features",)):
    objective = build_objective("bpr", l2)
    builder = PerturbationBuilder(method, eps, generator=torch.Generator().manual_seed(3))
    return objective, APRHook(objective, builder, reg_adv, targets=targets)


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
def test_feature_adversary_raises_the_loss_more_than_same_norm_random_noise(method, model_and_batch):
    model, batch = model_and_batch
    objective, hook = _amr(method, eps=0.5)
    deltas = hook.adversarial_deltas(model, batch, 0.5)
    assert list(deltas) == ["item_features"]  # the embeddings are not touched
    adv = deltas["item_features"]
    used = torch.unique(torch.cat([batch["pos"], batch["neg"].flatten()]))
    norms = row_norms(adv).flatten()
    assert torch.allclose(norms[used], torch.full_like(norms[used], 0.5), atol=1e-5)
    unused = torch.ones(len(norms), dtype=torch.bool)
    unused[used] = False
    assert (norms[unused] == 0).all()  # no gradient, no perturbation
    random = hook.builder.random_like(deltas)
    assert torch.allclose(row_norms(random["item_features"]), row_norms(adv), atol=1e-5)
    clean = objective.pair_loss(model, batch).item()
    adversarial = objective.pair_loss(model, batch, deltas).item()
    noisy = objective.pair_loss(model, batch, random).item()
    assert adversarial - clean > 3 * abs(noisy - clean) and adversarial > clean + 0.05


@pytest.mark.parametrize("method", ["fgsm", "fgsm_sign", "pgd", "random"])
def test_zero_eps_reduces_exactly_to_the_plain_objective(method, model_and_batch):
    model, batch = model_and_batch
    objective, hook = _amr(method, eps=0.0, reg_adv=0.3, l2=1e-3)
    hook.on_epoch_start(0)
    plain = objective(model, batch)
    assert torch.equal(hook.on_loss(model, batch, plain), plain + 0.3 * objective.pair_loss(model, batch))
    objective, hook = _amr(method, eps=0.0, reg_adv=1.0)
    hook.on_epoch_start(0)
    plain = objective(model, batch)
    assert torch.equal(hook.on_loss(model, batch, plain), 2 * plain)


def test_one_amr_step_lowers_the_amr_objective(model_and_batch):
    model, batch = model_and_batch
    model.train()
    objective, hook = _amr("fgsm", eps=0.3)
    hook.on_epoch_start(0)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    loss0 = hook.on_loss(model, batch, objective(model, batch))
    opt.zero_grad()
    loss0.backward()
    assert model.projection.grad is not None and model.projection.grad.abs().sum() > 0
    opt.step()
    assert hook.on_loss(model, batch, objective(model, batch)).item() < loss0.item()


def test_targets_select_tables_and_unknown_names_fail(model_and_batch):
    model, batch = model_and_batch
    _, hook = _amr(targets=("user", "item_features"))
    assert list(hook.adversarial_deltas(model, batch, 0.1)) == ["user", "item_features"]
    _, hook = _amr(targets=None)
    assert list(hook.adversarial_deltas(model, batch, 0.1)) == ["user", "item", "item_features"]
    _, hook = _amr(targets=("features",))
    with pytest.raises(
        ConfigError,
        match="adversary.targets: 'features' is not a table of this model; "
        "its tables: user, item, item_features",
    ):
        hook.adversarial_deltas(model, batch, 0.1)


# --------------------------------------------------------------------------------------------------
# end to end: config, run folder, exact resume, probe
# --------------------------------------------------------------------------------------------------

SYNTH = {"n_users": 80, "n_items": 100, "interactions_per_user": 12}


@pytest.fixture(scope="module")
def feature_files(tmp_path_factory):
    """Features for the synthetic items (raw ids 1..100), rows shuffled: alignment is by id."""
    folder = tmp_path_factory.mktemp("features")
    rng = np.random.default_rng(0)
    ids = rng.permutation(np.arange(1, 101))
    np.save(folder / "f.npy", (rng.random((100, 6)) < 0.3).astype(np.float32))
    (folder / "f.ids.txt").write_text("".join(f"{i}\n" for i in ids))
    return folder


def _config(feature_files, **sections):
    raw = {
        "seed": 7,
        "data": {
            "synthetic": SYNTH,
            "item_features": {
                "path": str(feature_files / "f.npy"),
                "ids_path": str(feature_files / "f.ids.txt"),
            },
        },
        "model": {"name": "mf_features", "dim": 8},
        "train": {"epochs": 4, "batch_size": 256, "patience": 50, "l2": 1e-4, "optimizer": {"lr": 0.01}},
        "eval": {"ks": [5, 10], "metrics": ["ndcg", "hit", "auc"]},
        "adversary": {"name": "apr", "eps": 0.5, "start_epoch": 1, "targets": ["item_features"]},
    }
    for key, value in sections.items():
        switched = isinstance(value, dict) and value.get("name", raw[key].get("name")) != raw[key].get("name")
        raw[key] = value if not isinstance(value, dict) or switched else {**raw.get(key, {}), **value}
    return parse_config(json.loads(json.dumps(raw)))


@pytest.mark.parametrize("method", ["fgsm", "random"])
def test_amr_run_resumes_exactly_and_keeps_its_features(tmp_path, feature_files, resumes_exactly, method):
    cfg = _config(feature_files, adversary={"method": method})
    log, _ = resumes_exactly(cfg)
    assert [x.get("adv_eps") for x in log] == [None, 0.5, 0.5, 0.5]
    # The run folder holds the aligned features; the model rebuilt from it scores as trained.
    split = tmp_path / "full" / "split"
    assert (split / "item_features.npy").exists() and (split / "item_features.ids.txt").exists()
    _, saved_split, model = load_run(tmp_path / "full")
    ids = np.array([int(x) for x in (feature_files / "f.ids.txt").read_text().split()])
    source = np.load(feature_files / "f.npy")
    for dense, raw_id in enumerate(saved_split.train.item_map.raw.tolist()):
        assert torch.equal(model.item_features[dense], torch.from_numpy(source[ids == raw_id][0]))


def test_amr_differs_from_plain_mf_features(tmp_path, feature_files):
    amr = train_run(_config(feature_files), tmp_path / "amr", show_progress=False)
    plain_config = _config(feature_files, adversary={"name": "none"})
    plain = train_run(plain_config, tmp_path / "plain", show_progress=False)
    assert amr["test"] != plain["test"]


def test_feature_probe_through_targets_and_the_cli(tmp_path, feature_files, capsys):
    run = tmp_path / "run"
    train_run(_config(feature_files, adversary={"name": "none"}), run, show_progress=False)
    result = robustness_run(run, [0.0, 1.0], targets=["item_features"])
    assert result["settings"]["fgsm"]["targets"] == ["item_features"]
    assert result["fgsm"]["0.0"]["ndcg@10"] == result["clean"]["ndcg@10"]
    assert result["fgsm"]["1.0"]["auc"] < result["clean"]["auc"]
    everything = robustness_run(run, [1.0])
    assert everything["settings"]["fgsm"]["targets"] == ["user", "item", "item_features"]
    # A probe of chosen tables is recorded apart from the probe of all tables.
    saved = json.loads((run / "results.json").read_text())
    assert saved["robustness_item_features"] == json.loads(json.dumps(result))
    assert saved["robustness"] == json.loads(json.dumps(everything))
    assert (run / "robustness_item_features" / "fgsm.csv").exists()
    assert (run / "robustness" / "fgsm.csv").exists()
    assert main(["evaluate", str(run), "--attack", "pgd", "--eps", "0.5", "--targets", "item_features"]) == 0
    out = capsys.readouterr().out
    assert "tables item_features" in out and "robustness_item_features (fgsm, pgd)" in out
    assert main(["evaluate", str(run), "--attack", "fgsm", "--targets", "genres"]) == 2
    assert "'genres' is not a table of this model" in capsys.readouterr().err


def test_config_errors(tmp_path, feature_files, adversary_of):
    with pytest.raises(ConfigError, match="reads item features: set data.item_features"):
        _config(feature_files, data={"item_features": None})
    with pytest.raises(ConfigError, match="data.item_features / data.item_text: model 'mf' does not read"):
        _config(feature_files, model={"name": "mf", "dim": 8})
    with pytest.raises(ConfigError, match="adversary.targets: 'feature' is not a table"):
        cfg = _config(feature_files, adversary={"targets": ["feature"]})
        train_run(cfg, tmp_path / "c", show_progress=False)
    for bad in ([], ["item", "item"]):
        with pytest.raises(ConfigError, match="adversary.targets: .*distinct table names"):
            _config(feature_files, adversary={"targets": bad})
    with pytest.raises(ConfigError, match="unknown key 'data.item_features.id_col'"):
        _config(feature_files, data={"item_features": {"path": "x.parquet", "id_col": "movie"}})
    with pytest.raises(ConfigError, match=r"data.item_features.missing"):
        _config(feature_files, data={"item_features": {"path": "x.parquet", "missing": "skip"}})
    hooks = adversary_of(_config(feature_files), build_objective("bpr", 0.0))
    assert hooks[0].targets == ["item_features"]
