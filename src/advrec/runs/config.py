"""A run's config: every section, each owned by its component, validated as one.

``model`` and ``adversary`` are registered components (``advrec.models.registry.MODELS``,
``advrec.train.adversaries.registry.ADVERSARIES``): the section's ``name`` picks the settings class, so a
key the chosen component does not have is an error listing the ones it has. What still spans sections
(item features and the model that reads them, what a sequential or GAN model cannot combine with) is
checked here, when the config is read, before anything runs.

Switching a component from the command line or a study axis (``--set model.name=lightgcn``,
``--set adversary.name=none``) keeps the section's settings the new component also has and drops the
others, saying which; a file that names a component with keys it does not have is an error.

Configs written by earlier versions of advrec (``model.sasrec.*``, a ``gan`` section, SimGCL's ``cl_*``
keys beside APR's) are converted when read, so old run folders still load.
"""

from __future__ import annotations

import logging
import typing
from pathlib import Path
from typing import Any

from pydantic import Field, SerializeAsAny, field_validator, model_validator

from advrec.config.base import Component, Registry, Strict
from advrec.config.loading import dump_yaml, merge, parse_overrides, read_config_file, validate
from advrec.data.config import DataConfig, SplitConfig
from advrec.errors import ConfigError
from advrec.measure.config import EvalConfig
from advrec.models.registry import MODELS, ModelConfig, procedure_of, reads_item_features
from advrec.train.adversaries.registry import ADVERSARIES, AdversaryConfig
from advrec.train.augment import AugmentConfig
from advrec.train.config import TrainConfig
from advrec.utils.devices import check_device_name

logger = logging.getLogger(__name__)

# config sections that name a registered component
COMPONENTS: dict[str, Registry[Any]] = {"model": MODELS, "adversary": ADVERSARIES}


C = typing.TypeVar("C", bound=Component)


def _default(registry: Registry[Any], kind: type[C]) -> C:
    return typing.cast(C, registry.default_config())


