"""Detectors on synthetic average-attack sets; cross-validation never scores a profile with a model that
saw its label; the flag rules; the external-scorer wrapper."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from detection_data import attacked_set

from advrec.defend.detectors import (
    IsolationForestDetector,
    PCAVarSelect,
    ScorerDetector,
    SupervisedDetector,
    build_detector,
    top_n_flags,
)
from advrec.defend.evaluate import detection_seed, evaluate_detector, run_detectors, stratified_folds
from advrec.errors import ConfigError


def test_supervised_detector_separates_average_attack(attacked):
    matrix, labels = attacked
    result = evaluate_detector(SupervisedDetector("gbdt", seed=3), matrix, labels, folds=5, seed=0)
    assert result.metrics["auc"] >= 0.95, result.metrics
    assert result.metrics["f1"] >= 0.85, result.metrics
    assert len(result.fold_f1) == 5 and not np.isnan(result.scores).any()


def test_pca_varselect_ranks_attackers_high(attacked):
    matrix, labels = attacked
    result = evaluate_detector(PCAVarSelect(n_flag=int(labels.sum())), matrix, labels)
    assert result.metrics["auc"] >= 0.85, result.metrics
    assert result.metrics["n_flagged"] == labels.sum()
    # Chance level for comparison: a random ranking has AUC about 0.5, F1 about the fake share (0.09).
    assert result.metrics["f1"] >= 0.4, result.metrics


def test_supervised_fit_is_a_real_fit(attacked):
    """The one-step test of the one trainable detector: fitting on labels moves scores towards them, and
    fitting on flipped labels moves them the other way."""
    matrix, labels = attacked
    right = SupervisedDetector("rf", seed=0).fit(matrix, labels).score(matrix)
    flipped = SupervisedDetector("rf", seed=0).fit(matrix, 1 - labels).score(matrix)
    assert right[labels == 1].mean() > 0.5 > right[labels == 0].mean()
    assert flipped[labels == 1].mean() < 0.5 < flipped[labels == 0].mean()


def test_hidden_labels_are_not_trained_on(attacked):
    """Rows labelled -1 count for the features (population statistics) but not for the classifier: the
    model equals one trained on the other rows' features alone."""
    matrix, labels = attacked
    hidden = np.zeros(labels.size, dtype=bool)
    hidden[::4] = True
    detector = SupervisedDetector("gbdt", seed=1).fit(matrix, np.where(hidden, -1, labels))
    x = detector.features.transform(matrix)
    alone = detector._new_model().fit(x[~hidden], labels[~hidden])
    np.testing.assert_array_equal(detector.score(matrix), alone.predict_proba(x)[:, 1])
    trained_on_all = SupervisedDetector("gbdt", seed=1).fit(matrix, labels).score(matrix)
    assert not np.array_equal(detector.score(matrix), trained_on_all)


def test_cross_validation_hides_each_fold():
    matrix, labels = attacked_set(seed=1, n_users=60, n_items=40, n_fake=10, filler=6)
    seen = []

    def fitter(ratings, train_labels):
        seen.append(np.array(train_labels))

    def scorer(ratings):
        return np.asarray(ratings.sum(axis=1)).ravel()

    detector = ScorerDetector(scorer, name="probe", fitter=fitter, threshold=0.5, supervised=True)
    evaluate_detector(detector, matrix, labels, folds=4, seed=7)
    fold_of = stratified_folds(labels, 4, detection_seed(7, "folds"))
    assert len(seen) == 4
    for fold, train_labels in enumerate(seen):
        np.testing.assert_array_equal(train_labels == -1, fold_of == fold)
        np.testing.assert_array_equal(train_labels[fold_of != fold], labels[fold_of != fold])


def test_stratified_folds_balance_and_seed():
    labels = np.r_[np.zeros(47, dtype=int), np.ones(13, dtype=int)]
    folds = stratified_folds(labels, 5, seed=3)
    for fold in range(5):
        assert np.sum((folds == fold) & (labels == 1)) in (2, 3)
        assert np.sum((folds == fold) & (labels == 0)) in (9, 10)
    np.testing.assert_array_equal(folds, stratified_folds(labels, 5, seed=3))
    assert not np.array_equal(folds, stratified_folds(labels, 5, seed=4))
    with pytest.raises(ConfigError, match="at least 5 profiles of each class"):
        stratified_folds(np.r_[np.zeros(20, dtype=int), np.ones(4, dtype=int)], 5, seed=0)


def test_evaluation_is_reproducible():
    matrix, labels = attacked_set(seed=2, n_users=80, n_items=40, n_fake=10, filler=6)
    a = run_detectors(matrix, labels, ["gbdt", "iforest"], folds=3, seed=5, n_flag=10)
    b = run_detectors(matrix, labels, ["gbdt", "iforest"], folds=3, seed=5, n_flag=10)
    c = run_detectors(matrix, labels, ["gbdt"], folds=3, seed=6, n_flag=10)
    for name in a:
        np.testing.assert_array_equal(a[name].scores, b[name].scores)
    assert not np.array_equal(a["gbdt"].scores, c["gbdt"].scores)  # the seed is used


def test_unsupervised_detectors_never_see_labels(attacked):
    matrix, labels = attacked
    for detector in (PCAVarSelect(n_flag=30), IsolationForestDetector(n_flag=30, seed=0)):
        one = evaluate_detector(detector, matrix, labels).scores
        other = evaluate_detector(detector, matrix, np.roll(labels, 17)).scores
        np.testing.assert_array_equal(one, other)


