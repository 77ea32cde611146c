"""Tiny synthetic data and GAN builders shared by the GAN tests."""

import pytest

from advrec.data.config import SyntheticConfig
from advrec.data.interactions import Interactions
from advrec.data.synthetic import make_synthetic
from advrec.models.registry import build_model
from advrec.runs.config import RunConfig, parse_config
from advrec.train.gan.builder import build_game
from advrec.utils.seeding import torch_generator


@pytest.fixture(scope="module")
def train() -> Interactions:
    raw = make_synthetic(SyntheticConfig(n_users=60, n_items=80, interactions_per_user=12))
    return Interactions.from_raw(raw.users, raw.items)


SMALL = {"cfgan": {"g_hidden": [32], "d_hidden": [16]}, "irgan": {"dim": 8, "init_std": 0.1}}


def gan_config(name: str, **gan) -> RunConfig:
    """A run config for a small GAN model; ``gan`` entries update the ``model`` section (nested dicts
    merge)."""
    section = {
        "name": name,
        "generator": {"optimizer": {"lr": 1e-2}, "batch_size": 16},
        "discriminator": {"optimizer": {"lr": 1e-2}, "batch_size": 32},
        **SMALL[name],
    }
    for key, value in gan.items():
        if isinstance(value, dict) and isinstance(section.get(key), dict):
            section[key] = {**section[key], **value}
        else:
            section[key] = value
    return parse_config({"seed": 3, "train": {"epochs": 20}, "model": section})


@pytest.fixture
def make_game(train):
    def make(name: str, **gan):
        config = gan_config(name, **gan)
        model = build_model(config.model, train, torch_generator(config.seed, "init"))
        return model, build_game(config.model, model, train, config.train, config.seed)

    return make
