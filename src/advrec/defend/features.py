"""Rating-statistics features of each user profile, the classic shilling-detection attributes.

Input: a users × items CSR matrix, 0 = unrated. Notation: ``n_u`` the number of items user u rated,
``NR_i`` the number of ratings of item i, ``r̄_i`` item i's mean rating (over all users of the matrix,
the profile itself included, as in SDLib), ``r̄_u`` and ``σ_u`` the user's mean and population std.

* ``length`` n_u; ``mean`` r̄_u; ``std`` σ_u; ``max_share`` share of u's ratings equal to the matrix's
  highest rating (push attacks give their targets the top rating).
* ``rdma`` Rating Deviation from Mean Agreement (Chirita et al. 2005): Σ_i |r_ui − r̄_i| / NR_i / n_u.
* ``wdma`` Weighted Deviation from Mean Agreement (Williams et al. 2006): Σ_i |r_ui − r̄_i| / NR_i² / n_u.
* ``wda`` Weighted Degree of Agreement (Williams et al. 2006): Σ_i |r_ui − r̄_i| / NR_i.
* ``length_var`` (Burke et al. 2006): |n_u − n̄| / Σ_v (n_v − n̄)² (0 when every profile has one length).
* ``degsim`` Degree of Similarity with top neighbours (Chirita et al. 2005): the mean Pearson correlation
  with the ``k`` most similar other users, Pearson over co-rated items (deviations from each user's own
  mean r̄_u); pairs with fewer than ``min_common`` co-rated items are not neighbours. A user with fewer
  than k neighbours averages over those it has (0 with none).
* ``meanvar`` Filler Mean Variance (Williams et al. 2006, for average/random attacks): the profile is split
  into one target, chosen among the items u rated at its own maximum so that the variance is smallest, and
  the filler (the rest); meanvar = Σ_{j ∈ filler} (r_uj − r̄_j)² / |filler|. Removing the item with the
  largest squared deviation minimises it, so no search is needed. 0 when the filler is empty.
* ``fmtd`` Filler Mean Target Difference (Williams et al. 2006), on the same split: |r_target − mean filler|.
* ``pop_mean``/``pop_std``: mean and std of log(1 + NR_i) over u's items (bandwagon fillers are popular,
  random fillers are not).

With ``implicit=True`` (every rating 1) the rating-valued features are constant and dropped; ``degsim``
uses cosine similarity of the 0/1 rows instead of Pearson. Everything is vectorised over the sparse
matrix; only ``degsim`` loops, over blocks of ``block_users`` rows of the user × user similarity matrix
(default: as many rows as keep one dense block array near 128 MiB; it holds about six at once).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

EXPLICIT_FEATURES = (
    "length",
    "mean",
    "std",
    "max_share",
    "rdma",
    "wdma",
    "wda",
    "length_var",
    "degsim",
    "meanvar",
    "fmtd",
    "pop_mean",
    "pop_std",
)
IMPLICIT_FEATURES = ("length", "length_var", "degsim", "pop_mean", "pop_std")


def as_profile_matrix(ratings: sp.spmatrix, implicit: bool = False) -> sp.csr_matrix:
    """A float64 CSR copy without stored zeros; 0/1 when ``implicit``. Users with no rating are allowed."""
    matrix = sp.csr_matrix(ratings, dtype=np.float64, copy=True)
    matrix.eliminate_zeros()
    matrix.sort_indices()
    if implicit:
        matrix.data[:] = 1.0
    if not np.isfinite(matrix.data).all():
        raise ValueError("rating matrix holds NaN or infinite values")
    return matrix


def _row_sums(matrix: sp.csr_matrix) -> np.ndarray:
    return np.asarray(matrix.sum(axis=1)).ravel()


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros(np.broadcast_shapes(num.shape, den.shape), dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


@dataclass(frozen=True)
class ProfileFeatures:
    """The feature extractor: ``transform(matrix)`` -> ``[n_users, len(names)]`` float64 array."""

    implicit: bool = False
    k: int = 10  # degsim neighbours
    min_common: int = 3  # degsim: co-rated items for a pair to count as neighbours
    block_users: int | None = None  # degsim: rows of the similarity matrix held at once (None: auto)

    @property
    def names(self) -> tuple[str, ...]:
        return IMPLICIT_FEATURES if self.implicit else EXPLICIT_FEATURES

    def transform(self, ratings: sp.spmatrix) -> np.ndarray:
        matrix = as_profile_matrix(ratings, self.implicit)
        values = compute_features(matrix, self.k, self.min_common, self.block_users, self.implicit)
        return np.column_stack([values[name] for name in self.names])


def compute_features(
    matrix: sp.csr_matrix,
    k: int = 10,
    min_common: int = 3,
    block_users: int | None = None,
    implicit: bool = False,
) -> dict[str, np.ndarray]:
    """Every feature of :data:`EXPLICIT_FEATURES` (or the implicit set) by name; see the module doc."""
    n_users, _ = matrix.shape
    rows = np.repeat(np.arange(n_users), np.diff(matrix.indptr))
    cols = matrix.indices
    r = matrix.data
    n_u = np.diff(matrix.indptr).astype(np.float64)
    nr_i = np.bincount(cols, minlength=matrix.shape[1]).astype(np.float64)

    def per_user(values: np.ndarray) -> np.ndarray:
        return np.bincount(rows, weights=values, minlength=n_users)

    out: dict[str, np.ndarray] = {"length": n_u}
    dev_len = n_u - n_u.mean() if n_users else n_u
    out["length_var"] = _safe_div(np.abs(dev_len), np.full(n_users, float(np.sum(dev_len**2))))
    log_pop = np.log1p(nr_i[cols])
    pop_mean = _safe_div(per_user(log_pop), n_u)
    out["pop_mean"] = pop_mean
    pop_var = _safe_div(per_user(log_pop**2), n_u) - pop_mean**2
    out["pop_std"] = np.sqrt(np.maximum(pop_var, 0.0))
    out["degsim"] = degsim(matrix, k, min_common, block_users, cosine=implicit)
    if implicit:
        return out

    mean_u = _safe_div(per_user(r), n_u)
    out["mean"] = mean_u
    out["std"] = np.sqrt(np.maximum(_safe_div(per_user(r**2), n_u) - mean_u**2, 0.0))
    top = r.max() if r.size else 0.0
    out["max_share"] = _safe_div(per_user((r == top).astype(np.float64)), n_u)

    mean_i = _safe_div(np.bincount(cols, weights=r, minlength=matrix.shape[1]), nr_i)
    abs_dev = np.abs(r - mean_i[cols])
    wda = per_user(abs_dev / nr_i[cols])
    out["wda"] = wda
    out["rdma"] = _safe_div(wda, n_u)
    out["wdma"] = _safe_div(per_user(abs_dev / nr_i[cols] ** 2), n_u)

    # Filler split: the target is the user's max-rated item with the largest squared deviation.
    sq_dev = (r - mean_i[cols]) ** 2
    user_max = np.full(n_users, -np.inf)
    np.maximum.at(user_max, rows, r)
    at_max = r == user_max[rows]
    target_sq = np.zeros(n_users)
    np.maximum.at(target_sq, rows[at_max], sq_dev[at_max])
    n_filler = n_u - 1
    out["meanvar"] = _safe_div(per_user(sq_dev) - target_sq, np.maximum(n_filler, 0))
    filler_mean = _safe_div(per_user(r) - np.where(n_u > 0, user_max, 0.0), np.maximum(n_filler, 0))
    out["fmtd"] = np.where(n_filler > 0, np.abs(np.where(n_u > 0, user_max, 0.0) - filler_mean), 0.0)
    return out


def degsim(
    matrix: sp.csr_matrix,
    k: int = 10,
    min_common: int = 3,
    block_users: int | None = None,
    cosine: bool = False,
) -> np.ndarray:
    """Mean similarity to each user's ``k`` most similar other users (see the module doc).

    Pearson over co-rated items, in matrix form: with C the ratings minus each user's mean on rated
    entries (0 elsewhere) and M the 0/1 pattern, numerator = C Cᵀ and the two norms over co-rated items
    are (C∘C) Mᵀ and its transpose. Cosine (implicit data): M Mᵀ / sqrt(n_u n_v).
    """
    if k < 1 or min_common < 1:
        raise ValueError(f"degsim needs k >= 1 and min_common >= 1, got k={k}, min_common={min_common}")
    n_users = matrix.shape[0]
    if block_users is None:
        block_users = max(1, (16 << 20) // max(n_users, 1))  # 16M float64 = 128 MiB per block array
    pattern = matrix.copy()
    pattern.data[:] = 1.0
    n_u = np.diff(matrix.indptr).astype(np.float64)
    if cosine:
        centred = pattern
    else:
        rows = np.repeat(np.arange(n_users), np.diff(matrix.indptr))
        mean_u = _safe_div(np.bincount(rows, weights=matrix.data, minlength=n_users), n_u)
        centred = matrix.copy()
        centred.data = matrix.data - mean_u[rows]
        squared = centred.multiply(centred).tocsr()
    pattern_t = pattern.T.tocsr()
    centred_t = centred.T.tocsr()
    result = np.zeros(n_users)
    for start in range(0, n_users, block_users):
        stop = min(start + block_users, n_users)
        common = (pattern[start:stop] @ pattern_t).toarray()
        num = (centred[start:stop] @ centred_t).toarray()
        if cosine:
            den = np.sqrt(np.outer(n_u[start:stop], n_u))
        else:
            norms = (squared[start:stop] @ pattern_t).toarray()  # [block, n]: Σ over co-rated of C_u²
            norms_other = (pattern[start:stop] @ squared.T).toarray()  # Σ over co-rated of C_v²
            den = np.sqrt(norms * norms_other)
        sim = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
        valid = common >= min_common
        valid[np.arange(stop - start), np.arange(start, stop)] = False  # a user is not its own neighbour
        sim = np.where(valid, sim, -np.inf)
        kk = min(k, n_users - 1) if n_users > 1 else 0
        if kk == 0:
            continue
        top = -np.partition(-sim, kk - 1, axis=1)[:, :kk]
        finite = np.isfinite(top)
        result[start:stop] = _safe_div(
            np.where(finite, top, 0.0).sum(axis=1), finite.sum(axis=1).astype(float)
        )
    return result
