"""A whole BPR-MF epoch in two numba calls: sampling, then every batch's gradients and row-sparse update.

The per-batch fused kernel (``fused.py``) still pays, per batch, a dense optimizer step over both tables
and a round of Python; over 40 ML-100K batches that is about half of its epoch. Here the batch loop
itself runs in numba: each batch computes BPR(+L2) gradients into scratch rows, then updates only the
rows the batch touched (users, positives, negatives), as Cornac's Cython SGD does.

Updating only touched rows is exact for plain SGD (an untouched row's gradient is zero), but not for
Adam, whose moments decay and move every row at every step. So the optimizer is one of:

- ``sgd`` (momentum 0, no weight decay): the same update torch's SGD would make;
- ``sparse_adam``: ``torch.optim.SparseAdam``'s update. Rows a batch touches get their moments and
  parameters updated with bias correction by the global step; untouched rows are left as they are. This
  is a different algorithm from dense Adam, hence its own optimizer name. The moments and the step live
  in the torch SparseAdam's own state, so checkpoints and resume need nothing new.

Negatives and the order come from a splitmix64 generator seeded, at the start of each epoch, with a
number drawn from the run's sampler stream: the same seed gives the same epochs, and a resumed run
(whose sampler stream is restored) the same epochs as an uninterrupted one. Negatives are uniform over
the catalogue, redrawn while they hit one of the user's training positives (a bitset of the training
pairs; above ``BITSET_LIMIT`` bits a binary search in the user's sorted CSR row, with the same draws):
the distribution of ``NegativeSampler``'s, from another random stream.
"""

from __future__ import annotations

import functools
import math
import typing
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from advrec.data.sampler import NegativeSampler
from advrec.errors import ConfigError, TrainingDiverged
from advrec.train.config import TrainConfig
from advrec.train.fused import why_not_fused
from advrec.train.hooks import TrainHook

BITSET_LIMIT = 1 << 29  # bits (64 MB): ML-1M's 6,040 x 3,706 takes 2.8 MB, Gowalla's 29,858 x 40,981 153 MB


def _sample_epoch_py(
    indptr: np.ndarray,
    indices: np.ndarray,
    row_users: np.ndarray,
    n_items: int,
    seed: int,
    out_users: np.ndarray,
    out_pos: np.ndarray,
    out_neg: np.ndarray,
    scratch: np.ndarray,
    bits: np.ndarray,
) -> None:
    """Every training pair once in a random order, each with ``out_neg.shape[1]`` non-positive items.

    Row r of the CSR (``row_users[r]``, ``indices[r]``) is one training pair; ``indices[indptr[u]:
    indptr[u+1]]`` are user u's items, sorted. Negatives are drawn row by row in CSR order (each user's
    row stays in cache while it is searched) into ``scratch``, then all rows are shuffled (Fisher-Yates).
    ``bits``, when not empty, is the bitset of the keys ``user * n_items + item`` of the training pairs:
    one load answers membership, where the binary search's unpredictable branches took 6 of ML-100K's
    7 ms; the search is the fallback for catalogues whose bitset would be too large.

    Random numbers: splitmix64 from ``seed``, bounded by a multiply-shift (Lemire): about 20x cheaper
    than numba's Mersenne-Twister ``randint`` (which took ~3 of this function's 10 ms on ML-100K), and
    defined here, so the epochs do not depend on numba's version. The multiply-shift's bias is below
    n / 2^32 per value (2e-5 for the 80,808-row shuffle of ML-100K), far below any sampling effect.
    Written for numba (uint64 arithmetic wraps there).
    """
    state = np.full(1, seed, dtype=np.uint64)

    def below(n: int) -> int:
        """A uniform draw from [0, n), n < 2^32."""
        state[0] += np.uint64(0x9E3779B97F4A7C15)
        z = state[0]
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
        return int(((z >> np.uint64(32)) * np.uint64(n)) >> np.uint64(32))

    n_neg = out_neg.shape[1]
    use_bits = bits.shape[0] > 0
    for u in range(indptr.shape[0] - 1):
        lo, hi = indptr[u], indptr[u + 1]
        for r in range(lo, hi):
            for k in range(n_neg):
                while True:
                    j = below(n_items)
                    if use_bits:
                        key = u * n_items + j
                        if not (bits[key >> 6] >> np.uint64(key & 63)) & np.uint64(1):
                            break
                        continue
                    a, b = lo, hi  # binary search (a slice's np.searchsorted costs several times more)
                    while a < b:
                        mid = (a + b) >> 1
                        if indices[mid] < j:
                            a = mid + 1
                        else:
                            b = mid
                    if a == hi or indices[a] != j:
                        break
                scratch[r, k] = j
    n = row_users.shape[0]
    order = np.arange(n)
    for k in range(n - 1, 0, -1):  # Fisher-Yates
        j = below(k + 1)
        order[k], order[j] = order[j], order[k]
    for t in range(n):
        r = order[t]
        out_users[t] = row_users[r]
        out_pos[t] = indices[r]
        for k in range(n_neg):
            out_neg[t, k] = scratch[r, k]


