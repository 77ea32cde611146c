"""The symmetric-normalised user-item adjacency used by graph recommenders (LightGCN).

Built directly as a sparse matrix from the interaction lists: the dense (n_users + n_items)^2 matrix
never exists.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from advrec.data.interactions import Interactions


def normalized_adjacency(train: Interactions) -> torch.Tensor:
    """D^-1/2 A D^-1/2 of the bipartite graph [[0, R], [R^T, 0]] as a coalesced sparse COO tensor.

    COO rather than CSR: autograd through ``adj @ dense`` is mature for COO (CSR is still beta).
    """
    n_users, n_items = train.n_users, train.n_items
    r = train.csr().tocoo()
    rows = np.concatenate([r.row, r.col + n_users])
    cols = np.concatenate([r.col + n_users, r.row])
    n = n_users + n_items
    degree = np.bincount(rows, minlength=n).astype(np.float64)
    inv_sqrt = np.zeros(n)
    inv_sqrt[degree > 0] = degree[degree > 0] ** -0.5
    values = (inv_sqrt[rows] * inv_sqrt[cols]).astype(np.float32)
    adj = sp.csr_matrix((values, (rows, cols)), shape=(n, n)).tocoo()
    indices = torch.from_numpy(np.vstack([adj.row, adj.col]).astype(np.int64))
    tensor = torch.sparse_coo_tensor(indices, torch.from_numpy(adj.data), size=(n, n), check_invariants=False)
    return tensor.coalesce()
