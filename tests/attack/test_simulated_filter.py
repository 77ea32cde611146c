"""The default filter detector: a classifier trained on fake profiles the defender simulates itself."""

import numpy as np
import pytest

from advrec.attack.inject import FAKE_USERS_FILE, inject, write_poisoned_split
from advrec.attack.profiles import AttackSpec
from advrec.attack.registry import get_attack
from advrec.data.interactions import Interactions
from advrec.data.split import load_saved_split, ratio_split
from advrec.defend.base import expected_fakes
from advrec.defend.filters import (
    SimulationSettings,
    filter_detector,
    simulated_features,
    simulated_filter,
    simulated_scores,
)
from advrec.errors import ConfigError

# fast settings for the small data (optimised is exercised in its own test below)
FAST = SimulationSettings(kinds=("random", "average", "bandwagon", "segment"))


def _rated_split(n_users=300, n_items=300, seed=0):
    """Real users as in rating data: skewed profile lengths (many short, a few long), popular items more
    likely, ratings = item mean + the user's bias + the user's taste (2 latent factors, what makes real
    users agree with their neighbours) + noise. Generators know item means and spreads, not tastes."""
    rng = np.random.default_rng(seed)
    item_mean = rng.uniform(1.5, 4.5, n_items)
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.7
    item_taste = rng.normal(0, 1.0, (n_items, 2))
    users, items, ratings = [], [], []
    for u in range(n_users):
        k = int(np.clip(rng.lognormal(np.log(30), 0.7), 10, 200))
        bias, taste = rng.normal(0, 0.5), rng.normal(0, 0.7, 2)
        chosen = rng.choice(n_items, k, replace=False, p=pop / pop.sum())
        users += [u] * k
        items += chosen.tolist()
        ratings += np.clip(
            np.round(item_mean[chosen] + bias + item_taste[chosen] @ taste + rng.normal(0, 0.3, k)), 1, 5
        ).tolist()
    data = Interactions.from_raw(np.array(users), np.array(items), np.array(ratings, dtype=np.float32))
    return ratio_split(data, (0.8, 0.1, 0.1), np.random.default_rng(seed))


def _poisoned(kind: str, size: float = 0.05, seed: int = 0):
    split = _rated_split(seed=seed)
    train = split.train
    n_fake = int(round(size * train.n_users))
    mean_length = int(round(len(train) / train.n_users))
    spec = AttackSpec(n_fake=n_fake, filler=mean_length, targets=np.array([150, 200]), n_selected=5)
    poisoned, fake_ids = inject(split, get_attack(kind)(spec, train, np.random.default_rng(seed + 1)))
    return poisoned, fake_ids, train.n_users


@pytest.mark.parametrize(("kind", "caught"), [("average", 0.6), ("bandwagon", 0.9)])
def test_flags_most_fakes_and_few_real_users(kind, caught):
    poisoned, _, n_real = _poisoned(kind)
    flags = simulated_filter(0.05, seed=3, settings=FAST)(poisoned.train)
    assert flags.shape == (poisoned.train.n_users,) and flags.dtype == bool
    assert flags[n_real:].mean() >= caught  # fakes caught (a random pick of 15 would catch 5%)
    assert flags[:n_real].mean() <= 0.02  # genuine users dropped
    # the default rule never flags more than the expected attack size
    assert flags.sum() <= expected_fakes(poisoned.train.n_users, 0.05)


def test_never_reads_the_fake_labels(tmp_path):
    poisoned, fake_ids, _ = _poisoned("bandwagon", seed=1)
    write_poisoned_split(tmp_path / "split", poisoned, fake_ids)
    detect = simulated_filter(0.05, seed=4, settings=FAST)
    flags = detect(load_saved_split(tmp_path / "split").train)
    # a wrong label file (real users named fake), then none at all: the same flags
    (tmp_path / "split" / FAKE_USERS_FILE).write_text("".join(f"{u}\n" for u in range(len(fake_ids))))
    assert np.array_equal(detect(load_saved_split(tmp_path / "split").train), flags)
    (tmp_path / "split" / FAKE_USERS_FILE).unlink()
    assert np.array_equal(detect(load_saved_split(tmp_path / "split").train), flags)
    assert flags.any()


