"""Detectors: one interface for every way of scoring user profiles as genuine or fake.

``fit(ratings, labels=None)`` then ``score(ratings)`` (higher = more suspicious, one value per row) and
``flag(ratings)`` (boolean mask). ``ratings`` is a users × items sparse matrix, 0 = unrated; the same
matrix (the whole population) is passed to fit and score, because the profile features are relative to
the population (item means, profile-length spread, neighbours). Supervised detectors train on the rows
whose label is 0 or 1 and ignore rows labelled -1 (unknown): cross-validation hides a fold that way, and a
filter defence can pass the labels it trusts. Unsupervised detectors ignore labels.

A supervised detector flags scores ≥ ``threshold``; an unsupervised one flags its ``n_flag`` highest
scores (the expected attack size, which these methods need as an input).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, svds

from advrec.defend.features import ProfileFeatures, as_profile_matrix
from advrec.defend.names import DETECTORS
from advrec.errors import ConfigError


class Detector(ABC):
    name: str = "detector"
    supervised: bool = False

    def fit(self, ratings: sp.spmatrix, labels: np.ndarray | None = None) -> Detector:
        return self

    @abstractmethod
    def score(self, ratings: sp.spmatrix) -> np.ndarray:
        """Suspicion score of every row of ``ratings``: higher = more likely fake."""

    def flag(self, ratings: sp.spmatrix) -> np.ndarray:
        return self.flags_from_scores(self.score(ratings))

    @abstractmethod
    def flags_from_scores(self, scores: np.ndarray) -> np.ndarray:
        """The flag rule alone, so that evaluation can flag out-of-fold scores the same way."""


def top_n_flags(scores: np.ndarray, n_flag: int) -> np.ndarray:
    """The ``n_flag`` highest scores (ties broken by row order, so the count is exact)."""
    scores = np.asarray(scores, dtype=np.float64)
    flags = np.zeros(scores.shape, dtype=bool)
    n = max(0, min(int(n_flag), scores.size))
    if n:
        flags[np.argsort(-scores, kind="stable")[:n]] = True
    return flags


class _TopN(Detector):
    """Unsupervised detectors flag a fixed number of profiles."""

    def __init__(self, n_flag: int | None):
        if n_flag is not None and n_flag < 0:
            raise ConfigError(f"n_flag must be >= 0, got {n_flag}")
        self.n_flag = n_flag

    def flag(self, ratings: sp.spmatrix) -> np.ndarray:
        self._checked_n_flag()  # before the scoring work
        return super().flag(ratings)

    def flags_from_scores(self, scores: np.ndarray) -> np.ndarray:
        return top_n_flags(scores, self._checked_n_flag())

    def _checked_n_flag(self) -> int:
        if self.n_flag is None:
            raise ConfigError(f"detector {self.name!r} needs n_flag (the expected number of fake profiles)")
        return self.n_flag


def _train_rows(labels: np.ndarray | None, n_rows: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    if labels is None:
        raise ConfigError(f"detector {name!r} is supervised: fit needs labels")
    labels = np.asarray(labels).ravel()
    if labels.size != n_rows:
        raise ValueError(f"{labels.size} labels for {n_rows} profiles")
    if not np.isin(labels, (-1, 0, 1)).all():
        raise ValueError("labels must be 1 (fake), 0 (genuine) or -1 (unknown, not trained on)")
    rows = np.flatnonzero(labels >= 0)
    if len(np.unique(labels[rows])) < 2:
        raise ConfigError(f"detector {name!r} needs both fake and genuine profiles to train on")
    return rows, labels[rows].astype(np.int64)


class SupervisedDetector(Detector):
    """A scikit-learn classifier on :class:`ProfileFeatures`; score = predicted probability of 'fake'.

    ``classifier``: ``gbdt`` (gradient-boosted trees) or ``rf`` (random forest, class-balanced). Trees
    need no feature scaling, and these features differ in scale by orders of magnitude.
    """

    supervised = True

    def __init__(
        self,
        classifier: str = "gbdt",
        features: ProfileFeatures | None = None,
        seed: int = 0,
        threshold: float = 0.5,
    ):
        if classifier not in ("gbdt", "rf"):
            raise ConfigError(f"classifier {classifier!r}: expected gbdt or rf")
        self.name = classifier
        self.classifier = classifier
        self.features = features or ProfileFeatures()
        self.seed = seed
        self.threshold = threshold
        self.model = None

    def _new_model(self):
        from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

        if self.classifier == "gbdt":
            return GradientBoostingClassifier(n_estimators=200, max_depth=3, random_state=self.seed)
        return RandomForestClassifier(
            n_estimators=300, class_weight="balanced", n_jobs=1, random_state=self.seed
        )

    def fit(self, ratings: sp.spmatrix, labels: np.ndarray | None = None) -> SupervisedDetector:
        rows, y = _train_rows(labels, ratings.shape[0], self.name)
        x = self.features.transform(ratings)
        self.model = self._new_model().fit(x[rows], y)
        return self

    def score(self, ratings: sp.spmatrix) -> np.ndarray:
        if self.model is None:
            raise ConfigError(f"detector {self.name!r} is not fitted")
        return self.model.predict_proba(self.features.transform(ratings))[:, 1]

    def flags_from_scores(self, scores: np.ndarray) -> np.ndarray:
        return np.asarray(scores) >= self.threshold


class PCAVarSelect(_TopN):
    """PCA-VarSelect (Mehta & Nejdl 2009): z-score each user's ratings, treat users as the variables of
    a PCA over items, and flag the users with the smallest sum of squared loadings on the top
    ``n_components`` principal components. Shilling profiles are alike and carry little of the
    variance spread over genuine users, so they load weakly. Score = minus that sum.

    Explicit data: z-scores over the user's rated items, unrated entries 0 (the user's mean), so each
    user's row already has mean 0 across items and Z Zᵀ is the user covariance; its top eigenvectors
    are Z's top left singular vectors. Implicit data: each 0/1 row is standardised across all items
    (a dense matrix, applied through a LinearOperator so it is never built).

    A profile whose ratings are all equal (σ = 0, every single-rating profile included) has no z-scores,
    so its loadings are exactly 0 and the plain method flags it first: on FilmTrust 162 genuine users are
    such profiles and fill the whole flagged set. ``constant="genuine"`` (default) scores them below every
    other profile instead; ``constant="suspicious"`` keeps the paper's plain ranking. An attack whose
    profiles are constant (e.g. all-max bandwagon) needs the latter, or another detector.
    """

    def __init__(
        self,
        n_flag: int | None = None,
        n_components: int = 3,
        implicit: bool = False,
        constant: str = "genuine",
    ):
        super().__init__(n_flag)
        if constant not in ("genuine", "suspicious"):
            raise ConfigError(f"constant {constant!r}: expected genuine or suspicious")
        self.constant = constant
        if n_components < 1:
            raise ConfigError(f"n_components must be >= 1, got {n_components}")
        self.name = "pca"
        self.n_components = n_components
        self.implicit = implicit

    def score(self, ratings: sp.spmatrix) -> np.ndarray:
        matrix = as_profile_matrix(ratings, self.implicit)
        n_users, n_items = matrix.shape
        k = min(self.n_components, min(n_users, n_items) - 1)
        if k < 1:
            raise ConfigError(f"PCA needs at least 2 users and 2 items, got {n_users} × {n_items}")
        constant = _constant_rows(matrix, self.implicit)
        if constant.all():  # nothing varies: no component to load on (ARPACK would fail on a zero matrix)
            return np.zeros(n_users)
        operator = _standardised(matrix) if self.implicit else _zscored(matrix)
        v0 = np.random.default_rng(0).standard_normal(min(n_users, n_items))  # ARPACK start: fixed
        left, _, _ = svds(operator, k=k, v0=v0)
        scores = -np.sum(left**2, axis=1)
        if self.constant == "genuine" and constant.any():
            scores[constant] = scores[~constant].min() - 1.0
        return scores


def _constant_rows(matrix: sp.csr_matrix, implicit: bool) -> np.ndarray:
    """Profiles with no spread: empty, or every stored rating equal (0/1 rows: no items or all of them)."""
    n_u = np.diff(matrix.indptr)
    if implicit:
        return (n_u == 0) | (n_u == matrix.shape[1])
    rows = np.repeat(np.arange(matrix.shape[0]), n_u)
    low = np.full(matrix.shape[0], np.inf)
    high = np.full(matrix.shape[0], -np.inf)
    np.minimum.at(low, rows, matrix.data)
    np.maximum.at(high, rows, matrix.data)
    return (n_u == 0) | (low == high)


def _zscored(matrix: sp.csr_matrix) -> sp.csr_matrix:
    n_u = np.diff(matrix.indptr).astype(np.float64)
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    safe_n = np.maximum(n_u, 1.0)
    mean = np.bincount(rows, weights=matrix.data, minlength=matrix.shape[0]) / safe_n
    centred = matrix.data - mean[rows]
    std = np.sqrt(np.bincount(rows, weights=centred**2, minlength=matrix.shape[0]) / safe_n)
    # A constant profile has no spread: its z-scores are 0 (it lies at its own mean everywhere). Tested
    # exactly, not by std, because rounding leaves a tiny std that would blow its deviations up to ±1.
    std[_constant_rows(matrix, implicit=False)] = np.inf
    z = matrix.copy()
    z.data = centred / std[rows]
    return z


def _standardised(matrix: sp.csr_matrix) -> LinearOperator:
    n_users, n_items = matrix.shape
    p = np.diff(matrix.indptr) / n_items
    s = np.sqrt(p * (1 - p))
    inv = np.where(s > 0, 1.0 / np.where(s > 0, s, 1.0), 0.0)
    matrix_t = matrix.T.tocsr()

    def matvec(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x).reshape(n_items, -1)
        return inv[:, None] * (matrix @ x - p[:, None] * x.sum(axis=0, keepdims=True))

    def rmatvec(y: np.ndarray) -> np.ndarray:
        y = inv[:, None] * np.asarray(y).reshape(n_users, -1)
        return matrix_t @ y - (p @ y)[None, :]

    return LinearOperator(
        (n_users, n_items), matvec=matvec, rmatvec=rmatvec, matmat=matvec, rmatmat=rmatvec, dtype=np.float64
    )


class IsolationForestDetector(_TopN):
    """Unsupervised outliers in feature space: an isolation forest on :class:`ProfileFeatures`, fitted
    on the population it scores (labels ignored). Score = minus sklearn's normality score."""

    def __init__(self, n_flag: int | None = None, features: ProfileFeatures | None = None, seed: int = 0):
        super().__init__(n_flag)
        self.name = "iforest"
        self.features = features or ProfileFeatures()
        self.seed = seed

    def score(self, ratings: sp.spmatrix) -> np.ndarray:
        from sklearn.ensemble import IsolationForest

        x = self.features.transform(ratings)
        forest = IsolationForest(n_estimators=300, random_state=self.seed, n_jobs=1).fit(x)
        return -forest.score_samples(x)


