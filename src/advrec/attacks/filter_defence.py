"""The detector behind the ``filter`` / ``filter+apr`` defences: poisoned TRAIN -> users flagged as fake.

The defender knows neither which users are fake nor how they were made, so the default is unsupervised:
a detector from ``advrec.detection`` scores every training profile on its *ratings* (the fake profiles
carry ratings even when the victim trains on implicit feedback, as ``examples/ml100k_mf_bpr.yaml`` does)
and flags as many users as the expected attack size. The expected size is the attack's own ``--size``
(a share of the real users), the usual assumption of PCA-VarSelect (Mehta & Nejdl 2009).
"""

from __future__ import annotations

import numpy as np

from advrec.attacks.defences import Detector as DefenceDetector
from advrec.attacks.gan_attack import rating_matrix
from advrec.data.interactions import Interactions
from advrec.errors import ConfigError

FILTER_DETECTORS = ("pca", "iforest")


def expected_fakes(n_users: int, size: float) -> int:
    """Fake users among ``n_users`` poisoned-train users when fakes are ``size`` × the real users."""
    if not 0 < size <= 1:
        raise ConfigError(f"--size {size}: expected a share of real users in (0, 1]")
    return n_users - int(round(n_users / (1.0 + size)))


def unsupervised_filter(size: float, method: str = "iforest", seed: int = 0) -> DefenceDetector:
    """A defence detector flagging the ``expected_fakes`` most suspicious training users by ``method``."""
    if method not in FILTER_DETECTORS:
        raise ConfigError(f"filter detector {method!r}: expected one of {', '.join(FILTER_DETECTORS)}")
    expected_fakes(1, size)  # bad sizes fail when the defence is built, not after training

    def detect(train: Interactions) -> np.ndarray:
        from advrec.detection.detectors import build_detector

        implicit = train.ratings is None
        detector = build_detector(
            method, seed=seed, n_flag=expected_fakes(train.n_users, size), implicit=implicit
        )
        return detector.fit(rating_matrix(train), None).flag(rating_matrix(train))

    return detect


def supervised_filter(detector, labelled_users: np.ndarray, labels: np.ndarray) -> DefenceDetector:
    """A defence detector from a supervised ``advrec.detection`` detector trained on the users whose
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
