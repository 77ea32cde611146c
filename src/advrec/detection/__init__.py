"""Fake-profile (shilling) detection: labelled-set loader, profile features, detectors, metrics."""

from advrec.detection.detectors import (
    DETECTORS,
    Detector,
    IsolationForestDetector,
    PCAVarSelect,
    ScorerDetector,
    SupervisedDetector,
    build_detector,
    top_n_flags,
)
from advrec.detection.evaluate import DetectionResult, evaluate_detector, run_detectors, stratified_folds
from advrec.detection.features import EXPLICIT_FEATURES, IMPLICIT_FEATURES, ProfileFeatures, compute_features
from advrec.detection.metrics import detection_metrics, precision_recall_f1, roc_auc
from advrec.detection.profiles import LabelledProfiles, load_labelled_profiles

__all__ = [
    "DETECTORS",
    "EXPLICIT_FEATURES",
    "IMPLICIT_FEATURES",
    "DetectionResult",
    "Detector",
    "IsolationForestDetector",
    "LabelledProfiles",
    "PCAVarSelect",
    "ProfileFeatures",
    "ScorerDetector",
    "SupervisedDetector",
    "build_detector",
    "compute_features",
    "detection_metrics",
    "evaluate_detector",
    "load_labelled_profiles",
    "precision_recall_f1",
    "roc_auc",
    "run_detectors",
    "stratified_folds",
    "top_n_flags",
]
