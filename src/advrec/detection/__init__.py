"""Fake-profile (shilling) detection: labelled-set loader, profile features, detectors, metrics.

The names below load their module on first use (PEP 562), so that ``advrec --help``, which builds the
``detect`` parser, does not import scipy.stats, pandas and pyarrow.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Detector": "detectors",
    "IsolationForestDetector": "detectors",
    "PCAVarSelect": "detectors",
    "ScorerDetector": "detectors",
    "SupervisedDetector": "detectors",
    "build_detector": "detectors",
    "top_n_flags": "detectors",
    "DetectionResult": "evaluate",
    "evaluate_detector": "evaluate",
    "run_detectors": "evaluate",
    "stratified_folds": "evaluate",
    "EXPLICIT_FEATURES": "features",
    "IMPLICIT_FEATURES": "features",
    "ProfileFeatures": "features",
    "compute_features": "features",
    "detection_metrics": "metrics",
    "precision_recall_f1": "metrics",
    "roc_auc": "metrics",
    "DETECTORS": "names",
    "LabelledProfiles": "profiles",
    "load_labelled_profiles": "profiles",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'advrec.detection' has no attribute {name!r}")
    return getattr(importlib.import_module(f"advrec.detection.{_EXPORTS[name]}"), name)
