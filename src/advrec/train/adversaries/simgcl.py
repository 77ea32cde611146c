"""SimGCL (Yu et al., SIGIR 2022) and XSimGCL (Yu et al., TKDE 2023) for LightGCN, as trainer hooks.

Both contrast views made by noisy propagation: each propagated layer is replaced by E_k' = E_k + Δ_k,
Δ_k = ε · sign(E_k) ⊙ unit(U) with U uniform in [0, 1)^d per row (so each row of Δ_k has L2 norm ε and
the embedding's signs), and E_k' is what propagates to the next layer. The noise comes from the hook's
own seeded generator, drawn on the CPU (the stream does not depend on the device), and its state is
checkpointed, so a resumed run draws the same noise.

- SimGCL: loss = L_rec + λ · (InfoNCE_users + InfoNCE_items). L_rec is the trainer's objective on the
  model's clean propagation; the views are two independent noisy propagations, each the mean of its
  layers 1..K (E_0 carries no noise and is left out of the views, as in the reference code, SELFRec).
- XSimGCL: ONE noisy propagation per batch. L_rec is the objective on its final embedding, the mean of
  E_0, E_1', ..., E_K' (the model's own definition, so that what is trained is what evaluation scores),
  and the views are that final embedding and the noisy layer E_l*'. The hook therefore provides the
  batch's loss itself (``TrainHook.batch_loss``). Evaluation always uses the clean propagation.

InfoNCE runs over the batch's unique users and unique positive items (as the reference), on
L2-normalised rows with temperature τ: mean_i −log softmax_j(⟨v1_i, v2_j⟩ / τ)_i.

Differences from the reference code: its clean encoder (and XSimGCL's final embedding) averages layers
1..K, whereas advrec's LightGCN averages 0..K (He et al. 2020) in training and at evaluation alike. Not
supported under DDP (the builder refuses it): a rank's in-batch InfoNCE sees only its slice of the
batch, so it is not the single-process loss, and XSimGCL's own forward bypasses DDP's gradient averaging.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from advrec.errors import ConfigError
from advrec.models.base import Deltas, Recommender
from advrec.models.lightgcn import LightGCN, mean_of_layers, pair_scores
from advrec.objectives.pairwise import Batch, PairwiseObjective
from advrec.perturb.perturbation import unit_rows
from advrec.train.adversaries.registry import ADVERSARIES, AdversaryConfig, AdversaryContext
from advrec.train.hooks import TrainHook
from advrec.utils.seeding import torch_generator

Views = tuple[torch.Tensor, torch.Tensor]


def info_nce(view1: torch.Tensor, view2: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE of paired rows: row i of ``view2`` is the positive of row i of ``view1``, the other rows
    its negatives; rows are L2-normalised (cosine similarity) and divided by the temperature."""
    v1 = F.normalize(view1, dim=1)
    v2 = F.normalize(view2, dim=1)
    logits = v1 @ v2.T / temperature
    return F.cross_entropy(logits, torch.arange(len(v1), device=logits.device))


def as_lightgcn(model: Recommender, method: str) -> LightGCN:
    if not isinstance(model, LightGCN):
        raise TypeError(f"{method} needs a bare LightGCN model (no DDP wrapper); got {type(model).__name__}")
    return model


class _NoisyViews(TrainHook):
    """What both methods share: the noise, the contrastive term, its log entry and the generator state."""

    method = ""

    def __init__(
        self, eps: float, weight: float, temperature: float, generator: torch.Generator | None = None
    ) -> None:
        if eps < 0 or weight < 0 or temperature <= 0:
            raise ValueError("need eps >= 0, weight >= 0, temperature > 0")
        self.eps = eps
        self.weight = weight
        self.temperature = temperature
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        self._cl_sum = 0.0
        self._cl_count = 0

    def noise(self, layer: torch.Tensor) -> torch.Tensor:
        """The layer plus ε · sign(layer) ⊙ a random unit row (uniform [0, 1) entries, normalised)."""
        uniform = torch.rand(layer.shape, generator=self.generator, dtype=layer.dtype).to(layer.device)
        return layer + self.eps * torch.sign(layer) * unit_rows(uniform)

    def noisy_layers(self, model: LightGCN) -> list[torch.Tensor]:
        """[E_0, E_1', ..., E_K'] of one noisy propagation (advances the generator)."""
        return model.propagate_layers(perturb=self.noise)

    def contrast(self, batch: Batch, users: Views, items: Views) -> torch.Tensor:
        """InfoNCE between the two views of the batch's unique users, plus the same for its positives."""
        u = torch.unique(batch["users"])
        i = torch.unique(batch["pos"])
        cl = info_nce(users[0][u], users[1][u], self.temperature)
        cl = cl + info_nce(items[0][i], items[1][i], self.temperature)
        self._cl_sum += float(cl.detach()) * len(batch["users"])
        self._cl_count += len(batch["users"])
        return cl

    def on_epoch_start(self, epoch: int) -> None:
        self._cl_sum, self._cl_count = 0.0, 0

    def on_epoch_end(self, epoch: int, log: dict[str, Any]) -> None:
        log["cl_loss"] = self._cl_sum / max(self._cl_count, 1)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])


