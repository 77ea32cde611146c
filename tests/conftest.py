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
