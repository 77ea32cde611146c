"""Shared test helpers."""

import pytest

from advrec.train.hooks import TrainHook


class CrashAt(TrainHook):
    """Simulates a kill: raises when an epoch starts, after the previous epoch's checkpoint."""

    def __init__(self, at_epoch: int):
        self.at_epoch = at_epoch

    def on_epoch_start(self, epoch: int) -> None:
        if epoch == self.at_epoch:
            raise KeyboardInterrupt


@pytest.fixture
def crash_at():
    """A factory: ``crash_at(3)`` is a hook that kills the run when epoch 3 starts."""
    return CrashAt


@pytest.fixture
def adversary_of():
    """``adversary_of(config, objective, full_data=None, world_size=1)``: the hooks of ``config``'s
    adversary on a small model of ``config.model`` (built on tiny synthetic data), as a run builds them."""
    import torch

    from advrec.data.config import SyntheticConfig
    from advrec.data.interactions import Interactions
    from advrec.data.synthetic import make_synthetic
    from advrec.models.registry import build_model, reads_item_features
    from advrec.train.adversaries.registry import AdversaryContext, build_adversary

    raw = make_synthetic(SyntheticConfig(n_users=20, n_items=30, interactions_per_user=6))
    train = Interactions.from_raw(raw.users, raw.items)

    def build(config, objective, full_data=None, world_size=1):
        features = torch.rand(train.n_items, 4) if reads_item_features(config.model.name) else None
        model = build_model(config.model, train, torch.Generator().manual_seed(0), features)
        context = AdversaryContext(
            model=model,
            objective=objective,
            seed=config.seed,
            epochs=config.train.epochs,
            select_metric=config.eval.select_metric,
            full_data=full_data,
            world_size=world_size,
        )
        return build_adversary(config.adversary, context)

    return build
