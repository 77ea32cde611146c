"""Synthetic labelled profile sets for the detection tests (imported by name; the fixture is in
conftest): genuine users from a latent-factor model, fakes from an average attack (target at the top
rating, filler items near each item's mean)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def latent_factor_ratings(
    rng: np.random.Generator, n_users: int, n_items: int, density: float = 0.08, dim: int = 4
) -> sp.csr_matrix:
    """Ratings 1..5 = round(3 + <p_u, q_i> + noise), observed with probability ∝ item popularity."""
    p = rng.normal(0, 0.6, (n_users, dim))
    q = rng.normal(0, 0.6, (n_items, dim))
    scores = 3 + p @ q.T + rng.normal(0, 0.5, (n_users, n_items))
    popularity = rng.pareto(1.5, n_items) + 0.2
    prob = np.minimum(1.0, density * n_items * popularity / popularity.sum())
    observed = rng.random((n_users, n_items)) < prob[None, :]
    observed[np.arange(n_users), rng.integers(0, n_items, n_users)] = True  # nobody is empty
    ratings = np.clip(np.rint(scores), 1, 5) * observed
    return sp.csr_matrix(ratings)


def average_attack(
    rng: np.random.Generator, genuine: sp.csr_matrix, n_fake: int, filler: int, target: int
) -> sp.csr_matrix:
    """Each fake rates ``target`` 5 and ``filler`` random other items at round(N(item mean, item std))."""
    dense = genuine.toarray()
    rated = dense > 0
    counts = np.maximum(rated.sum(axis=0), 1)
    mean = dense.sum(axis=0) / counts
    std = np.sqrt(np.maximum((dense**2).sum(axis=0) / counts - mean**2, 0.0))
    fakes = np.zeros((n_fake, dense.shape[1]))
    candidates = np.setdiff1d(np.arange(dense.shape[1]), [target])
    for row in range(n_fake):
        items = rng.choice(candidates, size=filler, replace=False)
        fakes[row, items] = np.clip(np.rint(rng.normal(mean[items], std[items])), 1, 5)
        fakes[row, target] = 5
    return sp.csr_matrix(fakes)


def attacked_set(seed: int = 0, n_users: int = 300, n_items: int = 150, n_fake: int = 30, filler: int = 15):
    rng = np.random.default_rng(seed)
    genuine = latent_factor_ratings(rng, n_users, n_items)
    fakes = average_attack(rng, genuine, n_fake, filler, target=int(rng.integers(n_items)))
    matrix = sp.vstack([genuine, fakes]).tocsr()
    labels = np.r_[np.zeros(n_users, dtype=np.int8), np.ones(n_fake, dtype=np.int8)]
    return matrix, labels


def write_labelled_set(folder, matrix: sp.csr_matrix, labels: np.ndarray) -> tuple:
    """The set as the two text files of the SDLib format, with string user ids."""
    coo = matrix.tocoo()
    lines = [f"u{u} i{i} {r:g}" for u, i, r in zip(coo.row, coo.col, coo.data)]
    ratings = folder / "ratings.txt"
    ratings.write_text("\n".join(lines) + "\n")
    labels_path = folder / "labels.txt"
    labels_path.write_text("".join(f"u{u} {int(v)}\n" for u, v in enumerate(labels)))
    return ratings, labels_path
