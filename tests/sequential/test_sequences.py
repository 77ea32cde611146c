"""Sequences, leave-one-out split and the RecBole-style split files, on hand-made data."""

import numpy as np
import pytest

from advrec.data.interactions import Interactions
from advrec.data.loading import load_split
from advrec.data.sequences import (
    append_targets,
    check_leave_one_out,
    load_loo_files,
    padded_histories,
    training_windows,
    user_sequences,
)
from advrec.data.split import leave_one_out_split
from advrec.errors import ConfigError, DataError
from advrec.runs.config import parse_config

# user a: items x(t=5) y(t=1) z(t=3) w(t=3, after z in file order) v(t=9); user b: p(2) q(1) r(3)
USERS = ["a", "a", "a", "a", "a", "b", "b", "b"]
ITEMS = ["x", "y", "z", "w", "v", "p", "q", "r"]
TIMES = [5, 1, 3, 3, 9, 2, 1, 3]


def _data() -> Interactions:
    return Interactions.from_raw(np.array(USERS), np.array(ITEMS), timestamps=np.array(TIMES))


def _names(data: Interactions, items: np.ndarray) -> list[str]:
    return [str(data.item_map.raw[i]) for i in items]


def test_user_sequences_by_time_ties_in_row_order():
    data = _data()
    seqs = user_sequences(data)
    assert _names(data, seqs.of(data.user_map.index("a"))) == ["y", "z", "w", "x", "v"]
    assert _names(data, seqs.of(data.user_map.index("b"))) == ["q", "p", "r"]


def test_leave_one_out_split_and_history():
    data = _data()
    split = leave_one_out_split(data)
    a, b = data.user_map.index("a"), data.user_map.index("b")
    train = user_sequences(split.train)
    assert _names(data, train.of(a)) == ["y", "z", "w"] and _names(data, train.of(b)) == ["q"]
    assert sorted(_names(data, split.valid.items)) == ["p", "x"]
    assert sorted(_names(data, split.test.items)) == ["r", "v"]
    full = append_targets(train, split.valid)  # the test history: train + valid
    assert _names(data, full.of(a)) == ["y", "z", "w", "x"] and _names(data, full.of(b)) == ["q", "p"]
    check_leave_one_out(split)  # one valid and one test item per user: accepted


def test_padded_histories_left_pad_and_cut():
    data = _data()
    seqs = user_sequences(data)
    hist = padded_histories(seqs, 3)
    a, b = data.user_map.index("a"), data.user_map.index("b")
    item = lambda name: data.item_map.index(name) + 1  # noqa: E731 (shifted: 0 is padding)
    assert hist[a].tolist() == [item("w"), item("x"), item("v")]  # the last 3 of 5
    assert padded_histories(seqs, 4)[b].tolist() == [0, item("q"), item("p"), item("r")]


def test_training_windows_last_and_all():
    data = Interactions.from_raw(np.zeros(7, dtype=int), np.arange(7), timestamps=np.arange(7))
    seqs = user_sequences(data)  # one user: items 0..6 (shifted 1..7)
    inputs, targets, users = training_windows(seqs, 3, "last")
    assert inputs.tolist() == [[4, 5, 6]] and targets.tolist() == [[5, 6, 7]] and users.tolist() == [0]
    inputs, targets, users = training_windows(seqs, 3, "all")
    # targets 2..7 (every item after the first), cut from the end into windows of 3
    assert targets.tolist() == [[5, 6, 7], [2, 3, 4]]
    assert inputs.tolist() == [[4, 5, 6], [1, 2, 3]]
    inputs, targets, _ = training_windows(seqs, 4, "all")
    assert targets.tolist() == [[4, 5, 6, 7], [0, 0, 2, 3]] and inputs.tolist() == [
        [3, 4, 5, 6],
        [0, 0, 1, 2],
    ]
    single = Interactions.from_raw(np.array([0, 1, 1]), np.array([0, 1, 2]), timestamps=np.arange(3))
    _, targets, users = training_windows(user_sequences(single), 3, "all")
    assert users.tolist() == [1]  # a one-item user has no target
    with pytest.raises(ValueError, match="windows"):
        training_windows(seqs, 3, "some")


