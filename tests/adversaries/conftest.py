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
