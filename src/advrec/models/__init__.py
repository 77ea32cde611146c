"""Recommenders: nn.Modules that only score."""

from advrec.models.base import Recommender, Scorer
from advrec.models.lightgcn import LightGCN
from advrec.models.mf import MF
from advrec.models.neumf import NeuMF
from advrec.models.registry import MODELS, build_model

__all__ = ["MF", "MODELS", "LightGCN", "NeuMF", "Recommender", "Scorer", "build_model"]
