"""The symmetric-normalised user-item adjacency used by graph recommenders (LightGCN).

Built directly as a sparse matrix from the interaction lists: the dense (n_users + n_items)^2 matrix
never exists.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch

from advrec.data.interactions import Interactions


def normalized_adjacency(train: Interactions) -> torch.Tensor:
    """D^-1/2 A D^-1/2 of the bipartite graph [[0, R], [R^T, 0]] as a sparse CSR tensor.

    The matrix is symmetric; :func:`symmetric_matmul` uses that for its backward pass.
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
    adj = sp.csr_matrix((values, (rows, cols)), shape=(n, n))
    adj.sort_indices()
    with warnings.catch_warnings():  # "CSR support is in beta": we only use CSR @ dense, which is stable
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(adj.indptr.astype(np.int64)),
            torch.from_numpy(adj.indices.astype(np.int64)),
            torch.from_numpy(adj.data),
            size=(n, n),
            check_invariants=False,
        )


class _SymmetricMatmul(torch.autograd.Function):
    """``adj @ dense`` whose backward is ``adj @ grad`` (adj^T = adj): no sparse transpose per step.

    Autograd's generic sparse backward transposes and re-sorts the matrix on every call, which made
    one LightGCN step about 8x slower on ML-100K.
    """

    @staticmethod
    def forward(ctx, adj: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        ctx.adj = adj
        return adj @ dense

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return None, ctx.adj @ grad


def symmetric_matmul(adj: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
    """``adj @ dense`` for a symmetric sparse ``adj``, differentiable in ``dense``."""
    return _SymmetricMatmul.apply(adj, dense)