def _train_epoch_py(
    P: np.ndarray,
    Q: np.ndarray,
    mP: np.ndarray,
    vP: np.ndarray,
    mQ: np.ndarray,
    vQ: np.ndarray,
    users: np.ndarray,
    pos: np.ndarray,
    neg: np.ndarray,
    batch_size: int,
    l2: float,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    step: int,
    adam: bool,
    gP: np.ndarray,
    gQ: np.ndarray,
    seenP: np.ndarray,
    seenQ: np.ndarray,
    first: float,
    max_growth: float,
) -> tuple[float, int, int, float, float]:
    """Trains on the batches ``[lo, lo + batch_size)`` in order; returns (sum of batch loss × rows, step,
    the index of the batch that stopped the epoch or -1, that batch's loss, the reference loss).

    Per batch: the loss and gradients of ``PairwiseObjective(bpr_loss, l2)`` on MF (as ``fused.py``),
    accumulated into the scratch rows ``gP``/``gQ`` at the batch's starting parameters; then each touched
    row once: SGD ``p -= lr g``, or SparseAdam (``m += (1-b1)(g-m)``, ``v += (1-b2)(g²-v)``,
    ``p -= lr sqrt(1-b2^t)/(1-b1^t) m / (sqrt(v) + eps)``, t the global step). The scratch rows and the
    ``seen`` flags are left zero again for the next batch.

    Divergence is caught here, per batch, before the batch's update: a loss that is not finite, or that
    grew ``max_growth`` times past (|first| + 1), where ``first`` is the run's first batch loss (NaN: this
    call's first batch is), stops the epoch with that batch's rows untouched (as the guarded step of the
    batch loop refuses a step).
    """
    n = users.shape[0]
    n_neg = neg.shape[1]
    dim = P.shape[1]
    touchedP = np.empty(P.shape[0], dtype=np.int64)
    touchedQ = np.empty(Q.shape[0], dtype=np.int64)
    total = 0.0
    for lo in range(0, n, batch_size):
        hi = min(lo + batch_size, n)
        rows = hi - lo
        scale = 1.0 / (rows * n_neg)
        reg = l2 / rows
        n_tp = 0
        n_tq = 0
        n_bad = 0  # non-finite scores: an integer count, which no fast-math rewrite of the floats can lose
        loss = 0.0
        sq_norms = 0.0
        for b in range(lo, hi):
            u = users[b]
            i = pos[b]
            if not seenP[u]:
                seenP[u] = True
                touchedP[n_tp] = u
                n_tp += 1
            if not seenQ[i]:
                seenQ[i] = True
                touchedQ[n_tq] = i
                n_tq += 1
            p_u, q_i, gp_u, gq_i = P[u], Q[i], gP[u], gQ[i]
            if reg > 0.0:
                reg32 = np.float32(reg)
                for f in range(dim):
                    sq_norms += p_u[f] * p_u[f] + q_i[f] * q_i[f]
                for f in range(dim):
                    gp_u[f] += reg32 * p_u[f]
                for f in range(dim):
                    gq_i[f] += reg32 * q_i[f]
            for k in range(n_neg):
                j = neg[b, k]
                if not seenQ[j]:
                    seenQ[j] = True
                    touchedQ[n_tq] = j
                    n_tq += 1
                q_j, gq_j = Q[j], gQ[j]
                x32 = np.float32(0.0)  # float32, as torch's dot product: twice the vector width of float64
                for f in range(dim):
                    x32 += p_u[f] * (q_i[f] - q_j[f])
                x = float(x32)
                if not math.isfinite(x):  # an infinite score has a finite loss but NaN gradients
                    n_bad += 1
                # softplus(-x) = -log sigmoid(x) and its derivative -sigmoid(-x), from one overflow-free exp
                e = math.exp(-abs(x))
                loss += max(-x, 0.0) + math.log1p(e)
                g = np.float32(-scale * (e / (1.0 + e) if x >= 0.0 else 1.0 / (1.0 + e)))
                # one array written per loop (row views): LLVM vectorises loops with few alias checks
                for f in range(dim):
                    gp_u[f] += g * (q_i[f] - q_j[f])
                for f in range(dim):
                    gq_i[f] += g * p_u[f]
                for f in range(dim):
                    gq_j[f] -= g * p_u[f]
                if reg > 0.0:
                    for f in range(dim):
                        sq_norms += q_j[f] * q_j[f]
                    for f in range(dim):
                        gq_j[f] += reg32 * q_j[f]
        batch_loss = loss * scale + 0.5 * reg * sq_norms
        if math.isnan(first):
            first = batch_loss
        if n_bad:
            batch_loss = math.nan
        if n_bad or not math.isfinite(batch_loss) or abs(batch_loss) > max_growth * (abs(first) + 1.0):
            for t in range(n_tp):  # leave the scratch rows and flags clean, the parameters untouched
                seenP[touchedP[t]] = False
                gP[touchedP[t]] = 0.0
            for t in range(n_tq):
                seenQ[touchedQ[t]] = False
                gQ[touchedQ[t]] = 0.0
            return total, step, lo // batch_size, batch_loss, first
        total += batch_loss * rows
        step += 1
        # float32 scalars keep the row updates in float32 (as torch's), which lets LLVM vectorise them
        rate = np.float32(lr)
        if adam:
            rate = np.float32(lr * math.sqrt(1.0 - beta2**step) / (1.0 - beta1**step))
        keep1, keep2 = np.float32(1.0 - beta1), np.float32(1.0 - beta2)
        eps32 = np.float32(eps)
        for table in range(2):
            if table == 0:
                W, G, M, V, seen, touched, n_t = P, gP, mP, vP, seenP, touchedP, n_tp
            else:
                W, G, M, V, seen, touched, n_t = Q, gQ, mQ, vQ, seenQ, touchedQ, n_tq
            for t in range(n_t):
                r = touched[t]
                seen[r] = False
                g_r, w_r = G[r], W[r]
                if adam:
                    # one array written per loop: few enough alias checks for LLVM to vectorise each
                    m_r, v_r = M[r], V[r]
                    for f in range(dim):
                        m_r[f] += keep1 * (g_r[f] - m_r[f])
                    for f in range(dim):
                        v_r[f] += keep2 * (g_r[f] * g_r[f] - v_r[f])
                    for f in range(dim):
                        w_r[f] -= rate * (m_r[f] / (np.sqrt(v_r[f]) + eps32))
                else:
                    for f in range(dim):
                        w_r[f] -= rate * g_r[f]
                g_r[:] = 0.0
    return total, step, -1, 0.0, first


