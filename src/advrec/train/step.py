"""The one guarded update every training procedure makes: refuse a non-finite loss before the parameters
are touched, compute the gradients, average them across ranks, clip, step.

A loss that is NaN or infinite raises ``TrainingDiverged`` before ``backward``, so the parameters and the
last checkpoint stay those of the last good step (the trainer names that checkpoint in the message). So
does a finite loss that has grown ``max_growth`` times past the first one this step saw (|first| + 1): a
learning rate far too high makes the loss explode without ever reaching infinity, and such a run is as
lost as a NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from advrec.errors import TrainingDiverged

GradientAverage = Callable[[Sequence[nn.Parameter]], None]


class GuardedStep:
    """One optimizer step on a loss, for one set of parameters (a model, or one GAN player's).

    ``own_gradients``: take the gradients of ``params`` only, by ``torch.autograd.grad``, leaving every
    other parameter's ``.grad`` untouched (a GAN generator's loss flows through the discriminator, whose
    gradients must not be disturbed); otherwise ``backward`` (which DDP's gradient hooks need).
    ``average``: called on ``params`` after the gradients exist, e.g. an all-reduce across ranks.
    ``measure_norm``: return the gradient norm before clipping, refusing a non-finite one.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        params: Sequence[nn.Parameter],
        *,
        grad_clip: float | None = None,
        what: str = "training",
        own_gradients: bool = False,
        average: GradientAverage | None = None,
        measure_norm: bool = False,
        max_growth: float | None = None,
    ) -> None:
        self.optimizer = optimizer
        self.params = list(params)
        self.grad_clip = grad_clip
        self.what = what
        self.own_gradients = own_gradients
        self.average = average
        self.measure_norm = measure_norm
        self.max_growth = max_growth
        self._first: float | None = None  # the first loss seen: the scale a growth is measured against

    def __call__(
        self, loss: torch.Tensor | float, epoch: int, *, scale: float = 1.0, gradients_ready: bool = False
    ) -> float | None:
        """Step on ``loss`` (its gradients scaled by ``scale``: the DDP share of the batch). With
        ``gradients_ready`` the ``.grad`` of ``params`` already hold them (a fused kernel wrote them) and
        ``loss`` is its value. Returns the gradient norm before clipping, when measured."""
        self.check(
            float(loss) if gradients_ready or not isinstance(loss, torch.Tensor) else loss.item(), epoch
        )
        if not gradients_ready:
            if not isinstance(loss, torch.Tensor):
                raise TypeError("a loss without gradients_ready must be a tensor to differentiate")
            self._gradients(loss * scale if scale != 1.0 else loss)
        if self.average is not None:
            self.average(self.params)
        norm = None
        if self.grad_clip is not None or self.measure_norm:
            # an infinite bound measures without clipping (the gradients are multiplied by 1.0)
            norm = float(nn.utils.clip_grad_norm_(self.params, self.grad_clip or math.inf))
            if self.measure_norm and not math.isfinite(norm):
                raise TrainingDiverged(f"epoch {epoch}: the {self.what} gradient norm became {norm}")
        self.optimizer.step()
        return norm

    def check(self, value: float, epoch: int) -> None:
        """Refuse a loss that is not finite, or that grew ``max_growth`` times past the first one."""
        if not math.isfinite(value):
            raise TrainingDiverged(f"epoch {epoch}: the {self.what} loss became {value}")
        if self._first is None:
            self._first = value
        elif self.max_growth is not None and abs(value) > self.max_growth * (abs(self._first) + 1.0):
            raise TrainingDiverged(
                f"epoch {epoch}: the {self.what} loss grew to {value:.4g} from {self._first:.4g} at the "
                f"first step, more than train.max_loss_growth ({self.max_growth:g}) times (a learning rate "
                "far too high?)"
            )

    def _gradients(self, loss: torch.Tensor) -> None:
        if self.own_gradients:
            grads = torch.autograd.grad(loss, self.params, allow_unused=True)
            for param, grad in zip(self.params, grads):
                param.grad = grad
        else:
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
