"""The evaluation protocol of a sequential model: rank the next item past the user's history.

Valid: the history is the train sequence, the truth the valid item. Test: the history is train + valid,
the truth the test item. Every item is ranked (full ranking, no sampled negatives). Whether the history's
items are excluded from the ranking is a choice (``eval.sequential_mask_seen``): RecBole does not
exclude them for sequential models, general recommenders here always do. Test reports both: the chosen
one under the plain metric names, the other prefixed ``masked_`` or ``unmasked_``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from advrec.data.sequences import append_targets, padded_histories, user_sequences
from advrec.data.split import Split
from advrec.measure.config import EvalConfig
from advrec.measure.protocol import Protocol, validation_metrics
from advrec.measure.ranking import evaluate_ranking, topk_items
from advrec.models.base import Deltas, Scorer


@dataclass(frozen=True)
class SequentialProtocol:
    valid_histories: torch.Tensor
    test_histories: torch.Tensor
    train: sp.csr_matrix
    valid: sp.csr_matrix
    test: sp.csr_matrix
    seen_at_test: sp.csr_matrix
    cfg: EvalConfig
    device: str = "cpu"

    @classmethod
    def from_split(
        cls, split: Split, cfg: EvalConfig, max_len: int, device: str = "cpu"
    ) -> SequentialProtocol:
        train_seqs = user_sequences(split.train)
        test_seqs = append_targets(train_seqs, split.valid)
        general = Protocol.from_split(split, cfg, device)  # the same truth and seen-item matrices
        return cls(
            torch.from_numpy(padded_histories(train_seqs, max_len)).to(device),
            torch.from_numpy(padded_histories(test_seqs, max_len)).to(device),
            general.train,
            general.valid,
            general.test,
            general.seen_at_test,
            cfg,
            device,
        )

    def _run(
        self,
        model,
        histories: torch.Tensor,
        truth: sp.csr_matrix,
        seen: sp.csr_matrix,
        mask_seen: bool,
        metrics: list[str],
        deltas: Deltas | None = None,
        per_user: bool = False,
    ) -> dict[str, Any]:
        return evaluate_ranking(
            lambda users: model.sequence_scores(histories[users.to(histories.device)], deltas),
            truth,
            seen if mask_seen else None,
            self.cfg.ks,
            metrics,
            memory_budget_mb=self.cfg.memory_budget_mb,
            device=self.device,
            per_user=per_user,
        )

    def validate(self, model) -> dict[str, float]:
        """Valid metrics for model selection (AUC only if it selects, as in ``Protocol.validate``)."""
        mask = self.cfg.sequential_mask_seen
        metrics = validation_metrics(self.cfg)
        return self._run(model, self.valid_histories, self.valid, self.train, mask, metrics)

    def test_metrics(self, model, per_user: bool = False, deltas: Deltas | None = None) -> dict[str, Any]:
        """Test metrics with the configured masking, plus the other masking's under a prefix."""
        mask = self.cfg.sequential_mask_seen
        args = (self.test_histories, self.test, self.seen_at_test)
        main = self._run(model, *args, mask, self.cfg.metrics, deltas, per_user)
        other = self._run(model, *args, not mask, self.cfg.metrics, deltas)
        prefix = "unmasked_" if mask else "masked_"
        return {**main, **{prefix + key: value for key, value in other.items()}}

    def valid_as_test(self) -> SequentialProtocol:
        """This protocol with valid in the place of test (history = train): the probes' view of valid."""
        return replace(self, test_histories=self.valid_histories, test=self.valid, seen_at_test=self.train)

    def test_scorer(self, model) -> Scorer:
        """users -> the scores of every next item after the user's test history (train + valid)."""
        histories = self.test_histories
        return lambda users: model.sequence_scores(histories[users.to(histories.device)])

    def with_test(self, test: sp.csr_matrix) -> SequentialProtocol:
        """This protocol with other test interactions (after the same histories)."""
        return replace(self, test=test)

    def test_topk(self, model, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k next items of every test user after train + valid, with the configured masking."""
        users = np.flatnonzero(self.test.getnnz(axis=1) > 0)
        items = topk_items(
            self.test_scorer(model),
            users,
            self.seen_at_test if self.cfg.sequential_mask_seen else None,
            k,
            memory_budget_mb=self.cfg.memory_budget_mb,
            device=self.device,
        )
        return users, items
