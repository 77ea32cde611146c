"""Tiny synthetic data and GAN builders shared by the GAN tests."""

import pytest

from advrec.config.loading import parse_config
from advrec.config.schema import RunConfig, SyntheticConfig
from advrec.data.interactions import Interactions
from advrec.data.synthetic import make_synthetic
from advrec.train.gan.builder import build_game, build_gan_model


@pytest.fixture(scope="module")
def train() -> Interactions:
    raw = make_synthetic(SyntheticConfig(n_users=60, n_items=80, interactions_per_user=12))
    return Interactions.from_raw(raw.users, raw.items)


def gan_config(name: str, **gan) -> RunConfig:
    """A run config for a small GAN; ``gan`` entries update the ``gan`` section (nested dicts merge)."""
    section = {
        "name": name,
        "generator": {"optimizer": {"lr": 1e-2}, "batch_size": 16},
        "discriminator": {"optimizer": {"lr": 1e-2}, "batch_size": 32},
        "cfgan": {"g_hidden": [32], "d_hidden": [16]},
        "irgan": {"dim": 8, "init_std": 0.1},
    }
    for key, value in gan.items():
        if isinstance(value, dict) and isinstance(section.get(key), dict):
            section[key] = {**section[key], **value}
        else:
            section[key] = value
    return parse_config({"seed": 3, "train": {"epochs": 20}, "gan": section})


@pytest.fixture
def make_game(train):
    def make(name: str, **gan):
        config = gan_config(name, **gan)
        model = build_gan_model(config, train)
        return model, build_game(config, model, train)

    return make