def test_training_windows_with_a_short_span_give_every_target_its_full_context():
    data = Interactions.from_raw(np.zeros(7, dtype=int), np.arange(7), timestamps=np.arange(7))
    seqs = user_sequences(data)  # one user: items 0..6 (shifted 1..7)
    inputs, targets, _ = training_windows(seqs, 3, "all", span=2)
    # windows end every 2 items from the end; only the last 2 columns are targets, the input column
    # before them is context: targets 2..7 each once, each after (up to) 3 items
    assert targets.tolist() == [[0, 6, 7], [0, 4, 5], [0, 2, 3]]
    assert inputs.tolist() == [[4, 5, 6], [2, 3, 4], [0, 1, 2]]
    inputs, targets, _ = training_windows(seqs, 3, "all", span=1)  # RecBole's prefixes
    assert targets[:, -1].tolist() == [7, 6, 5, 4, 3, 2] and (targets[:, :-1] == 0).all()
    assert inputs.tolist() == [[4, 5, 6], [3, 4, 5], [2, 3, 4], [1, 2, 3], [0, 1, 2], [0, 0, 1]]
    default = training_windows(seqs, 3, "all")[1]
    assert training_windows(seqs, 3, "all", span=3)[1].tolist() == default.tolist()
    assert training_windows(seqs, 3, "last", span=1)[1].tolist() == [[5, 6, 7]]  # span: windows all only
    with pytest.raises(ValueError, match="span"):
        training_windows(seqs, 3, "all", span=4)


def test_check_leave_one_out_rejects_two_valid_items():
    data = _data()
    split = leave_one_out_split(data)
    bad = type(split)(split.train, split.train, split.test)
    with pytest.raises(ConfigError, match="valid needs at most one item per user"):
        check_leave_one_out(bad)


def _write(folder, train, valid, test):
    folder.mkdir(exist_ok=True)
    for name, rows in (("train", train), ("valid", valid), ("test", test)):
        (folder / f"{name}.tsv").write_text("".join(f"{u}\t{i}\t{t}\n" for u, i, t in rows))


TRAIN = [(1, 10, 1), (1, 11, 2), (2, 12, 1), (2, 10, 2)]


def test_loo_files_load_in_file_order(tmp_path):
    _write(tmp_path / "s", TRAIN, [(1, 12, 3), (2, 11, 3)], [(1, 13, 4), (2, 13, 4)])
    split = load_loo_files(tmp_path / "s")
    assert (len(split.train), len(split.valid), len(split.test)) == (4, 2, 2)
    seqs = user_sequences(split.train)
    u2 = split.train.user_map.index(2)
    assert [int(split.train.item_map.raw[i]) for i in seqs.of(u2)] == [12, 10]
    cfg = parse_config({"data": {"path": "s"}, "split": {"method": "loo_files"}})
    via_config = load_split(cfg.data, cfg.split, tmp_path, np.random.default_rng(0))
    assert len(via_config.test) == 2


def test_loo_files_errors(tmp_path):
    with pytest.raises(DataError, match="needs a folder"):
        load_loo_files(tmp_path / "absent")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "train.tsv").write_text("1\t2\t3\n")
    with pytest.raises(DataError, match="valid.tsv missing"):
        load_loo_files(tmp_path / "half")
    _write(tmp_path / "dup", TRAIN, [(1, 12, 3), (1, 13, 3)], [(1, 13, 4)])
    with pytest.raises(DataError, match=r"valid.tsv:2: user 1 has a second row"):
        load_loo_files(tmp_path / "dup")
    _write(tmp_path / "cold", TRAIN, [(1, 12, 3)], [(1, 13, 4), (3, 13, 4)])
    with pytest.raises(DataError, match=r"test.tsv:2: user 3 has no train.tsv rows"):
        load_loo_files(tmp_path / "cold")
    _write(tmp_path / "cols", [(1, 10, "x")], [(1, 12, 3)], [(1, 13, 4)])
    with pytest.raises(DataError, match="train.tsv"):
        load_loo_files(tmp_path / "cols")
    cfg = parse_config({"split": {"method": "loo_files"}, "data": {"format": "table"}})
    with pytest.raises(ConfigError, match="data.path"):
        load_split(cfg.data, cfg.split, tmp_path, np.random.default_rng(0))
