"""Pure loss functions on score tensors (mean over the batch)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bpr_loss(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """-log sigmoid(s_ui - s_uj), averaged; ``pos`` [N], ``neg`` [N, M] (each negative paired with pos)."""
    return -F.logsigmoid(pos.unsqueeze(-1) - neg).mean()


def bce_loss(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Pointwise log loss: positives labelled 1, sampled negatives 0; each group averaged, then summed."""
    pos_term = F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos))
    neg_term = F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg))
    return pos_term + neg_term
