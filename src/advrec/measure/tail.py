"""The least popular items, where text features should help most: a test protocol restricted to them.

Tail items, two ways, both ordering items by their number of TRAINING interactions (fewest first, items
with none included, ties broken by the lower item index, so the sets are reproducible):

* :func:`tail_items`: the ceil(share * n_items) first items (a share of the catalogue);
* :func:`tail_items_by_test_share`: the shortest prefix holding at least ``share`` of the TEST
  interactions (a share of what is tested). On MovieLens-100K the catalogue's bottom 20% has so few test
  interactions, and no model ranks them in anyone's top 10, that the second is the informative one.

Tail metrics: the run's test protocol unchanged (full ranking over every item not in the user's train or
valid profile) except that only test interactions with a tail item count as relevant. A user with no tail
test item is left out, as users without test items always are; so "NDCG@10 on the tail" is the mean over
users with at least one tail test item of NDCG@10 computed against their tail test items alone.
:func:`restrict_valid` does the same to the validation protocol (ranking past train), with the tail
drawn from the VALID interactions (``tail_items_by_test_share(train, valid_items)``), to choose a setting
on valid without reading the test.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import scipy.sparse as sp

from advrec.data.interactions import Interactions
from advrec.measure.protocol import Protocol


def tail_items(train: Interactions, share: float = 0.2) -> np.ndarray:
    """Sorted item indices of the least popular ``share`` of the catalogue (see the module doc)."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    counts = np.bincount(train.items, minlength=train.n_items)
    order = np.lexsort((np.arange(train.n_items), counts))  # fewest first, then lower index
    return np.sort(order[: math.ceil(share * train.n_items)])


def tail_items_by_test_share(train: Interactions, test_items: np.ndarray, share: float = 0.2) -> np.ndarray:
    """Sorted indices of the least popular items (by TRAIN count, ties by lower index) that together hold
    at least ``share`` of the test interactions: the smallest such prefix of the popularity order. Unlike
    :func:`tail_items` (a share of the catalogue), this is a share of what is tested: "the 20% least
    popular test interactions", rounded up to whole items."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    counts = np.bincount(train.items, minlength=train.n_items)
    order = np.lexsort((np.arange(train.n_items), counts))
    tested = np.bincount(np.asarray(test_items), minlength=train.n_items)[order]
    need = share * tested.sum()
    n = int(np.searchsorted(np.cumsum(tested), need - 1e-9)) + 1  # first prefix reaching the share
    return np.sort(order[:n])


def _keep_columns(matrix: sp.csr_matrix, items: np.ndarray) -> sp.csr_matrix:
    keep = np.zeros(matrix.shape[1])
    keep[np.asarray(items, dtype=np.int64)] = 1.0
    out = (matrix @ sp.diags(keep)).tocsr()
    out.eliminate_zeros()
    return out


def restrict_test(protocol: Protocol, items: np.ndarray) -> Protocol:
    """``protocol`` whose test relevance keeps only the columns ``items``; exclusions unchanged."""
    return dataclasses.replace(protocol, test=_keep_columns(protocol.test, items))


def restrict_valid(protocol: Protocol, items: np.ndarray) -> Protocol:
    """``protocol`` whose VALID relevance keeps only the columns ``items`` (``validate`` ranks past train,
    as in model selection): the tail metric a setting may be chosen on without reading the test."""
    return dataclasses.replace(protocol, valid=_keep_columns(protocol.valid, items))
