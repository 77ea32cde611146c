"""What VAT and PamaCF share: APR whose radius is personal to each user of the batch.

Both methods train like APR (loss + reg_adv · pair loss at the tables + Δ_adv, Δ built from the batch's
gradient), but each user u of the batch gets its own multiplier m_u = λ · σ(x_u − 1) of ε, where x_u is
the user's score relative to the batch mean (1 for an average user, so m_u = λ/2 there; λ = 2 makes an
average user's radius ε). VAT scores how well the model fits the user, PamaCF the user's embedding
scale; each module says how (``user_multipliers``).

Rows: a user table's row u gets radius ε · m_u. An item row gets ε times the mean multiplier of the
batch examples it appears in (as positive or negative): the authors perturb each example's user and item
vectors by that example's user's multiplier, and advrec perturbs table rows (one Δ per row, as APR), so
an item row shared by several examples takes their mean. Rows the batch does not touch get no
perturbation (their gradient is zero anyway).
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field, model_validator

from advrec.errors import ConfigError
from advrec.models.base import Deltas, Recommender
from advrec.objectives.pairwise import Batch
from advrec.perturb.methods.registry import PERTURBATIONS
from advrec.train.adversaries.apr import APRHook, PerturbationAdversaryConfig, apr_hook
from advrec.train.adversaries.registry import AdversaryContext


def is_user_table(name: str) -> bool:
    """Whether a model's table is indexed by user id (``user``, ``gmf_user``, ``mlp_user``)."""
    return name == "user" or name.endswith("_user")


def multiplier(x: torch.Tensor, lam: float) -> torch.Tensor:
    """λ · σ(x − 1): the personal multiplier of ε for a relative score x (λ/2 at x = 1)."""
    return lam * torch.sigmoid(x - 1.0)


class PersonalisedConfig(PerturbationAdversaryConfig):
    """APR with a personal radius per user (the settings VAT and PamaCF share)."""

    lam: float = Field(
        2.0,
        gt=0,
        description="λ: a user's radius is eps · λ · σ(x_u − 1), x_u the user's score relative to the "
        "batch mean (an average user gets eps · λ/2; at most eps · λ)",
    )

    @model_validator(mode="after")
    def _gradient_method(self) -> PersonalisedConfig:
        if PERTURBATIONS[self.method].info.get("closed_form"):
            raise ValueError(f"method {self.method!r} is for sequential models; {self.name} scores user ids")
        return self


class PersonalisedHook(APRHook):
    """APRHook whose per-row radii follow the multipliers of the batch's users."""

    def __init__(self, *args: Any, lam: float = 2.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if lam <= 0:
            raise ValueError("lam must be > 0")
        self.lam = lam

    def user_multipliers(self, model: Recommender, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's distinct users [U] and their multipliers of ε [U]."""
        raise NotImplementedError

    def row_scales(self, model: Recommender, batch: Batch, tables: Deltas) -> Deltas:
        with torch.no_grad():
            users, mult = self.user_multipliers(model, batch)
            device = tables[next(iter(tables))].device if tables else mult.device
            mult = mult.to(device)
            per_user = torch.zeros(model.n_users, dtype=mult.dtype, device=device)
            per_user[users.to(device)] = mult
            example = per_user[batch["users"].to(device)]  # [N]: each example's user's multiplier
            items = torch.cat([batch["pos"].unsqueeze(1), batch["neg"]], dim=1).to(device)  # [N, 1 + M]
            total = torch.zeros(model.n_items, dtype=mult.dtype, device=device)
            count = torch.zeros_like(total)
            total.index_add_(0, items.reshape(-1), example.repeat_interleave(items.shape[1]))
            count.index_add_(0, items.reshape(-1), torch.ones(items.numel(), dtype=mult.dtype, device=device))
            per_item = total / count.clamp_min(1.0)
        return {
            name: (per_user if is_user_table(name) else per_item).to(table.dtype).unsqueeze(1)
            for name, table in tables.items()
        }


def build_personalised(
    cfg: PersonalisedConfig, ctx: AdversaryContext, hook_class: type[PersonalisedHook], **extra: Any
) -> PersonalisedHook:
    """The hook of a personalised method, refusing a run whose model it cannot apply to."""
    model = ctx.model
    what = f"adversary.name: {cfg.name}"
    if not isinstance(model, Recommender):
        raise ConfigError(
            f"{what} needs a model that scores user ids (e.g. mf, lightgcn); got {type(model).__name__}"
        )
    tables = model.embedding_tables()
    if not any(is_user_table(name) for name in tables):
        raise ConfigError(
            f"{what} needs a user embedding table; {type(model).__name__} has {', '.join(tables) or 'none'}"
        )
    for name, table in tables.items():
        rows = model.n_users if is_user_table(name) else model.n_items
        if table.shape[0] != rows:
            raise ConfigError(f"{what}: table {name!r} has {table.shape[0]} rows, not one per user or item")
    if ctx.world_size > 1:
        raise ConfigError(
            f"{what}: not under distributed training (world size {ctx.world_size}); the multipliers are "
            "relative to each batch, which every rank would see only a slice of"
        )
    hook = apr_hook(cfg, ctx, hook_class, lam=cfg.lam, **extra)
    assert isinstance(hook, PersonalisedHook)
    return hook
