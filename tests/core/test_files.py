"""Atomic writes: all or nothing, and the permissions of an ordinary file."""

import pytest

from advrec.utils.files import atomic_write, atomic_write_json


def test_atomic_file_has_the_mode_of_a_plain_file(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic_write_json(tmp_path / "atomic.json", {"a": 1})
    assert (tmp_path / "atomic.json").stat().st_mode == plain.stat().st_mode


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "results.json"
    atomic_write_json(target, {"old": True})

    def broken(tmp):
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert target.read_text() == '{\n  "old": true\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
