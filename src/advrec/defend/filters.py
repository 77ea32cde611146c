"""The detector behind the ``filter`` / ``filter+apr`` defences: poisoned TRAIN -> users flagged as fake.

The default (``simulated_filter``, below) is supervised without labels of the attacked data: the defender
trains a classifier to tell its own simulated fake profiles from the existing users.

The defender knows neither which users are fake nor how they were made; the older unsupervised option:
a detector from ``advrec.defend`` scores every training profile on its *ratings* (the fake profiles
carry ratings even when the victim trains on implicit feedback, as ``examples/basics/ml100k_mf_bpr.yaml``
does)
and flags as many users as the expected attack size. The expected size is the attack's own ``--size``
(a share of the real users), the usual assumption of PCA-VarSelect (Mehta & Nejdl 2009).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from advrec.attack.gan_attack import rating_matrix
from advrec.attack.profiles import AttackSpec, FakeProfiles
from advrec.data.interactions import Interactions
from advrec.defend.base import Detector as DefenceDetector
from advrec.defend.base import expected_fakes
from advrec.errors import ConfigError

# simulated: the default, below; simulated+template also simulates the light-user template attack
FILTER_DETECTORS = ("simulated", "simulated+template", "iforest", "pca", "co-rating")


@dataclass(frozen=True)
class UnsupervisedFilter:
    """A defence detector flagging the ``expected_fakes`` most suspicious training users by ``name``."""

    size: float
    name: str = "iforest"
    seed: int = 0

    def __call__(self, train: Interactions) -> np.ndarray:
        from advrec.defend.detectors import build_detector

        implicit = train.ratings is None
        detector = build_detector(
            self.name, seed=self.seed, n_flag=expected_fakes(train.n_users, self.size), implicit=implicit
        )
        return detector.fit(rating_matrix(train), None).flag(rating_matrix(train))


def unsupervised_filter(size: float, method: str = "iforest", seed: int = 0) -> UnsupervisedFilter:
    if method not in ("iforest", "pca"):
        raise ConfigError(f"filter detector {method!r}: expected one of {', '.join(FILTER_DETECTORS)}")
    expected_fakes(1, size)  # bad sizes fail when the defence is built, not after training
    return UnsupervisedFilter(size, method, seed)


def filter_detector(name: str, size: float, seed: int = 0) -> DefenceDetector:
    """The filter defence's detector by name (``--detector``): ``simulated`` (default) or an
    unsupervised one."""
    if name == "simulated":
        return simulated_filter(size, seed)
    if name == "simulated+template":
        kinds = (*SIMULATED_KINDS, "template")
        return replace(simulated_filter(size, seed, SimulationSettings(kinds=kinds)), name=name)
    if name == "co-rating":  # the item-group detector of advrec.defend.co_rating
        from advrec.defend.co_rating import co_rating_filter

        return co_rating_filter(size)
    return unsupervised_filter(size, name, seed)


def supervised_filter(detector, labelled_users: np.ndarray, labels: np.ndarray) -> DefenceDetector:
    """A defence detector from a supervised ``advrec.defend`` detector trained on the users whose
    label the defender trusts (``labelled_users``: TRAIN user indices; ``labels``: 1 fake, 0 genuine)."""
    labelled_users = np.asarray(labelled_users, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    if labelled_users.shape != labels.shape:
        raise ValueError(f"{labels.size} labels for {labelled_users.size} labelled users")

    def detect(train: Interactions) -> np.ndarray:
        full = np.full(train.n_users, -1, dtype=np.int64)
        full[labelled_users] = labels
        matrix = rating_matrix(train)
        return np.asarray(detector.fit(matrix, full).flag(matrix), dtype=bool)

    return detect


# --- the default: a supervised detector trained on attacks the defender simulates itself -----------

SIMULATED_KINDS = ("random", "average", "bandwagon", "segment", "optimised")
FILTER_THRESHOLD_RULES = ("capped", "probability", "expected")


@dataclass(frozen=True)
class SimulationSettings:
    """What the defender simulates and how it thresholds (see :func:`simulated_filter`)."""

    kinds: tuple[str, ...] = SIMULATED_KINDS
    # the defender knows neither the filler size nor the number of targets or selected items: each
    # group draws its own, filler uniform in filler_range × the mean profile length
    filler_range: tuple[float, float] = (0.5, 1.5)
    max_targets: int = 5
    max_selected: int = 15  # bandwagon / segment: 1..max_selected selected items
    copies: int = 6  # groups per kind
    classifier: str = "rf"
    folds: int = 5
    by_length: bool = True  # cross-fitting folds keep each profile length together (see _folds)
    # capped: P ≥ threshold among the expected-attack-size top scores; probability: P ≥ threshold;
    # expected: the expected-attack-size top scores
    rule: str = "capped"
    threshold: float = 0.5
    refine: int = 1  # passes that leave the previous pass's suspects out of the genuine class
    leaf_share: float = 0.0  # forest leaves: at least this × the expected attack size (0: grown fully)
    refine_top: float = 2.0  # suspects: this many × the expected attack size (and every P ≥ threshold)

    def check(self) -> None:
        from advrec.attack.registry import get_attack

        for kind in self.kinds:
            get_attack(kind)
        low, high = self.filler_range
        if not self.kinds or not 0 < low <= high:
            raise ConfigError("simulated filter: expected attack kinds and a filler range 0 < low <= high")
        if self.classifier not in ("rf", "gbdt"):
            raise ConfigError(f"simulated filter classifier {self.classifier!r}: expected rf or gbdt")
        if (
            self.folds < 2
            or self.max_targets < 1
            or self.copies < 1
            or self.max_selected < 1
            or self.refine < 0
            or self.refine_top < 0
        ):
            raise ConfigError("simulated filter: expected folds >= 2, max_targets, copies >= 1, refine >= 0")
        if self.rule not in FILTER_THRESHOLD_RULES or not 0 < self.threshold < 1:
            raise ConfigError(
                f"simulated filter rule {self.rule!r} / threshold {self.threshold}: expected one of "
                f"{', '.join(FILTER_THRESHOLD_RULES)} and a threshold in (0, 1)"
            )


def _profile_rows(profiles: FakeProfiles, n_items: int, implicit: bool) -> sp.csr_matrix:
    values = np.ones(len(profiles)) if implicit else profiles.ratings.astype(np.float64)
    shape = (profiles.n_fake, n_items)
    mat = sp.coo_matrix((values, (profiles.users, profiles.items)), shape=shape).tocsr()
    counts = sp.coo_matrix((np.ones(len(profiles)), (profiles.users, profiles.items)), shape=shape).tocsr()
    mat.data = mat.data / counts.data  # a repeated item keeps one (mean) rating, as rating_matrix does
    return mat


def simulated_features(
    train: Interactions, n_fake: int, settings: SimulationSettings, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Profile features of the existing TRAIN users, and of simulated fake users.

    Each simulated group (``copies`` per attack kind, ``n_fake`` users, its own filler size and 1 to
    ``max_targets`` targets drawn from a random popularity band) is appended to its own copy of TRAIN
    and its features are computed in that population, as a real attack's fakes are seen in theirs:
    the features are population-relative."""
    from advrec.attack.registry import get_attack
    from advrec.attack.targets import BANDS, band_items, select_targets
    from advrec.defend.features import ProfileFeatures

    implicit = train.ratings is None
    features = ProfileFeatures(implicit=implicit)
    matrix = rating_matrix(train)
    existing = features.transform(matrix)
    mean_length = len(train) / max(1, train.n_users)
    groups = []
    for kind, _ in itertools.product(settings.kinds, range(settings.copies)):
        n_targets = int(rng.integers(1, settings.max_targets + 1))
        bands = [b for b in sorted(BANDS) if len(band_items(train, b)) >= n_targets] or ["random"]
        band = bands[int(rng.integers(len(bands)))]
        targets = select_targets(f"{band}:{n_targets}", train, rng)
        filler = max(1, int(round(rng.uniform(*settings.filler_range) * mean_length)))
        n_selected = int(rng.integers(1, settings.max_selected + 1))  # bandwagon / segment
        filler = min(filler, train.n_items - n_targets - n_selected)
        spec = AttackSpec(n_fake=n_fake, filler=filler, targets=targets, n_selected=n_selected)
        rows = _profile_rows(get_attack(kind)(spec, train, rng), train.n_items, implicit)
        groups.append(features.transform(sp.vstack([matrix, rows]).tocsr())[train.n_users :])
    return existing, np.concatenate(groups)


