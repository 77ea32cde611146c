"""Fake item sequences: their order and shape, TRAIN only through the injection (in the order generated),
and `advrec attack` against SASRec, where sequences that lead up to the target raise it."""

import json

import numpy as np
import pytest
import yaml

from advrec.attack.base import AttackSpec
from advrec.attack.inject import inject, read_fake_users
from advrec.attack.registry import ATTACKS, generate
from advrec.cli.main import main
from advrec.data.interactions import Interactions
from advrec.data.sequences import user_sequences
from advrec.data.split import leave_one_out_split, load_saved_split

N_ITEMS = 30
NAMES = ["sequence-random", "sequence-popular", "sequence-interleaved"]


def _train(seed: int = 0) -> Interactions:
    """Users with timestamps; item popularity falls with the item's index."""
    rng = np.random.default_rng(seed)
    users, items, stamps = [], [], []
    for u in range(40):
        seq = rng.choice(
            N_ITEMS,
            size=10,
            replace=False,
            p=np.linspace(2, 0.1, N_ITEMS) / np.linspace(2, 0.1, N_ITEMS).sum(),
        )
        users += [u] * 10
        items += seq.tolist()
        stamps += list(range(100, 110))
    return Interactions.from_raw(np.array(users), np.array(items), timestamps=np.array(stamps))


def _make(name: str, spec: AttackSpec, train: Interactions, seed: int = 1, **settings):
    return generate(ATTACKS.validate({"name": name, **settings}), spec, train, np.random.default_rng(seed))


@pytest.mark.parametrize("name", NAMES)
def test_sequences_have_their_shape_and_order(name):
    train = _train()
    targets = np.array([25, 28])
    spec = AttackSpec(n_fake=6, filler=8, targets=targets)
    profiles = _make(name, spec, train)
    assert profiles.n_fake == 6 and set(profiles.users.tolist()) == set(range(6))
    again = _make(name, spec, train)
    assert np.array_equal(profiles.items, again.items)  # seeded
    for u in range(6):
        seq = profiles.items[profiles.users == u].tolist()
        filler = [i for i in seq if i not in targets]
        assert len(filler) == 8 == len(set(filler))
        if name == "sequence-interleaved":  # filler, target, filler, target, ... (targets in turn)
            assert seq[1::2] == [25, 28, 25, 28, 25, 28, 25, 28] and seq[0::2] == filler
        else:  # the filler, then every target
            assert seq[-2:] == [25, 28] and seq[:-2] == filler
    assert profiles.ratings.shape == profiles.items.shape


def test_interleaving_every_k_filler_items():
    spec = AttackSpec(n_fake=2, filler=6, targets=np.array([29]))
    profiles = _make("sequence-interleaved", spec, _train(), every=3)
    seq = profiles.items[profiles.users == 0].tolist()
    assert len(seq) == 8 and seq[3] == 29 and seq[7] == 29 and 29 not in seq[:3] + seq[4:7]


def test_popular_filler_follows_popularity():
    train = _train()
    popularity = np.bincount(train.items, minlength=train.n_items)
    spec = AttackSpec(n_fake=50, filler=5, targets=np.array([29]))
    mean = {
        name: popularity[_make(name, spec, train).items].mean()
        for name in ("sequence-random", "sequence-popular")
    }
    assert mean["sequence-popular"] > mean["sequence-random"] + 1.0  # about 13.6 against 11.6 here


def test_fake_sequences_reach_train_only_in_their_order():
    train = _train()
    split = leave_one_out_split(train)
    spec = AttackSpec(n_fake=4, filler=5, targets=np.array([27]))
    profiles = _make("sequence-interleaved", spec, split.train)
    poisoned, fake_ids = inject(split, profiles)
    assert poisoned.valid.n_users == poisoned.train.n_users and len(poisoned.valid) == len(split.valid)
    fake = set(fake_ids.tolist())
    for part in (poisoned.valid, poisoned.test):
        assert not fake & set(part.user_map.raw[part.users].tolist())
    sequences = user_sequences(poisoned.train)
    for k, raw in enumerate(fake_ids.tolist()):
        index = poisoned.train.user_map.index(raw)
        got = poisoned.train.item_map.raw[
            sequences.items[sequences.indptr[index] : sequences.indptr[index + 1]]
        ]
        expected = split.train.item_map.raw[profiles.items[profiles.users == k]]
        assert got.tolist() == expected.tolist()


def _walks(path, n_users: int = 50, steps: int = 12, n_items: int = 100, seed: int = 0) -> None:
    """Each user walks item i -> i + 1 (mod n_items) from a random start."""
    rng = np.random.default_rng(seed)
    lines = ["user\titem\ttimestamp"]
    for user in range(n_users):
        start = int(rng.integers(n_items))
        lines += [f"u{user}\ti{(start + t) % n_items}\t{100 + t}" for t in range(steps)]
    path.write_text("\n".join(lines) + "\n")


def test_advrec_attack_poisons_sasrec_with_fake_sequences(tmp_path):
    _walks(tmp_path / "walks.tsv")
    config = {
        "seed": 3,
        "threads": 1,
        "data": {
            "format": "table",
            "path": str(tmp_path / "walks.tsv"),
            "columns": {"user": "user", "item": "item", "timestamp": "timestamp"},
        },
        "split": {"method": "loo"},
        "model": {"name": "sasrec", "dim": 16, "dropout": 0.1, "init_std": 0.05, "max_len": 6},
        "train": {"epochs": 15, "batch_size": 8, "patience": 50, "optimizer": {"lr": 0.01}},
        "eval": {"ks": [1, 10], "metrics": ["ndcg", "hit"]},
    }
    path = tmp_path / "victim.yaml"
    path.write_text(yaml.safe_dump(config))
    out = {}
    for name in ("random", "sequence-random", "sequence-interleaved"):
        folder = tmp_path / name
        args = ["attack", str(path), "--attack", name, "--size", "0.2", "--targets", "i7", "--filler", "6"]
        assert main([*args, "--out", str(folder), "--quiet"]) == 0
        out[name] = json.loads((folder / "results.json").read_text())["poisoning"]
        fake = set(read_fake_users(folder / "poisoned" / "split"))
        assert len(fake) == 10
        poisoned = load_saved_split(folder / "poisoned" / "split")
        for part in (poisoned.valid, poisoned.test):
            assert not fake & set(part.user_map.raw[part.users].tolist())
    gain = {k: v["after"]["target_hit@10"] - v["before"]["target_hit@10"] for k, v in out.items()}
    assert out["random"]["before"] == out["sequence-interleaved"]["before"]  # the same clean victim
    # the classic random profile of the same shape lists the target first: SASRec learns what follows it,
    # not what it follows; a sequence that leads up to the target raises it
    for name in ("sequence-random", "sequence-interleaved"):
        assert gain[name] > 0.2 and gain[name] > gain["random"] + 0.15, name
        assert out[name]["after"]["target_mean_rank"] < out[name]["before"]["target_mean_rank"] - 15, name
