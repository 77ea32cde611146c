import numpy as np
import pytest

from advrec.attack.gan_attack import rating_matrix
from advrec.attack.inject import inject
from advrec.attack.profiles import AttackSpec
from advrec.attack.registry import get_attack
from advrec.data.interactions import Interactions
from advrec.data.split import ratio_split
from advrec.defend.base import expected_fakes
from advrec.defend.defences import build_defence
from advrec.defend.filters import supervised_filter, unsupervised_filter
from advrec.errors import ConfigError


def _rated_split(n_users=100, n_items=60, seed=0):
    """Real users: varied profile lengths, ratings around per-item means."""
    rng = np.random.default_rng(seed)
    item_mean = rng.uniform(1.5, 4.5, n_items)
    users, items, ratings = [], [], []
    for u in range(n_users):
        k = int(rng.integers(8, 30))
        chosen = rng.choice(
            n_items, k, replace=False, p=np.linspace(2, 1, n_items) / np.linspace(2, 1, n_items).sum()
        )
        users += [u] * k
        items += chosen.tolist()
        ratings += np.clip(np.round(item_mean[chosen] + rng.normal(0, 1.0, k)), 1, 5).tolist()
    data = Interactions.from_raw(np.array(users), np.array(items), np.array(ratings, dtype=np.float32))
    return ratio_split(data, (0.8, 0.1, 0.1), np.random.default_rng(seed))


def test_expected_fakes():
    assert expected_fakes(103, 0.03) == 3  # 100 real + 3 fake
    assert expected_fakes(110, 0.1) == 10
    with pytest.raises(ConfigError, match="--size"):
        expected_fakes(100, 0.0)
    with pytest.raises(ConfigError, match="filter detector"):
        unsupervised_filter(0.1, method="nope")


def test_rating_matrix_keeps_the_ratings():
    train = Interactions.from_raw(np.array([1, 1, 2]), np.array([5, 6, 5]), np.array([4.0, 2.0, 1.0]))
    m = rating_matrix(train).toarray()
    assert m.tolist() == [[4.0, 2.0], [1.0, 0.0]]


def test_filter_drops_flagged_fakes_only_from_train():
    # iforest: on this structureless synthetic data (real users share no taste) PCA-VarSelect's premise
    # fails (the fakes' shared selected items make them the most correlated users),
    # see docs/notes/2026-11-detection.md
    split = _rated_split()
    train = split.train
    n_real = train.n_users
    spec = AttackSpec(n_fake=10, filler=30, targets=np.array([55, 56]), n_selected=5)
    profiles = get_attack("bandwagon")(spec, train, np.random.default_rng(0))
    poisoned, _ = inject(split, profiles)
    detect = unsupervised_filter(0.1, method="iforest")
    flags = detect(poisoned.train)
    defence = build_defence("filter", detector=detect)
    kept, report = defence.train_split(poisoned)
    assert kept.valid is poisoned.valid and kept.test is poisoned.test
    assert report["flagged_users"] == int(flags.sum()) == expected_fakes(poisoned.train.n_users, 0.1) == 10
    # exactly the flagged users' training rows are gone, everybody else's are all kept
    assert not flags[kept.train.users].any()
    assert (
        len(kept.train)
        == int((~flags[poisoned.train.users]).sum())
        == len(poisoned.train) - report["dropped_interactions"]
    )
    # the flagged set is mostly fake: well above the 10/110 a random pick would get
    assert flags[n_real:].sum() >= 4


def test_supervised_filter_uses_the_trusted_labels():
    from advrec.defend.detectors import SupervisedDetector

    split = _rated_split(seed=1)
    n_real = split.train.n_users
    spec = AttackSpec(n_fake=12, filler=15, targets=np.array([50]), n_selected=5)
    poisoned, _ = inject(split, get_attack("average")(spec, split.train, np.random.default_rng(1)))
    # the defender knows half the fakes and 40 genuine users
    known = np.r_[np.arange(40), n_real + np.arange(6)]
    labels = (known >= n_real).astype(int)
    detect = supervised_filter(SupervisedDetector("rf", seed=0), known, labels)
    flags = detect(poisoned.train)
    assert flags.shape == (poisoned.train.n_users,)
    assert flags[n_real:].mean() > 0.5 and flags[:n_real].mean() < 0.1
    with pytest.raises(ValueError, match="labels"):
        supervised_filter(SupervisedDetector("rf"), known, labels[:3])


def test_cli_filter_defence_runs_and_drops_only_training_rows(tmp_path, capsys):
    import json

    from advrec.attack.inject import read_fake_users
    from advrec.cli.main import main
    from advrec.data.split import load_saved_split

    config = tmp_path / "victim.yaml"
    config.write_text(
        "seed: 7\nthreads: 1\ndata:\n  format: synthetic\n"
        "  synthetic: {n_users: 70, n_items: 90, interactions_per_user: 15, seed: 1}\n"
        "model: {name: mf, dim: 8, init_std: 0.1}\n"
        "train: {epochs: 5, patience: 2, batch_size: 256, optimizer: {lr: 0.05}}\n"
    )
    out = tmp_path / "exp"
    args = ["attack", str(config), "--attack", "bandwagon", "--size", "0.1", "--targets", "random:2"]
    args += ["--filler", "30", "--defence", "filter", "--detector", "iforest"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    report = json.loads((out / "defended-filter-iforest" / "defence.json").read_text())
    assert report["detector"] == "iforest"
    assert report["flagged_users"] == 7  # the expected attack size: 0.1 × 70 real users
    poisoned = load_saved_split(out / "poisoned" / "split")
    defended = load_saved_split(out / "defended-filter-iforest" / "split")
    assert len(poisoned.train) - len(defended.train) == report["dropped_interactions"] > 0
    assert len(defended.valid) == len(poisoned.valid) and len(defended.test) == len(poisoned.test)
    fake = set(read_fake_users(out / "poisoned" / "split"))
    kept_fake = fake & set(defended.train.user_map.raw[defended.train.users].astype(str).tolist())
    assert len(kept_fake) < len(fake)  # some fake users were filtered out
    assert "defended" in json.loads((out / "results.json").read_text())["poisoning"]


def test_filter_keeps_the_rows_of_an_item_nobody_else_has(tmp_path):
    from advrec.data.split import Split, load_saved_split, save_split

    # item 9 is rated only by user 3 (flagged), in train; valid/test hold other items
    train = Interactions.from_raw(
        np.array([1, 1, 2, 2, 3, 3]), np.array([5, 6, 5, 7, 6, 9]), np.array([4.0, 2, 3, 5, 1, 5])
    )
    valid, test = train.select(np.array([0])), train.select(np.array([2]))
    mask = train.user_map.raw == 3
    kept, report = build_defence("filter", detector=lambda t: mask).train_split(Split(train, valid, test))
    rows = set(
        zip(
            kept.train.user_map.raw[kept.train.users].tolist(),
            kept.train.item_map.raw[kept.train.items].tolist(),
        )
    )
    assert rows == {(1, 5), (1, 6), (2, 5), (2, 7), (3, 9)}  # (3, 6) dropped, (3, 9) kept
    assert report == {"flagged_users": 1, "dropped_interactions": 1, "flagged_ids": [3]}
    save_split(kept, tmp_path)
    assert np.array_equal(load_saved_split(tmp_path).train.item_map.raw, train.item_map.raw)
