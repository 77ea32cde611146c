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


def test_update_json_object_keeps_other_keys_and_refuses_non_objects(tmp_path):
    import pytest

    from advrec.errors import DataError
    from advrec.utils.files import read_json_object, update_json_object

    path = tmp_path / "results.json"
    assert read_json_object(path) == {}
    update_json_object(path, {"a": 1})
    assert update_json_object(path, {"b": [2]}) == {"a": 1, "b": [2]}
    assert read_json_object(path) == {"a": 1, "b": [2]}
    path.write_text("[1, 2]")
    with pytest.raises(DataError, match="results.json: existing results file does not hold a JSON object"):
        update_json_object(path, {"a": 1})
    path.write_text("{broken")
    with pytest.raises(DataError, match="not readable JSON"):
        read_json_object(path)
