"""Settings of evaluation (``eval``): cut-offs, metrics, model selection, and validation under attack."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from advrec.config.base import Strict


class AdversarialValidConfig(Strict):
    """Valid metrics under the probe's FGSM (or PGD) move of the embedding rows, every epoch."""

    eps: float = Field(..., gt=0, description="the FGSM radius, per row")
    eps_mode: Literal["absolute", "relative"] = Field(
        "relative", description="relative: each row moved by eps times its own norm"
    )
    targets: list[str] | None = Field(None, description="the tables to perturb; default all the model's")
    attack: Literal["fgsm", "pgd"] = Field(
        "fgsm",
        description="pgd: pgd_steps projected steps (harder to fool by selection, pgd_steps x the cost)",
    )
    pgd_steps: int = Field(5, ge=1, description="attack pgd: projected steps")


class EvalConfig(Strict):
    """Evaluation: the metrics at each cut-off, model selection on valid, and validation under attack."""

    ks: list[int] = Field(default_factory=lambda: [10, 20], description="cut-offs K of the top-K metrics")
    metrics: list[str] = Field(
        default_factory=lambda: ["precision", "recall", "f1", "ndcg", "hit", "mrr", "map", "auc"],
        description="precision, recall, f1, ndcg, hit, mrr, map (each @K) and auc",
    )
    select_metric: str = Field("ndcg@10", description="validation metric for model selection")
    memory_budget_mb: float = Field(
        256.0, gt=0, description="full ranking runs in chunks of users whose score matrix fits this budget"
    )
    sequential_mask_seen: bool = Field(
        False,
        description="sequential models: exclude the history from the ranking (RecBole does not); the "
        "other choice is reported too, its metrics prefixed 'masked_' or 'unmasked_'",
    )
    adversarial_valid: AdversarialValidConfig | None = Field(
        None,
        description="also compute every valid metric under the FGSM probe (prefixed 'adv_'), each epoch, "
        "so that select_metric: adv_ndcg@10 keeps the epoch most accurate under attack (robust early "
        "stopping: adversarial robustness on held-out data peaks early and then decays)",
    )

    @model_validator(mode="after")
    def _adversarial_selection_needs_the_probe(self) -> EvalConfig:
        if self.select_metric.startswith("adv_") and self.adversarial_valid is None:
            raise ValueError(
                f"select_metric {self.select_metric!r} is a metric under attack: set "
                "eval.adversarial_valid (e.g. {eps: 0.5, eps_mode: relative})"
            )
        return self

    @field_validator("ks")
    @classmethod
    def _positive_ks(cls, v: list[int]) -> list[int]:
        if not v or any(k < 1 for k in v):
            raise ValueError(f"ks must be a non-empty list of positive integers; got {v}")
        return sorted(set(v))
