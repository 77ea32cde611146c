"""Tiny synthetic data, models and a fixed batch shared by the adversarial tests."""

import pytest
import torch

from advrec.data.config import SyntheticConfig
from advrec.data.interactions import Interactions
from advrec.data.synthetic import make_synthetic
from advrec.models.registry import MODELS, build_model


def small_model(name: str, **settings):
    """The settings of a small model ``name`` (NeuMF with a two-layer tower)."""
    extra = {"mlp_layers": [8, 4]} if name == "neumf" else {}
    return MODELS.validate({"name": name, "dim": 8, **extra, **settings})


@pytest.fixture(scope="module")
def train() -> Interactions:
    raw = make_synthetic(SyntheticConfig(n_users=40, n_items=60, interactions_per_user=10))
    return Interactions.from_raw(raw.users, raw.items)


@pytest.fixture
def make_model(train):
    def make(name: str):
        cfg = small_model(name)
        model = build_model(cfg, train, torch.Generator().manual_seed(0))
        return model.eval()

    return make


@pytest.fixture
def batch(train) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return {
        "users": torch.from_numpy(train.users[:64]),
        "pos": torch.from_numpy(train.items[:64]),
        "neg": torch.randint(0, train.n_items, (64, 1), generator=gen),
    }


@pytest.fixture
def resumes_exactly(tmp_path, crash_at):
    """``resumes_exactly(config)``: trains ``config`` in one go (``tmp_path/full``) and killed at epoch 2
    then resumed (``tmp_path/part``), asserts both end with the same test metrics, best epoch and last
    weights, and returns the two per-epoch logs."""
    import json

    from advrec.runs.train import train_run
    from advrec.train.checkpoint import load_checkpoint

    def run(config) -> tuple[list[dict], list[dict]]:
        full = train_run(config, tmp_path / "full", show_progress=False)
        with pytest.raises(KeyboardInterrupt):
            train_run(config, tmp_path / "part", hooks=[crash_at(2)], show_progress=False)
        resumed = train_run(config, tmp_path / "part", resume=True, show_progress=False)
        assert resumed["test"] == full["test"] and resumed["best_epoch"] == full["best_epoch"]
        a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")["model"]
        b = load_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt")["model"]
        assert all(torch.equal(a[k], b[k]) for k in a)
        return tuple(
            [json.loads(x) for x in (tmp_path / part / "metrics.jsonl").read_text().splitlines()]
            for part in ("full", "part")
        )

    return run