class SimGCLHook(_NoisyViews):
    """Adds λ · InfoNCE between two noisy propagations (mean of layers 1..K) to the clean loss."""

    method = "simgcl"

    def views(self, model: LightGCN) -> Views:
        """(users, items) final embeddings of one noisy propagation, averaged over layers 1..K."""
        return model.split(mean_of_layers(self.noisy_layers(model)[1:]))

    def on_loss(self, model: Any, batch: Batch, loss: torch.Tensor) -> torch.Tensor:
        lightgcn = as_lightgcn(model, self.method)
        (u1, i1), (u2, i2) = self.views(lightgcn), self.views(lightgcn)
        return loss + self.weight * self.contrast(batch, (u1, u2), (i1, i2))


class XSimGCLHook(_NoisyViews):
    """The batch's loss from one noisy propagation: objective on its final embedding + λ · InfoNCE
    between that final embedding and its layer l*."""

    method = "xsimgcl"

    def __init__(
        self,
        objective: PairwiseObjective,
        eps: float,
        weight: float,
        temperature: float,
        layer: int = 1,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(eps, weight, temperature, generator)
        if layer < 1:
            raise ValueError("need layer >= 1 (layer 0 carries no noise)")
        self.objective = objective
        self.layer = layer

    def batch_loss(self, model: Any, batch: Batch) -> torch.Tensor:
        lightgcn = as_lightgcn(model, self.method)
        if self.layer > lightgcn.n_layers:
            raise ValueError(f"xsimgcl layer {self.layer} > the model's {lightgcn.n_layers} layers")
        layers = self.noisy_layers(lightgcn)
        user_final, item_final = lightgcn.split(mean_of_layers(layers))
        rec = self.objective(_Propagated(lightgcn, user_final, item_final), batch)
        user_l, item_l = lightgcn.split(layers[self.layer])
        return rec + self.weight * self.contrast(batch, (user_final, user_l), (item_final, item_l))


class _Propagated(Recommender):
    """LightGCN's scores on given final embeddings (so the objective applies unchanged); L2 as the model's."""

    def __init__(self, model: LightGCN, user_final: torch.Tensor, item_final: torch.Tensor):
        super().__init__(model.n_users, model.n_items)
        self.model = model
        self.user_final = user_final
        self.item_final = item_final

    def score(self, users: torch.Tensor, items: torch.Tensor, deltas: Deltas | None = None) -> torch.Tensor:
        if deltas:
            raise ValueError("deltas cannot perturb embeddings that are already propagated")
        return pair_scores(self.user_final, self.item_final, users, items)

    def reg_loss(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.model.reg_loss(users, items)


class SimGCLConfig(AdversaryConfig):
    """SimGCL (Yu et al., SIGIR 2022), LightGCN only: loss + cl_weight * InfoNCE between two noisy
    propagations. Defaults: the paper's."""

    name: Literal["simgcl"] = "simgcl"
    cl_eps: float = Field(0.1, ge=0, description="noise norm per row and layer")
    cl_weight: float = Field(0.5, ge=0, description="lambda, the weight of InfoNCE")
    cl_temperature: float = Field(0.2, gt=0, description="InfoNCE temperature")


class XSimGCLConfig(AdversaryConfig):
    """XSimGCL (Yu et al., TKDE 2023), LightGCN only: one noisy propagation per batch, its final embedding
    contrasted with its layer ``cl_layer``. Defaults: the paper's."""

    name: Literal["xsimgcl"] = "xsimgcl"
    cl_eps: float = Field(0.2, ge=0, description="noise norm per row and layer")
    cl_weight: float = Field(0.2, ge=0, description="lambda, the weight of InfoNCE")
    cl_temperature: float = Field(0.15, gt=0, description="InfoNCE temperature")
    cl_layer: int = Field(1, ge=1, description="the layer l* contrasted with the final embedding")


def _check_run(cfg: SimGCLConfig | XSimGCLConfig, ctx: AdversaryContext) -> LightGCN:
    model = ctx.model
    if not isinstance(model, LightGCN):
        raise ConfigError(
            f"adversary.name: {cfg.name} works on model.name lightgcn only (it perturbs the propagation "
            f"layers); got a {type(model).__name__}"
        )
    if model.n_layers < 1:
        raise ConfigError(f"adversary.name: {cfg.name} needs model.n_layers >= 1; got {model.n_layers}")
    if ctx.world_size > 1:
        raise ConfigError(
            f"adversary.name: {cfg.name} does not support distributed training (world size "
            f"{ctx.world_size}): each rank's in-batch InfoNCE would see only its slice of the batch; run it "
            "in one process"
        )
    return model


@ADVERSARIES.register(SimGCLConfig)
def build_simgcl(cfg: SimGCLConfig, ctx: AdversaryContext) -> list[TrainHook]:
    _check_run(cfg, ctx)
    return [SimGCLHook(cfg.cl_eps, cfg.cl_weight, cfg.cl_temperature, torch_generator(ctx.seed, "adversary"))]


@ADVERSARIES.register(XSimGCLConfig)
def build_xsimgcl(cfg: XSimGCLConfig, ctx: AdversaryContext) -> list[TrainHook]:
    model = _check_run(cfg, ctx)
    if cfg.cl_layer > model.n_layers:
        raise ConfigError(f"adversary.cl_layer: {cfg.cl_layer} > model.n_layers ({model.n_layers})")
    generator = torch_generator(ctx.seed, "adversary")
    return [
        XSimGCLHook(ctx.objective, cfg.cl_eps, cfg.cl_weight, cfg.cl_temperature, cfg.cl_layer, generator)
    ]