class RunConfig(Strict):
    """One run: data, split, model, training, evaluation, and optionally an adversary and augmentation."""

    seed: int = Field(
        2020, description="the run's seed; every random stream (split, init, sampler, ...) derives from it"
    )
    device: str = Field("cpu", description="cpu, cuda, cuda:N")
    threads: int = Field(
        0,
        ge=0,
        description="CPU threads for torch (0 = torch's default). On a busy machine 1 avoids OpenMP "
        "threads spinning against other processes",
    )
    data: DataConfig = Field(default_factory=DataConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    model: SerializeAsAny[ModelConfig] = Field(default_factory=lambda: _default(MODELS, ModelConfig))
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    adversary: SerializeAsAny[AdversaryConfig] = Field(
        default_factory=lambda: _default(ADVERSARIES, AdversaryConfig)
    )
    augment: AugmentConfig = Field(default_factory=AugmentConfig)

    @field_validator("model", mode="before")
    @classmethod
    def _model(cls, value: Any) -> ModelConfig:
        return typing.cast(ModelConfig, MODELS.validate(value))

    @field_validator("adversary", mode="before")
    @classmethod
    def _adversary(cls, value: Any) -> AdversaryConfig:
        return typing.cast(AdversaryConfig, ADVERSARIES.validate(value))

    @field_validator("device")
    @classmethod
    def _device_name(cls, v: str) -> str:
        return check_device_name(v)

    @field_validator("seed")
    @classmethod
    def _seed(cls, v: int) -> int:
        if not 0 <= v < 2**63:
            raise ValueError("expected a whole number from 0 to 2^63 - 1")
        return v

    @model_validator(mode="after")
    def _sections_fit_together(self) -> RunConfig:
        name = self.model.name
        procedure = procedure_of(name)
        has_features = self.data.item_features is not None or self.data.item_text is not None
        if self.data.item_features is not None and self.data.item_text is not None:
            raise ValueError("data.item_features and data.item_text are both set; keep one of them")
        if reads_item_features(name) and not has_features:
            raise ValueError(
                f"model.name {name!r} reads item features: set data.item_features or data.item_text"
            )
        if has_features and not reads_item_features(name):
            readers = ", ".join(e.name for e in MODELS if e.info.get("item_features"))
            raise ValueError(
                f"data.item_features / data.item_text: model {name!r} does not read features; models that "
                f"do: {readers} (or drop them: --set data.item_features=null)"
            )
        if self.augment.feature_noise is not None and not reads_item_features(name):
            raise ValueError(f"augment.feature_noise: model {name!r} reads no item features")
        if self.train.init_from is not None and procedure != "sequential":
            raise ValueError("train.init_from: only sequential models (sasrec) start from another run")
        if procedure == "gan":
            if self.adversary.name != "none":
                raise ValueError(f"adversary.name: {self.adversary.name!r} cannot train a GAN recommender")
            if self.eval.adversarial_valid is not None:
                raise ValueError(
                    "eval.adversarial_valid: GAN runs have no single objective to attack; unset it"
                )
        if procedure == "sequential":
            aug = self.augment
            if aug.drop_interactions or aug.add_interactions or aug.feature_noise:
                raise ValueError(
                    f"augment: interaction and feature augmentation are not available for {name}"
                )
            if self.train.l2 > 0:
                raise ValueError(
                    f"train.l2: {name} has no per-batch L2 term; use train.optimizer.weight_decay"
                )
        if procedure != "pairwise" and (
            self.train.optimizer.name == "sparse_adam" or self.train.kernel not in ("auto", "autograd")
        ):
            raise ValueError("train.optimizer sparse_adam / train.kernel fused*: pairwise MF only")
        return self


def parse_config(raw: dict[str, Any], source: str = "<config>") -> RunConfig:
    """A run config from plain data (a YAML mapping), converting the layout of earlier versions."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections at the top level")
    return validate(RunConfig, upgrade_layout(raw, source), source)


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> RunConfig:
    """A YAML file (with its ``extends:`` chain; defaults when ``path`` is None) plus ``--set`` overrides."""
    raw: dict[str, Any] = {}
    source = "<config>"
    if path is not None:
        source = str(path)
        raw = read_run_config(path)
        if not raw:
            raise ConfigError(f"{path}: the config file is empty; an empty run config is not a run")
    return parse_config(
        apply_overrides(upgrade_layout(raw, source), parse_overrides(overrides or [])), source
    )


def read_run_config(path: str | Path) -> dict[str, Any]:
    """A run config file's mapping with its ``extends:`` chain folded in: each file over its base, a
    component it switches keeping only the base's settings the new component has (as ``--set`` does)."""
    return read_config_file(path, "config", lambda base, keys, where: apply_overrides(base, keys, where))


def apply_overrides(raw: dict[str, Any], overrides: dict[str, Any], where: str = "--set") -> dict[str, Any]:
    """``raw`` with ``overrides`` merged in (dotted or nested keys). Where an override switches a
    component (``model.name``, ``adversary.name``), the section keeps only the keys the new component
    has, besides those the overrides set."""
    out = merge(raw, overrides, where)
    for section, registry in COMPONENTS.items():
        new = out.get(section)
        if not isinstance(new, dict) or "name" not in new:
            continue
        before = raw.get(section)
        old: dict[str, Any] = before if isinstance(before, dict) else {}
        if new["name"] == old.get("name", registry.default) or new["name"] not in registry:
            continue
        given = _section_keys(overrides, section)
        known = set(registry[new["name"]].config.model_fields)
        dropped = [k for k in new if k not in known and k not in given]
        for key in dropped:
            del new[key]
        if dropped:
            logger.info(
                "%s: %s.name %s -> %s drops %s, which %s does not have",
                where,
                section,
                old.get("name", registry.default),
                new["name"],
                ", ".join(f"{section}.{k}" for k in dropped),
                new["name"],
            )
    return out


def _section_keys(overrides: dict[str, Any], section: str) -> set[str]:
    """The keys of ``section`` that ``overrides`` set (dotted or nested)."""
    keys: set[str] = set()
    for key, value in overrides.items():
        head, _, rest = str(key).partition(".")
        if head != section:
            continue
        if rest:
            keys.add(rest.split(".")[0])
        elif isinstance(value, dict):
            keys.update(str(k).split(".")[0] for k in value)
    return keys


def dump_config(config: RunConfig) -> str:
    return dump_yaml(config)


# -- configs of earlier versions ----------------------------------------------------------------
_GAN_COMMON = ("loss", "gp_weight", "generator", "discriminator", "select_during_pretraining", "monitor_k")


def upgrade_layout(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """The current layout of a config written for an earlier version: ``model.sasrec.*`` moves up into
    ``model``; a ``gan`` section becomes the model (its ``cfgan``/``irgan`` keys moved up); a section's
    keys that its component does not have are dropped when they hold that version's defaults (every
    earlier run folder's config.yaml wrote all defaults out). Current configs pass unchanged."""
    model = raw.get("model")
    gan = raw.get("gan")
    adversary = raw.get("adversary")
    old_model = isinstance(model, dict) and isinstance(model.get("sasrec"), dict)
    old_adversary = isinstance(adversary, dict) and "cl_eps" in adversary
    if not (old_model or gan is not None or old_adversary):
        return raw
    out = {k: v for k, v in raw.items() if k != "gan"}
    if isinstance(gan, dict) and not isinstance(gan.get("name", "none"), str):
        raise ConfigError(f"{source}: gan.name: expected the name of a GAN model, got {gan['name']!r}")
    if isinstance(gan, dict) and gan.get("name", "none") != "none":
        assert gan is not None
        name = gan["name"]
        new_model = {key: gan[key] for key in _GAN_COMMON if key in gan}
        new_model.update(gan.get(name) or {})
        if name == "irgan" and "recommend_with" in gan:
            new_model["recommend_with"] = gan["recommend_with"]
        out["model"] = {"name": name, **new_model}
    elif old_model and isinstance(model, dict):
        flat = {k: v for k, v in model.items() if k != "sasrec"}
        if flat.get("name", "mf") == "sasrec":
            flat.update(model["sasrec"])
        out["model"] = _known(flat, MODELS)
    if isinstance(adversary, dict):
        out["adversary"] = _known({k: v for k, v in adversary.items() if v is not None}, ADVERSARIES)
    logger.info("%s: converted from an earlier advrec's config layout", source)
    return out


def _known(section: dict[str, Any], registry: Registry[Any]) -> dict[str, Any]:
    name = section.get("name", registry.default)
    if not isinstance(name, str) or name not in registry:
        return section
    fields = registry[name].config.model_fields
    return {k: v for k, v in section.items() if k in fields}
