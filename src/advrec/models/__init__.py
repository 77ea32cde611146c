"""Recommenders: nn.Modules that only score."""

from advrec.models.base import Recommender, Scorer
from advrec.models.lightgcn import LightGCN
from advrec.models.mf import MF
from advrec.models.mf_features import MFFeatures
from advrec.models.neumf import NeuMF
from advrec.models.registry import FEATURE_MODELS, MODELS, build_model

__all__ = [
    "FEATURE_MODELS",
    "MF",
    "MFFeatures",
    "MODELS",
    "LightGCN",
    "NeuMF",
    "Recommender",
    "Scorer",
    "build_model",
]
