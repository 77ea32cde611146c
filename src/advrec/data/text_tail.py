"""The least popular items, where text features should help most: a test protocol restricted to them.

Tail items: the ceil(share * n_items) items with the fewest TRAINING interactions (items with none count
too), ties broken by the lower item index, so the set has exactly that size and is reproducible.

Tail metrics: the run's test protocol unchanged (full ranking over every item not in the user's train or
valid profile) except that only test interactions with a tail item count as relevant. A user with no tail
test item is left out, as users without test items always are; so "NDCG@10 on the tail" is the mean over
users with at least one tail test item of NDCG@10 computed against their tail test items alone.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import scipy.sparse as sp

from advrec.data.interactions import Interactions
from advrec.evaluation.protocol import Protocol


def tail_items(train: Interactions, share: float = 0.2) -> np.ndarray:
    """Sorted item indices of the least popular ``share`` of the catalogue (see the module doc)."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    counts = np.bincount(train.items, minlength=train.n_items)
    order = np.lexsort((np.arange(train.n_items), counts))  # fewest first, then lower index
    return np.sort(order[: math.ceil(share * train.n_items)])


def restrict_test(protocol: Protocol, items: np.ndarray) -> Protocol:
    """``protocol`` whose test relevance keeps only the columns ``items``; exclusions unchanged."""
    keep = np.zeros(protocol.test.shape[1])
    keep[np.asarray(items, dtype=np.int64)] = 1.0
    test = (protocol.test @ sp.diags(keep)).tocsr()
    test.eliminate_zeros()
    return dataclasses.replace(protocol, test=test)
