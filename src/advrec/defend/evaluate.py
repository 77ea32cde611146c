"""Score a labelled profile set with a detector, honestly: supervised detectors only by stratified k-fold
cross-validation (each profile is scored by a model that never saw its label), unsupervised ones without
labels at all."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from advrec.defend.detectors import Detector
from advrec.errors import ConfigError
from advrec.measure.detection import detection_metrics, precision_recall_f1

# Stream keys of the detection seeds (advrec.utils.seeding's purposes are the training run's).
_STREAMS = {"folds": 1, "model": 2}


def detection_seed(seed: int, stream: str) -> int:
    """An independent 31-bit seed per stream (fold assignment, model randomness), derived from ``seed``."""
    sequence = np.random.SeedSequence(seed, spawn_key=(0xD37EC7, _STREAMS[stream]))
    return int(sequence.generate_state(1, dtype=np.uint32)[0] & 0x7FFF_FFFF)


@dataclass
class DetectionResult:
    scores: np.ndarray
    flags: np.ndarray
    metrics: dict
    fold_f1: list[float] = field(default_factory=list)


def stratified_folds(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold index of each profile: each class shuffled (seeded) and dealt round-robin, so every fold holds
    a near-equal share of fakes and of genuine profiles."""
    labels = np.asarray(labels).ravel()
    if folds < 2:
        raise ConfigError(f"folds must be at least 2, got {folds}")
    smallest = min(int(np.sum(labels == 1)), int(np.sum(labels == 0)))
    if smallest < folds:
        raise ConfigError(
            f"{folds}-fold cross-validation needs at least {folds} profiles of each class, got {smallest}"
        )
    rng = np.random.default_rng(seed)
    fold_of = np.empty(labels.size, dtype=np.int64)
    for value in (0, 1):
        rows = rng.permutation(np.flatnonzero(labels == value))
        fold_of[rows] = np.arange(rows.size) % folds
    return fold_of


def evaluate_detector(
    detector: Detector, ratings: sp.spmatrix, labels: np.ndarray, folds: int = 5, seed: int = 0
) -> DetectionResult:
    """Out-of-fold scores and flags for a supervised detector; plain scores/flags (labels unseen) for an
    unsupervised one; metrics against ``labels`` either way."""
    labels = np.asarray(labels).ravel().astype(np.int64)
    if labels.size != ratings.shape[0]:
        raise ValueError(f"{labels.size} labels for {ratings.shape[0]} profiles")
    if not detector.supervised:
        scores = detector.fit(ratings, None).score(ratings)
        flags = detector.flags_from_scores(scores)
        return DetectionResult(scores, flags, detection_metrics(flags, scores, labels))

    fold_of = stratified_folds(labels, folds, detection_seed(seed, "folds"))
    scores = np.full(labels.size, np.nan)
    fold_f1 = []
    for fold in range(folds):
        held = fold_of == fold
        train_labels = np.where(held, -1, labels)  # the held-out fold's labels are hidden
        fold_scores = detector.fit(ratings, train_labels).score(ratings)
        scores[held] = fold_scores[held]
        fold_f1.append(precision_recall_f1(detector.flags_from_scores(fold_scores[held]), labels[held])[2])
    flags = detector.flags_from_scores(scores)
    metrics = detection_metrics(flags, scores, labels)
    metrics["f1_fold_mean"] = float(np.mean(fold_f1))
    metrics["f1_fold_std"] = float(np.std(fold_f1))
    return DetectionResult(scores, flags, metrics, fold_f1)


def parse_detector_names(text: str, valid: tuple[str, ...]) -> list[str]:
    """``gbdt,pca`` or ``all`` -> names, in the order given, each once; unknown names are an error."""
    names = list(valid) if text.strip() == "all" else [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in valid]
    if not names or unknown:
        what = f"unknown detector(s) {', '.join(unknown)}" if unknown else "no detector named"
        raise ConfigError(f"--detector {text!r}: {what}; valid: {', '.join(valid)} or all")
    return list(dict.fromkeys(names))


def run_detectors(
    ratings: sp.spmatrix,
    labels: np.ndarray,
    names: list[str],
    *,
    folds: int = 5,
    seed: int = 0,
    n_flag: int | None = None,
    implicit: bool = False,
) -> dict[str, DetectionResult]:
    """Every built-in detector of ``names`` evaluated on one labelled set (see :func:`evaluate_detector`)."""
    from advrec.defend.detectors import build_detector

    model_seed = detection_seed(seed, "model")
    return {
        name: evaluate_detector(
            build_detector(name, seed=model_seed, n_flag=n_flag, implicit=implicit),
            ratings,
            labels,
            folds,
            seed,
        )
        for name in names
    }