@functools.cache
def _compiled() -> tuple[Callable[..., None], Callable[..., tuple[float, int, int, float, float]]] | None:
    """(sampler, trainer) compiled by numba once per process, or None when numba is not installed."""
    try:
        import numba
    except ImportError:
        return None
    # error_model numpy: no zero-division checks, which block vectorisation; fastmath's reassociation lets
    # the dot products vectorise (float32 rounding-level changes, as torch's own kernels), while its
    # no-NaN/no-inf flags stay off, so a diverging run still shows a NaN loss
    jit = numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc", "contract", "nsz"})
    return jit(_sample_epoch_py), jit(_train_epoch_py)


def _csr(users: np.ndarray, items: np.ndarray, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """Each user's training items, sorted; a duplicated pair stays two training rows, as in the sampler."""
    users, items = np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
    order = np.lexsort((items, users))
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(users, minlength=n_users), out=indptr[1:])
    return indptr, items[order].astype(np.int64)


def _bitset(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> np.ndarray:
    """Bit ``u * n_items + i`` set for each training pair; empty (binary search instead) above 64 MB."""
    n_bits = n_users * n_items
    if n_bits > BITSET_LIMIT:
        return np.zeros(0, dtype=np.uint64)
    keys = users.astype(np.uint64) * np.uint64(n_items) + items.astype(np.uint64)
    bits = np.zeros((n_bits + 63) // 64, dtype=np.uint64)
    np.bitwise_or.at(bits, keys >> np.uint64(6), np.left_shift(np.uint64(1), keys & np.uint64(63)))
    return bits


def sparse_adam_state(optimizer: torch.optim.SparseAdam, param: torch.Tensor) -> dict[str, Any]:
    """The SparseAdam state of ``param``, created as SparseAdam's own first step would create it."""
    state = optimizer.state[param]
    if not state:
        state["step"] = 0
        state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
    return state


class FusedEpochBPRMF:
    """One epoch of BPR-MF (sampling, gradients, SGD/SparseAdam update) per ``run`` call."""

    def __init__(
        self,
        model: Any,
        l2: float,
        optimizer: torch.optim.Optimizer,
        sampler: NegativeSampler,
        batch_size: int,
        kernels: tuple[Callable[..., None], Callable[..., tuple[float, int, int, float, float]]],
        max_growth: float | None = None,
    ) -> None:
        self.model = model
        self.l2 = float(l2)
        self.optimizer = optimizer
        self.adam = isinstance(optimizer, torch.optim.SparseAdam)
        self.batch_size = batch_size
        self.max_growth = math.inf if max_growth is None else float(max_growth)
        self._first = math.nan  # the run's first batch loss: the scale a growth is measured against
        self.sample_kernel, self.train_kernel = kernels
        self.n_items = model.n_items
        self.n_negatives = sampler.n_negatives
        self.indptr, self.indices = _csr(sampler.users, sampler.items, model.n_users)
        self.row_users = np.repeat(np.arange(model.n_users, dtype=np.int64), np.diff(self.indptr))
        self._scratch = np.empty((len(self.indices), self.n_negatives), dtype=np.int64)
        self._bits = _bitset(self.row_users, self.indices, model.n_users, self.n_items)
        P = model.user_embedding.weight.detach().numpy()
        Q = model.item_embedding.weight.detach().numpy()
        # scratch gradient rows and touched flags, kept all-zero between batches by the kernel
        self._gP, self._gQ = np.zeros_like(P), np.zeros_like(Q)
        self._seenP = np.zeros(P.shape[0], dtype=np.bool_)
        self._seenQ = np.zeros(Q.shape[0], dtype=np.bool_)
        self._warm_up()

    def _warm_up(self) -> None:
        # numba compiles (or loads its cache) on the first call: now, not inside the first epoch's timing.
        one = np.zeros(1, dtype=np.int64)
        pair = one.reshape(1, 1)
        for bits in (np.ones(1, dtype=np.uint64), np.zeros(0, dtype=np.uint64)):
            self.sample_kernel(
                np.array([0, 1]), one, one, 2, 0, one.copy(), one.copy(), pair.copy(), pair.copy(), bits
            )
        W = np.zeros((2, 1), dtype=np.float32)
        for adam in (False, True):
            self.train_kernel(
                W, W.copy(), W.copy(), W.copy(), W.copy(), W.copy(), one, one, one.reshape(1, 1),
                1, 0.0, 0.0, 0.9, 0.999, 1e-8, 0, adam, W.copy(), W.copy(),
                np.zeros(2, dtype=np.bool_), np.zeros(2, dtype=np.bool_), math.nan, math.inf,
            )  # fmt: skip

    def sample(self, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The epoch's (users, pos, neg[n, n_negatives]) for this seed."""
        n = len(self.indices)
        out = np.empty(n, np.int64), np.empty(n, np.int64), np.empty((n, self.n_negatives), np.int64)
        self.sample_kernel(
            self.indptr, self.indices, self.row_users, self.n_items, seed, *out, self._scratch, self._bits
        )
        return out

    def train(self, users: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> float:
        """Trains on these triples batch by batch; the mean loss per row, as the batch loop reports it."""
        group = self.optimizer.param_groups[0]
        weights = (self.model.user_embedding.weight, self.model.item_embedding.weight)
        if self.adam:
            adam = typing.cast(torch.optim.SparseAdam, self.optimizer)  # self.adam says it is one
            states = [sparse_adam_state(adam, w) for w in weights]
            moments = [t.numpy() for s in states for t in (s["exp_avg"], s["exp_avg_sq"])]
            step = int(states[0]["step"])
            beta1, beta2 = group["betas"]
            eps = group["eps"]
        else:
            moments = [self._gP[:0], self._gP[:0], self._gQ[:0], self._gQ[:0]]  # unused by SGD
            step, beta1, beta2, eps = 0, 0.0, 0.0, 0.0
        with torch.no_grad():
            total, step, stopped, bad, self._first = self.train_kernel(
                weights[0].detach().numpy(), weights[1].detach().numpy(), *moments, users, pos, neg,
                self.batch_size, self.l2, float(group["lr"]), float(beta1), float(beta2), float(eps),
                step, self.adam, self._gP, self._gQ, self._seenP, self._seenQ, self._first, self.max_growth,
            )  # fmt: skip
        if self.adam:
            for s in states:
                s["step"] = int(step)
        if stopped >= 0:
            n_batches = -(-len(users) // self.batch_size)
            why = (
                f"became {bad}"
                if not math.isfinite(bad)
                else f"grew to {bad:.4g} from {self._first:.4g} at the first batch, more than "
                f"train.max_loss_growth ({self.max_growth:g}) times (a learning rate far too high?)"
            )
            raise TrainingDiverged(
                f"the training loss {why} in batch {stopped + 1} of {n_batches} of the whole-epoch kernel "
                "(that batch's update was not applied)"
            )
        return float(total) / max(len(users), 1)

    def run(self, rng: np.random.Generator) -> float:
        """One epoch; its negatives' seed is the next draw of the run's sampler stream."""
        return self.train(*self.sample(int(rng.integers(0, 2**32))))


def why_not_fused_epoch(
    config: TrainConfig,
    model: Any,
    objective: Any,
    optimizer: torch.optim.Optimizer,
    sampler: NegativeSampler,
    hooks: Sequence[TrainHook],
    distributed: bool,
    device: torch.device,
) -> str:
    """Empty when the whole-epoch kernel applies; else the reason it does not."""
    reason = why_not_fused(model, objective, hooks, distributed, device)
    if reason:
        return reason
    group = optimizer.param_groups[0]
    if isinstance(optimizer, torch.optim.SparseAdam):
        if group.get("maximize"):
            return "optimizer maximizes"
    elif type(optimizer) is torch.optim.SGD:
        if group["momentum"] or group["weight_decay"] or group["nesterov"] or group["maximize"]:
            return "its SGD is plain SGD: momentum 0, weight_decay 0 (use train.l2)"
    else:
        return f"train.optimizer.name must be sparse_adam or sgd, not {config.optimizer.name!r}"
    if config.grad_clip is not None:
        return "train.grad_clip needs the whole gradient before the update"
    if sampler.drop_fraction or sampler.add_fraction:
        return "augment's drop/add interactions are drawn by the numpy sampler"
    return ""


def build_fused_epoch(
    config: TrainConfig,
    model: Any,
    objective: Any,
    optimizer: torch.optim.Optimizer,
    sampler: NegativeSampler,
    hooks: Sequence[TrainHook],
    distributed: bool,
    device: torch.device,
) -> FusedEpochBPRMF | None:
    """The whole-epoch kernel when ``train.kernel`` is fused_epoch, or auto with sparse_adam (the only path
    that can run SparseAdam); None otherwise. Raises ConfigError where it is asked for but cannot apply."""
    sparse = isinstance(optimizer, torch.optim.SparseAdam)
    wanted = config.kernel == "fused_epoch" or (config.kernel == "auto" and sparse)
    if not wanted:
        if sparse:
            raise ConfigError(
                f"train.optimizer.name: sparse_adam runs only with train.kernel: fused_epoch (or auto), "
                f"not {config.kernel!r}"
            )
        return None
    reason = why_not_fused_epoch(config, model, objective, optimizer, sampler, hooks, distributed, device)
    kernels = None if reason else _compiled()
    if kernels is None:
        why = reason or "numba is not installed"
        raise ConfigError(f"train.kernel: the whole-epoch kernel (fused_epoch) does not apply: {why}")
    return FusedEpochBPRMF(
        model, objective.l2, optimizer, sampler, config.batch_size, kernels, config.max_loss_growth
    )
