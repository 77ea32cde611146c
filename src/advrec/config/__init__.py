"""Typed run configuration: YAML + dotted overrides, unknown keys rejected loudly."""

from advrec.config.loading import apply_overrides, dump_config, load_config, parse_config
from advrec.config.schema import (
    AdversaryConfig,
    AugmentConfig,
    DataConfig,
    EvalConfig,
    FeatureNoiseConfig,
    ItemFeaturesConfig,
    ModelConfig,
    OptimizerConfig,
    RunConfig,
    ScheduleConfig,
    SplitConfig,
    SyntheticConfig,
    TrainConfig,
)

__all__ = [
    "AdversaryConfig",
    "AugmentConfig",
    "DataConfig",
    "EvalConfig",
    "FeatureNoiseConfig",
    "ItemFeaturesConfig",
    "ModelConfig",
    "OptimizerConfig",
    "RunConfig",
    "ScheduleConfig",
    "SplitConfig",
    "SyntheticConfig",
    "TrainConfig",
    "apply_overrides",
    "dump_config",
    "load_config",
    "parse_config",
]
