"""Input-level augmentation: interaction dropping/adding in the sampler, noise on item feature inputs."""

import json
import math

import numpy as np
import pytest
import torch

from advrec.data.config import SyntheticConfig
from advrec.data.interactions import Interactions
from advrec.data.sampler import NegativeSampler
from advrec.data.synthetic import make_synthetic
from advrec.errors import ConfigError
from advrec.runs.config import parse_config
from advrec.runs.train import train_run
from advrec.train.augment import FeatureNoiseHook
from advrec.train.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def train() -> Interactions:
    raw = make_synthetic(SyntheticConfig(n_users=50, n_items=70, interactions_per_user=10))
    return Interactions.from_raw(raw.users, raw.items)


def _pairs(users, items) -> list[tuple[int, int]]:
    return list(zip(users.tolist(), items.tolist()))


def test_no_augmentation_is_exactly_the_plain_epoch(train):
    plain = NegativeSampler(train).epoch(np.random.default_rng(3))
    same = NegativeSampler(train, 1, 0.0, 0.0).epoch(np.random.default_rng(3))
    assert all(torch.equal(getattr(plain, k), getattr(same, k)) for k in ("users", "pos", "neg"))


@pytest.mark.parametrize("p", [0.1, 0.25, 0.5])
def test_dropping_removes_exactly_round_p_n_distinct_training_rows(train, p):
    n = len(train)
    epoch = NegativeSampler(train, 2, drop_fraction=p).epoch(np.random.default_rng(0))
    assert len(epoch) == n - round(p * n)
    kept = _pairs(epoch.users, epoch.pos)
    assert len(set(kept)) == len(kept)  # each training row at most once (the synthetic data has no dupes)
    assert set(kept) <= set(_pairs(train.users, train.items))
    assert epoch.neg.shape == (len(epoch), 2)


@pytest.mark.parametrize("q", [0.1, 0.5])
def test_added_rows_are_never_training_positives(train, q):
    n = len(train)
    sampler = NegativeSampler(train, add_fraction=q)
    epoch = sampler.epoch(np.random.default_rng(1))
    assert len(epoch) == n + round(q * n)
    positive = sampler.is_positive(epoch.users.numpy(), epoch.pos.numpy())
    assert int((~positive).sum()) == round(q * n)  # exactly the added rows are unobserved pairs
    observed = _pairs(epoch.users[positive], epoch.pos[positive])
    assert sorted(observed) == sorted(_pairs(train.users, train.items))
    assert set(epoch.users[~positive].tolist()) <= set(train.users.tolist())
    assert not sampler.is_positive(epoch.users.numpy(), epoch.neg[:, 0].numpy()).any()
    # the added rows are shuffled in, not appended at the end
    assert not (~positive[-round(q * n) :]).all()


def test_drop_and_add_together_and_determinism(train):
    n = len(train)
    sampler = NegativeSampler(train, 1, drop_fraction=0.2, add_fraction=0.1)
    a = sampler.epoch(np.random.default_rng(5))
    b = sampler.epoch(np.random.default_rng(5))
    assert len(a) == n - round(0.2 * n) + round(0.1 * n)
    assert all(torch.equal(getattr(a, k), getattr(b, k)) for k in ("users", "pos", "neg"))
    rng = np.random.default_rng(5)
    first, second = sampler.epoch(rng), sampler.epoch(rng)
    assert not torch.equal(first.pos, second.pos)  # a fresh subset each epoch
    with pytest.raises(ValueError, match="drop_fraction"):
        NegativeSampler(train, drop_fraction=1.0)


@pytest.mark.parametrize("kind", ["gaussian", "uniform"])
def test_feature_noise_has_the_configured_scale(kind):
    hook = FeatureNoiseHook(kind, 0.2, seed=11)
    noise = hook.noise(40_000, 5)
    assert noise.std().item() == pytest.approx(0.2, rel=0.02)
    assert noise.mean().abs().item() < 0.005
    if kind == "uniform":
        assert noise.abs().max().item() <= math.sqrt(3) * 0.2 + 1e-6
        assert noise.abs().max().item() > 0.98 * math.sqrt(3) * 0.2


class _Tables(torch.nn.Module):
    def __init__(self, n_items=20, d=4):
        super().__init__()
        self.features = torch.zeros(n_items, d)

    def embedding_tables(self):
        return {"user": torch.zeros(3, 2), "item_features": self.features}