def _classifier(settings: SimulationSettings, n_fake: int, seed: int):
    """The classifier; ``leaf_share`` > 0 makes every leaf hold that × the expected attack size of
    profiles, so that a tight cluster of real fakes labelled genuine cannot form a leaf of its own (on
    ML-100K the length-grouped folds of :func:`_folds` did better, so the default grows trees fully)."""
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

    leaf = max(1, int(round(settings.leaf_share * n_fake)))
    if settings.classifier == "gbdt":
        return GradientBoostingClassifier(
            n_estimators=200, max_depth=3, min_samples_leaf=leaf, random_state=seed
        )
    return RandomForestClassifier(
        n_estimators=300, min_samples_leaf=leaf, class_weight="balanced", n_jobs=1, random_state=seed
    )


def _cross_fitted(
    existing: np.ndarray,
    fakes: np.ndarray,
    negative: np.ndarray,
    folds: np.ndarray,
    make_model: Callable[[int], Any],
) -> np.ndarray:
    """P(fake) of every existing user from models fitted on the simulated fakes (1) against the
    ``negative`` existing users (0) of the other folds."""
    scores = np.zeros(len(existing))
    for fold in np.unique(folds):
        held = folds == fold
        train_rows = negative & ~held
        x = np.concatenate([existing[train_rows], fakes])
        y = np.r_[np.zeros(int(train_rows.sum()), dtype=np.int64), np.ones(len(fakes), dtype=np.int64)]
        model = make_model(int(fold)).fit(x, y)
        scores[held] = model.predict_proba(existing[held])[:, 1]
    return scores