class ScorerDetector(Detector):
    """Wraps an external scorer, e.g. a GAN discriminator: ``scorer(ratings) -> scores`` (higher = more
    suspicious) and optionally ``fitter(ratings, labels)``. Flags by ``threshold`` or the top ``n_flag``."""

    def __init__(
        self,
        scorer: Callable[[sp.csr_matrix], np.ndarray],
        name: str = "scorer",
        fitter: Callable[[sp.csr_matrix, np.ndarray | None], None] | None = None,
        threshold: float | None = None,
        n_flag: int | None = None,
        supervised: bool = False,
    ):
        if (threshold is None) == (n_flag is None):
            raise ConfigError(f"detector {name!r}: give exactly one of threshold and n_flag")
        self.name = name
        self.scorer = scorer
        self.fitter = fitter
        self.threshold = threshold
        self.n_flag = n_flag
        self.supervised = supervised

    def fit(self, ratings: sp.spmatrix, labels: np.ndarray | None = None) -> ScorerDetector:
        if self.fitter is not None:
            self.fitter(sp.csr_matrix(ratings), labels)
        return self

    def score(self, ratings: sp.spmatrix) -> np.ndarray:
        matrix = sp.csr_matrix(ratings)
        scores = np.asarray(self.scorer(matrix), dtype=np.float64).ravel()
        if scores.size != matrix.shape[0]:
            raise ValueError(
                f"scorer {self.name!r} returned {scores.size} scores for {matrix.shape[0]} profiles"
            )
        return scores

    def flags_from_scores(self, scores: np.ndarray) -> np.ndarray:
        if self.threshold is not None:
            return np.asarray(scores) >= self.threshold
        assert self.n_flag is not None  # the constructor asks for exactly one of them
        return top_n_flags(scores, self.n_flag)


def build_detector(
    name: str, *, seed: int = 0, n_flag: int | None = None, implicit: bool = False
) -> Detector:
    """A built-in detector by name (one of :data:`DETECTORS`)."""
    features = ProfileFeatures(implicit=implicit)
    if name in ("gbdt", "rf"):
        return SupervisedDetector(name, features=features, seed=seed)
    if name == "pca":
        return PCAVarSelect(n_flag=n_flag, implicit=implicit)
    if name == "iforest":
        return IsolationForestDetector(n_flag=n_flag, features=features, seed=seed)
    raise ConfigError(f"unknown detector {name!r}; valid: {', '.join(DETECTORS)}")