def test_feature_noise_touches_the_batch_rows_only_and_resumes_exactly():
    model = _Tables()
    batch = {"users": torch.tensor([0, 1, 2]), "pos": torch.tensor([1, 5, 1])}
    batch["neg"] = torch.tensor([[7], [5], [9]])
    hook = FeatureNoiseHook("gaussian", 0.1, seed=4)
    first = hook.input_deltas(model, batch)["item_features"]
    assert torch.nonzero(first.abs().sum(1)).flatten().tolist() == [1, 5, 7, 9]
    saved = hook.state_dict()
    second = hook.input_deltas(model, batch)["item_features"]
    assert not torch.equal(first, second)  # fresh noise every batch
    other = FeatureNoiseHook("gaussian", 0.1, seed=4)
    other.load_state_dict(saved)
    assert torch.equal(other.input_deltas(model, batch)["item_features"], second)
    with pytest.raises(ConfigError, match="augment.feature_noise: the model has no 'genres' table"):
        FeatureNoiseHook("gaussian", 0.1, seed=0, table="genres").input_deltas(model, batch)


def test_a_hook_with_input_deltas_keeps_the_fused_kernel_off(train):
    from advrec.models.mf import MF
    from advrec.objectives.pairwise import build_objective
    from advrec.train.fused import why_not_fused

    mf = MF(train.n_users, train.n_items, 4)
    objective = build_objective("bpr", 0.0)
    assert why_not_fused(mf, objective, [], False, torch.device("cpu")) == ""
    hook = FeatureNoiseHook("gaussian", 0.1, seed=0)
    assert "FeatureNoiseHook" in why_not_fused(mf, objective, [hook], False, torch.device("cpu"))


# --------------------------------------------------------------------------------------------------
# through the config and train_run
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    folder = tmp_path_factory.mktemp("feat")
    rng = np.random.default_rng(1)
    table = {"item": np.arange(1, 101), **{f"g{j}": rng.random(100) < 0.3 for j in range(5)}}
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(table), folder / "f.parquet")
    return folder / "f.parquet"


def _config(features, **augment):
    return parse_config(
        json.loads(
            json.dumps(
                {
                    "seed": 3,
                    "data": {
                        "synthetic": {"n_users": 80, "n_items": 100, "interactions_per_user": 12},
                        "item_features": {"path": str(features)},
                    },
                    "model": {"name": "mf_features", "dim": 8},
                    "train": {"epochs": 4, "batch_size": 256, "patience": 50, "optimizer": {"lr": 0.01}},
                    "eval": {"ks": [10], "metrics": ["ndcg"]},
                    "augment": augment,
                }
            )
        )
    )


def test_augmented_run_resumes_exactly_and_differs_from_plain(tmp_path, features, crash_at):
    cfg = _config(
        features, feature_noise={"kind": "uniform", "level": 0.3}, drop_interactions=0.2, add_interactions=0.1
    )
    full = train_run(cfg, tmp_path / "full", show_progress=False)
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, tmp_path / "part", hooks=[crash_at(2)], show_progress=False)
    resumed = train_run(cfg, tmp_path / "part", resume=True, show_progress=False)
    assert resumed["test"] == full["test"]
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    n = full["dataset"]["n_train"]
    batches = math.ceil((n - round(0.2 * n) + round(0.1 * n)) / 256)
    assert a["hooks"] == [{"step": 4 * batches}]  # one noise draw per batch
    log = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    assert all(x["feature_noise"] == 0.3 for x in log)
    plain = train_run(_config(features), tmp_path / "plain", show_progress=False)
    zero_config = _config(features, drop_interactions=0.0, add_interactions=0.0)
    zero = train_run(zero_config, tmp_path / "zero", show_progress=False)
    assert zero["test"] == plain["test"] != full["test"]


def test_augment_config_errors(tmp_path, features):
    with pytest.raises(ConfigError, match="augment.drop_interactions"):
        _config(features, drop_interactions=1.0)
    with pytest.raises(ConfigError, match="augment.add_interactions"):
        _config(features, add_interactions=-0.1)
    with pytest.raises(ConfigError, match="augment.feature_noise.level"):
        _config(features, feature_noise={"kind": "gaussian", "level": 0})
    with pytest.raises(ConfigError, match="augment.feature_noise.level: Field required"):
        _config(features, feature_noise={"kind": "uniform"})
    with pytest.raises(ConfigError, match="augment.feature_noise.kind"):
        _config(features, feature_noise={"kind": "laplace", "level": 0.1})
    raw = _config(features, feature_noise={"level": 0.1}).model_dump(mode="json")
    raw["model"] = {"name": "mf"}
    raw["data"]["item_features"] = None
    with pytest.raises(ConfigError, match="augment.feature_noise: model 'mf' reads no item features"):
        parse_config(raw)
