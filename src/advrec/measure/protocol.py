"""The evaluation protocol of a run: valid ranks past train; test ranks past train + valid."""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from advrec.data.split import Split
from advrec.errors import warn
from advrec.measure.config import EvalConfig
from advrec.measure.ranking import evaluate_ranking, topk_items
from advrec.models.base import Deltas, Recommender, Scorer


def validation_metrics(cfg: EvalConfig) -> list[str]:
    """The metrics computed every epoch: AUC (a sort of every score row, ~2x the cost of the rest) is
    left out unless it is the selection metric; test always has it."""
    select = cfg.select_metric.split("@")[0]
    return [m for m in cfg.metrics if m != "auc" or select == "auc"]


class EvaluationProtocol(typing.Protocol):
    """What the trainer, the probes and the reports need of a protocol: valid metrics for selection,
    test metrics (optionally under a perturbation), the valid split ranked as a test, top-k lists."""

    def validate(self, model: Any) -> dict[str, float]: ...

    def test_metrics(self, model: Any, per_user: bool = False, deltas: Deltas | None = None) -> dict: ...

    def valid_as_test(self) -> EvaluationProtocol: ...

    def test_topk(self, model: Any, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    def test_scorer(self, model: Any) -> Scorer: ...

    def with_test(self, test: sp.csr_matrix) -> EvaluationProtocol: ...

    @property
    def seen_at_test(self) -> sp.csr_matrix: ...


@dataclass(frozen=True)
class Protocol:
    train: sp.csr_matrix
    valid: sp.csr_matrix
    test: sp.csr_matrix
    seen_at_test: sp.csr_matrix
    cfg: EvalConfig
    device: str = "cpu"

    @classmethod
    def from_split(cls, split: Split, cfg: EvalConfig, device: str = "cpu") -> Protocol:
        train, valid, test = split.train.csr(), split.valid.csr(), split.test.csr()
        seen = (train + valid).tocsr()
        seen.data[:] = 1.0
        return cls(train, valid, test, seen, cfg, device)

    def _run(
        self,
        model: Recommender,
        truth: sp.csr_matrix,
        exclude: sp.csr_matrix,
        metrics: list[str],
        deltas: Deltas | None = None,
        **kw,
    ) -> dict:
        return evaluate_ranking(
            model.scorer(deltas),
            truth,
            exclude,
            self.cfg.ks,
            metrics,
            memory_budget_mb=self.cfg.memory_budget_mb,
            device=self.device,
            **kw,
        )

    def validate(self, model: Recommender) -> dict[str, float]:
        """Valid metrics for model selection, every epoch (see ``validation_metrics``)."""
        return self._run(model, self.valid, self.train, validation_metrics(self.cfg))

    def test_metrics(self, model: Recommender, per_user: bool = False, deltas: Deltas | None = None) -> dict:
        """Test metrics; ``deltas`` perturb the embedding tables (robustness probes)."""
        return self._run(model, self.test, self.seen_at_test, self.cfg.metrics, deltas, per_user=per_user)

    def valid_as_test(self) -> Protocol:
        """This protocol with valid in the place of test (ranked past train): the probes' view of valid."""
        return replace(self, test=self.valid, seen_at_test=self.train)

    def test_scorer(self, model: Recommender) -> Scorer:
        """users -> the scores of every item, as the test ranks them."""
        return model.scorer()

    def with_test(self, test: sp.csr_matrix) -> Protocol:
        """This protocol with other test interactions (ranked past the same train + valid)."""
        return replace(self, test=test)

    def test_topk(self, model: Recommender, k: int):
        """Top-k items of every user with test items, ranked past train + valid."""
        users = np.flatnonzero(self.test.getnnz(axis=1) > 0)
        items = topk_items(
            self.test_scorer(model),
            users,
            self.seen_at_test,
            k,
            memory_budget_mb=self.cfg.memory_budget_mb,
            device=self.device,
        )
        return users, items


def say_undefined(metrics: dict[str, float], split: str = "test") -> None:
    """Say which metrics came out NaN: undefined, not failed (AUC of users with no item left to rank
    below their test items, e.g. a user who rated the whole catalogue). Recorded as NaN, never silently."""
    undefined = [k for k, v in metrics.items() if isinstance(v, float) and math.isnan(v)]
    if undefined:
        warn(
            f"{split} {', '.join(undefined)} undefined (NaN): no {split} user had what it needs "
            "(AUC: an item left to rank below their test items); recorded as NaN"
        )
