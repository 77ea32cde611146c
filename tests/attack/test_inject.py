import numpy as np

from advrec.attack.inject import (
    fake_user_ids,
    inject,
    load_poisoned_split,
    read_fake_users,
    write_poisoned_split,
)
from advrec.attack.profiles import AttackSpec
from advrec.attack.registry import get_attack


def _rows(part):
    return set(zip(part.user_map.raw[part.users].tolist(), part.item_map.raw[part.items].tolist()))


def test_fake_users_reach_train_only(synthetic_split, tmp_path):
    clean = synthetic_split
    targets = np.array([3, 7])
    prof = get_attack("average")(AttackSpec(5, 6, targets), clean.train, np.random.default_rng(0))
    poisoned, ids = inject(clean, prof)
    assert len(ids) == 5 and ids.min() > clean.train.user_map.raw.max()
    fake = set(ids.tolist())
    train_users = set(poisoned.train.user_map.raw[poisoned.train.users].tolist())
    assert fake <= train_users
    for name in ("valid", "test"):
        part = getattr(poisoned, name)
        assert not fake & set(part.user_map.raw[part.users].tolist())
        assert _rows(part) == _rows(getattr(clean, name))
    assert _rows(poisoned.train) == _rows(clean.train) | {
        (ids[u], clean.train.item_map.raw[i]) for u, i in zip(prof.users.tolist(), prof.items.tolist())
    }
    # real users keep their dense indices; fake users come after them; the catalogue is unchanged
    n_real = clean.train.n_users
    assert np.array_equal(poisoned.train.user_map.raw[:n_real], clean.train.user_map.raw)
    assert np.array_equal(poisoned.train.item_map.raw, clean.train.item_map.raw)
    # written and read back: the same split and the list of fake users
    write_poisoned_split(tmp_path / "split", poisoned, ids)
    back = load_poisoned_split(tmp_path / "split")
    assert _rows(back.train) == _rows(poisoned.train) and len(back.test) == len(clean.test)
    assert read_fake_users(tmp_path / "split") == [str(u) for u in ids.tolist()]


def test_string_ids_sort_after_real_ones():
    ids = fake_user_ids(np.array(["alice", "bob", "zed"]), 2)
    assert ids.tolist() == ["~fake000001", "~fake000002"]
    assert sorted([*ids.tolist(), "alice", "zed"])[-2:] == ids.tolist()
