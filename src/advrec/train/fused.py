"""A fused gradient kernel for the commonest case: BPR-MF trained without adversaries.

An eager autograd step for BPR-MF is ~30 small tensor operations (gathers, products, log-sigmoid,
scatter-add backward), each a full pass over a [batch, dim] tensor; on a small CPU that overhead, not
arithmetic, dominates an epoch. The kernel here computes the same loss and the same gradients in one
pass over the batch (three rows touched per pair, as in Cornac's Cython SGD), writes them into the
parameters' ``.grad``, and leaves the update to the configured torch optimizer, so optimizers,
schedules, gradient clipping and checkpoints behave exactly as on the autograd path. Gradients agree
with autograd to float32 rounding (asserted in the tests); the summation order differs, so runs are
not bit-identical across the two paths.

It applies only where it is exact: the model is ``MF``, the objective is the BPR pair loss (+ L2), no
hook changes the loss (``on_loss``, ``batch_loss``) or perturbs the inputs (``input_deltas``), one
process (DDP needs autograd's all-reduce), CPU tensors, and numba present.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from advrec.errors import ConfigError
from advrec.models.mf import MF
from advrec.objectives.losses import bpr_loss
from advrec.train.hooks import TrainHook

Batch = dict[str, torch.Tensor]
# LLVM's fast-math flags but no-NaN and no-inf: a diverging run must still see its NaN or infinity
SAFE_FASTMATH = {"reassoc", "contract", "nsz", "arcp", "afn"}
# hook methods whose override means the loss is no longer plain BPR on MF
_LOSS_CHANGING_HOOKS = ("on_loss", "batch_loss", "input_deltas")
FusedStep = Callable[[Batch], float]


def _bpr_mf_kernel_py(
    P: np.ndarray,
    Q: np.ndarray,
    users: np.ndarray,
    pos: np.ndarray,
    neg: np.ndarray,
    l2: float,
    grad_p: np.ndarray,
    grad_q: np.ndarray,
) -> float:
    """Loss of the batch; adds d loss / d P and d Q into ``grad_p``/``grad_q`` (which start at zero).

    loss = mean over (b, k) of softplus(-(<P_u, Q_i> - <P_u, Q_j>)) + l2 / 2 / B * (sum of squared
    norms of every row occurrence used), which is exactly ``PairwiseObjective(bpr_loss, l2)`` on MF.
    Written for numba (plain loops); also correct, if slow, as Python.

    A score that is not finite (parameters that overflowed, a learning rate far too high) stops the
    kernel at once with a NaN loss, which the guarded step refuses before any parameter moves.
    """
    n_rows = users.shape[0]
    n_neg = neg.shape[1]
    dim = P.shape[1]
    scale = 1.0 / (n_rows * n_neg)
    reg = l2 / n_rows
    loss = 0.0
    sq_norms = 0.0
    for b in range(n_rows):
        u = users[b]
        i = pos[b]
        if reg > 0.0:
            for f in range(dim):
                sq_norms += P[u, f] * P[u, f] + Q[i, f] * Q[i, f]
                grad_p[u, f] += reg * P[u, f]
                grad_q[i, f] += reg * Q[i, f]
        for k in range(n_neg):
            j = neg[b, k]
            x = 0.0
            for f in range(dim):
                x += P[u, f] * (Q[i, f] - Q[j, f])
            if not math.isfinite(x):
                return math.nan
            # softplus(-x) = -log sigmoid(x), in the form that never overflows
            loss += max(-x, 0.0) + math.log1p(math.exp(-abs(x)))
            # d softplus(-x) / dx = -sigmoid(-x), again in a form that never overflows
            if x >= 0.0:
                e = math.exp(-x)
                g = -scale * e / (1.0 + e)
            else:
                g = -scale / (1.0 + math.exp(x))
            for f in range(dim):
                pu = P[u, f]
                grad_p[u, f] += g * (Q[i, f] - Q[j, f])
                grad_q[i, f] += g * pu
                grad_q[j, f] -= g * pu
            if reg > 0.0:
                for f in range(dim):
                    sq_norms += Q[j, f] * Q[j, f]
                    grad_q[j, f] += reg * Q[j, f]
    return loss * scale + 0.5 * reg * sq_norms


@functools.cache
def _compiled_kernel() -> Callable[..., float] | None:
    """The numba-compiled kernel (compiled once per process), or None when numba is not installed."""
    try:
        import numba
    except ImportError:
        return None
    # fastmath without its no-NaN/no-inf flags (with them a NaN score was undefined behaviour: it raised
    # a ZeroDivisionError from inside the kernel); error_model numpy: no Python zero-division checks
    return numba.njit(cache=True, fastmath=SAFE_FASTMATH, nogil=True, error_model="numpy")(_bpr_mf_kernel_py)


class FusedBPRMF:
    """Computes loss and gradients of BPR(+L2) for MF in one pass; the optimizer does the update."""

    def __init__(self, model: MF, l2: float, kernel: Callable[..., float]) -> None:
        self.model = model
        self.l2 = float(l2)
        self.kernel = kernel
        self._warm_up()

    def _warm_up(self) -> None:
        # numba compiles on the first call (about a second); do it now, not inside the first epoch's timing.
        P = np.zeros((2, 1), dtype=np.float32)
        index = np.zeros(1, dtype=np.int64)
        self.kernel(P, P, index, index, index.reshape(1, 1), self.l2, P.copy(), P.copy())

    def __call__(self, batch: Batch) -> float:
        user_weight = self.model.user_embedding.weight
        item_weight = self.model.item_embedding.weight
        grad_p = torch.zeros_like(user_weight)
        grad_q = torch.zeros_like(item_weight)
        loss = self.kernel(
            user_weight.detach().numpy(),
            item_weight.detach().numpy(),
            batch["users"].numpy(),
            batch["pos"].numpy(),
            batch["neg"].numpy(),
            self.l2,
            grad_p.numpy(),
            grad_q.numpy(),
        )
        user_weight.grad = grad_p
        item_weight.grad = grad_q
        return float(loss)


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """torch on one thread while the fused kernel trains, then back to what it was.

    The kernel is serial, and the fused Adam over a few hundred thousand parameters gains nothing from a
    second thread; but a second OpenMP thread spinning after each torch call took the core the kernel ran
    on (2 vCPUs here): a quiet ML-100K epoch took 62 ms with 2 threads and 32 ms with 1.
    """
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def why_not_fused(
    model: Any, objective: Any, hooks: Sequence[TrainHook], distributed: bool, device: torch.device
) -> str:
    """Empty when the fused kernel computes exactly what autograd would; else the reason it does not."""
    if type(model) is not MF:
        return f"the model is {type(model).__name__}, not MF"
    if getattr(objective, "loss", None) is not bpr_loss:
        return "the objective is not BPR"
    changers = [
        type(h).__name__
        for h in hooks
        if any(getattr(type(h), name) is not getattr(TrainHook, name) for name in _LOSS_CHANGING_HOOKS)
    ]
    if changers:
        return f"{', '.join(changers)} adds to the loss (it needs autograd)"
    if distributed:
        return "DDP averages gradients through autograd"
    if device.type != "cpu":
        return f"the kernel runs on the CPU, the run on {device}"
    params = (model.user_embedding.weight, model.item_embedding.weight)
    if any(p.dtype != torch.float32 or not p.is_contiguous() for p in params):
        return "the embeddings are not contiguous float32"
    return ""


def build_fused_step(
    mode: str,
    model: Any,
    objective: Any,
    hooks: Sequence[TrainHook],
    distributed: bool,
    device: torch.device,
) -> FusedStep | None:
    """The fused step for ``train.kernel`` = auto/fused/autograd; None means: use autograd."""
    if mode == "autograd":
        return None
    reason = why_not_fused(model, objective, hooks, distributed, device)
    kernel = None if reason else _compiled_kernel()
    if kernel is None:
        if mode == "fused":
            why = reason or "numba is not installed"
            raise ConfigError(f"train.kernel: 'fused' asked for, but the kernel does not apply: {why}")
        return None
    return FusedBPRMF(model, objective.l2, kernel)