def _folds(lengths: np.ndarray, settings: SimulationSettings, rng: np.random.Generator) -> np.ndarray:
    """Cross-fitting folds. ``by_length``: every user of one profile length in the same fold (the
    lengths dealt to the folds in a random order), because a generator gives all its fakes the same
    length: the whole real attack is held out together, never labelled genuine in the model that
    scores it. Otherwise users are dealt at random."""
    if not settings.by_length:
        return rng.permutation(len(lengths)) % settings.folds
    unique, inverse = np.unique(lengths, return_inverse=True)
    return (rng.permutation(len(unique)) % settings.folds)[inverse]


def simulated_scores(
    train: Interactions, size: float, settings: SimulationSettings, seed: int = 0
) -> np.ndarray:
    """P(fake) of every TRAIN user from a classifier fitted on simulated fakes (label 1) against the
    existing users (label 0).

    The existing users include the real fakes, labelled 0 unknowingly. Two guards: a forest scores
    its own training rows by what it memorised, so every existing user is scored by a model fitted
    on the other folds (cross-fitting), the folds keeping each profile length together so that a
    real attack (one length) is held out whole; and, labelled genuine, a real attack outweighs the
    few simulated profiles near it, so a second pass leaves the first pass's suspects
    (the top ``refine_top`` × the expected attack size, or P ≥ threshold) out of the genuine class
    (positive-unlabelled learning's usual two steps)."""
    settings.check()
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(5,)))  # stream 5: the filter
    n_fake = max(1, expected_fakes(train.n_users, size))
    existing, fakes = simulated_features(train, n_fake, settings, rng)
    folds = _folds(existing[:, 0], settings, rng)  # feature 0 is the profile length (both feature sets)
    negative = np.ones(train.n_users, dtype=bool)

    def make_model(fold: int):
        return _classifier(settings, n_fake, seed + fold)

    scores = _cross_fitted(existing, fakes, negative, folds, make_model)
    for _ in range(settings.refine):
        from advrec.defend.detectors import top_n_flags

        suspects = top_n_flags(scores, int(settings.refine_top * n_fake)) | (scores >= settings.threshold)
        scores = _cross_fitted(existing, fakes, ~suspects, folds, make_model)
    return scores


@dataclass(frozen=True)
class SimulatedFilter:
    """A defence detector needing no labels of the attacked data: see :func:`simulated_filter`."""

    size: float
    seed: int = 0
    settings: SimulationSettings = SimulationSettings()
    name: str = "simulated"

    def __call__(self, train: Interactions) -> np.ndarray:
        scores = simulated_scores(train, self.size, self.settings, self.seed)
        # the top scores, ties (a forest gives many users P = 1) broken at random rather than by row
        # order, which would favour the real users (injected fakes take the last rows)
        tiebreak = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(6,)))
        order = np.lexsort((tiebreak.permutation(len(scores)), -scores))
        top = np.zeros(len(scores), dtype=bool)
        top[order[: expected_fakes(train.n_users, self.size)]] = True
        if self.settings.rule == "expected":
            return top
        above = scores >= self.settings.threshold
        return above & top if self.settings.rule == "capped" else above


def simulated_filter(
    size: float, seed: int = 0, settings: SimulationSettings | None = None
) -> SimulatedFilter:
    """The ``filter`` defence's default detector: the defender injects fake profiles of known kinds
    (advrec's own generators, ``SIMULATED_KINDS``; 6 groups per kind of ``expected_fakes`` users, each
    group on 1-5 random targets with a filler of 0.5-1.5 × the mean profile length) into copies of
    the (possibly poisoned) training data, labels them fake and every existing user genuine, fits a
    random forest on the profile features, and flags the existing users whose cross-fitted P(fake)
    ≥ 0.5 among the expected-attack-size top scores (``rule="capped"``).

    The threshold, so that an attack smaller than assumed does not force k genuine users out; the
    cap, because a fully grown forest gives a few unusual genuine users P ≈ 1 (on ML-100K bandwagon,
    docs/notes/2026-11-poisoning-defences.md: 24 genuine users ≥ 0.5 while all 28 fakes were ≥ 0.99)."""
    settings = settings or SimulationSettings()
    expected_fakes(1, size)  # bad sizes and settings fail when the defence is built
    settings.check()
    return SimulatedFilter(size, seed, settings)