def test_pca_constant_profiles():
    # u2 is constant (all 3s): no z-scores, so loadings 0 -> most suspicious in the plain method only.
    rng = np.random.default_rng(0)
    dense = np.where(rng.random((12, 8)) < 0.7, rng.integers(1, 6, (12, 8)), 0).astype(float)
    dense[:, 0] = rng.integers(1, 6, 12)
    dense[0, :2] = [1, 5]
    dense[2] = np.where(dense[2] > 0, 3.0, 0.0)
    matrix = sp.csr_matrix(dense)
    plain = PCAVarSelect(n_flag=1, constant="suspicious")
    assert plain.score(matrix)[2] == 0.0 and plain.flag(matrix)[2]
    default = PCAVarSelect(n_flag=1).score(matrix)
    assert default[2] < np.delete(default, 2).min()
    np.testing.assert_allclose(np.delete(default, 2), np.delete(plain.score(matrix), 2))


def test_pca_implicit_matches_dense_svd():
    rng = np.random.default_rng(2)
    binary = (rng.random((30, 20)) < 0.3).astype(float)
    binary[np.arange(30), rng.integers(0, 20, 30)] = 1
    scores = PCAVarSelect(n_flag=3, n_components=2, implicit=True).score(sp.csr_matrix(binary))
    p = binary.mean(axis=1, keepdims=True)
    z = (binary - p) / np.sqrt(p * (1 - p))
    u, _, _ = np.linalg.svd(z, full_matrices=False)
    np.testing.assert_allclose(scores, -np.sum(u[:, :2] ** 2, axis=1), atol=1e-8)


def test_pca_explicit_matches_dense_svd():
    rng = np.random.default_rng(4)
    dense = np.where(rng.random((30, 20)) < 0.5, rng.integers(1, 6, (30, 20)), 0).astype(float)
    dense[:, :2] = [1, 5]  # every profile has spread
    scores = PCAVarSelect(n_flag=3, n_components=3).score(sp.csr_matrix(dense))
    rated = dense > 0
    mean = dense.sum(axis=1, keepdims=True) / rated.sum(axis=1, keepdims=True)
    std = np.sqrt(((dense - mean) ** 2 * rated).sum(axis=1, keepdims=True) / rated.sum(axis=1, keepdims=True))
    z = np.where(rated, (dense - mean) / std, 0.0)
    u, _, _ = np.linalg.svd(z, full_matrices=False)
    np.testing.assert_allclose(scores, -np.sum(u[:, :3] ** 2, axis=1), atol=1e-8)


def test_flag_rules():
    np.testing.assert_array_equal(top_n_flags(np.array([0.1, 0.5, 0.5, 0.9]), 2), [False, True, False, True])
    np.testing.assert_array_equal(top_n_flags(np.array([0.1, 0.5]), 5), [True, True])
    scorer = ScorerDetector(lambda m: np.asarray(m.sum(axis=1)).ravel(), threshold=4.0)
    matrix = sp.csr_matrix(np.array([[1, 2], [3, 4], [0, 1]], dtype=float))
    np.testing.assert_array_equal(scorer.flag(matrix), [False, True, False])
    top1 = ScorerDetector(lambda m: np.asarray(m.sum(axis=1)).ravel(), n_flag=1)
    np.testing.assert_array_equal(top1.flag(matrix), [False, True, False])


def test_detector_errors():
    matrix = sp.csr_matrix(np.eye(3))
    with pytest.raises(ConfigError, match="unknown detector 'svm'; valid: gbdt, rf, pca, iforest"):
        build_detector("svm")
    with pytest.raises(ConfigError, match="needs labels"):
        SupervisedDetector().fit(matrix)
    with pytest.raises(ConfigError, match="both fake and genuine"):
        SupervisedDetector().fit(matrix, np.array([0, 0, -1]))
    with pytest.raises(ConfigError, match="not fitted"):
        SupervisedDetector().score(matrix)
    with pytest.raises(ConfigError, match="needs n_flag"):
        PCAVarSelect().flag(matrix)
    with pytest.raises(ConfigError, match="exactly one of threshold and n_flag"):
        ScorerDetector(lambda m: np.zeros(3))
    with pytest.raises(ValueError, match="returned 2 scores for 3 profiles"):
        ScorerDetector(lambda m: np.zeros(2), threshold=0.5).score(matrix)


def test_pca_all_constant_profiles_score_zero():
    np.testing.assert_array_equal(PCAVarSelect(n_flag=1).score(sp.csr_matrix(np.eye(3))), [0, 0, 0])


def test_implicit_detectors_run_on_binary_profiles(attacked):
    """With implicit data only the rating-free features remain; random-filler fakes still stand out by
    the popularity of what they rate."""
    matrix, labels = attacked
    results = run_detectors(matrix, labels, ["gbdt", "pca"], folds=3, seed=0, n_flag=30, implicit=True)
    assert results["gbdt"].metrics["auc"] >= 0.9, results["gbdt"].metrics
    assert results["pca"].metrics["auc"] is not None and results["pca"].metrics["n_flagged"] == 30
    binary = matrix.copy()
    binary.data[:] = 1.0
    np.testing.assert_array_equal(
        PCAVarSelect(n_flag=30, implicit=True).score(matrix),
        PCAVarSelect(n_flag=30, implicit=True).score(binary),
    )