def test_scores_are_seeded_and_cross_fitted():
    poisoned, _, n_real = _poisoned("average", seed=2)
    a = simulated_scores(poisoned.train, 0.05, FAST, seed=5)
    b = simulated_scores(poisoned.train, 0.05, FAST, seed=5)
    assert np.array_equal(a, b)
    assert ((a >= 0) & (a <= 1)).all()
    # the real fakes sit among the existing users (label 0), yet score high: out-of-fold, not memorised
    assert np.median(a[n_real:]) > 0.5 > np.median(a[:n_real])


def test_length_folds_keep_each_length_together():
    from advrec.defend.filters import _folds

    lengths = np.array([5, 7, 5, 9, 7, 7, 11, 5, 13, 9])
    folds = _folds(lengths, SimulationSettings(folds=3), np.random.default_rng(0))
    for length in np.unique(lengths):
        assert len(set(folds[lengths == length].tolist())) == 1
    assert set(folds.tolist()) == {0, 1, 2}  # 5 lengths dealt to 3 folds: none empty
    shuffled = _folds(lengths, SimulationSettings(folds=3, by_length=False), np.random.default_rng(0))
    assert np.bincount(shuffled).tolist() == [4, 3, 3]


def test_simulated_groups_are_the_requested_size():
    poisoned, _, _ = _poisoned("average")
    train = poisoned.train
    settings = SimulationSettings(kinds=("average", "bandwagon"), copies=3, filler_range=(1.0, 1.0))
    existing, fakes = simulated_features(train, 7, settings, np.random.default_rng(0))
    assert existing.shape[0] == train.n_users
    assert fakes.shape == (2 * 3 * 7, existing.shape[1])
    # length (feature 0) = filler (the mean profile length, range 1-1) + 1..5 targets [+ 1..15 selected]
    mean_length = int(round(len(train) / train.n_users))
    extra = fakes[:, 0] - mean_length
    assert set(extra[:21].tolist()) <= {1, 2, 3, 4, 5} and set(extra[21:].tolist()) <= set(range(2, 21))


def test_expected_rule_flags_the_expected_attack_size():
    poisoned, _, _ = _poisoned("average")
    settings = SimulationSettings(kinds=("average",), copies=2, rule="expected")
    flags = simulated_filter(0.05, settings=settings)(poisoned.train)
    assert flags.sum() == expected_fakes(poisoned.train.n_users, 0.05)


def test_optimised_kind_runs_and_the_default_includes_it():
    assert "optimised" in SimulationSettings().kinds
    poisoned, _, n_real = _poisoned("average")
    settings = SimulationSettings(kinds=("optimised", "average"), copies=2)
    flags = simulated_filter(0.05, settings=settings)(poisoned.train)
    assert flags[n_real:].mean() >= 0.5


@pytest.mark.parametrize(
    "bad",
    [
        {"kinds": ("nope",)},
        {"kinds": ()},
        {"filler_range": (0.0, 1.0)},
        {"filler_range": (1.5, 1.0)},
        {"copies": 0},
        {"classifier": "svm"},
        {"folds": 1},
        {"rule": "top"},
        {"threshold": 1.5},
    ],
)
def test_bad_settings_fail_when_built(bad):
    with pytest.raises(ConfigError):
        simulated_filter(0.05, settings=SimulationSettings(**bad))


def test_detector_names():
    assert filter_detector("simulated", 0.03).name == "simulated"
    assert filter_detector("iforest", 0.03).name == "iforest"
    with pytest.raises(ConfigError, match="filter detector"):
        filter_detector("nope", 0.03)
    with pytest.raises(ConfigError, match="--size"):
        filter_detector("simulated", 0.0)


def test_simulated_template_detector_adds_the_template_kind_only():
    plain, with_template = filter_detector("simulated", 0.03), filter_detector("simulated+template", 0.03)
    assert with_template.name == "simulated+template"
    assert with_template.settings.kinds == (*plain.settings.kinds, "template")
    assert "template" not in plain.settings.kinds  # the default detector is unchanged


def test_template_kind_simulates_groups_of_the_requested_size():
    """The template generator as a simulated kind: groups of the expected size, each profile the
    group's filler plus its 1-5 targets (the defender's simulation draws both)."""
    poisoned, _, _ = _poisoned("average")
    train = poisoned.train
    settings = SimulationSettings(kinds=("template",), copies=2, filler_range=(1.0, 1.0))
    existing, fakes = simulated_features(train, 6, settings, np.random.default_rng(0))
    assert fakes.shape == (2 * 6, existing.shape[1])
    extra = fakes[:, 0] - int(round(len(train) / train.n_users))  # length (feature 0) - filler
    assert set(extra.tolist()) <= {1, 2, 3, 4, 5}
