"""Inputs that used to pass silently: a LightGCN user without items, a zip bomb, numpy reprs in
messages."""

import hashlib
import zipfile

import pytest

from advrec.errors import AdvrecError, DataError


def test_lightgcn_user_without_items_is_said_with_its_line(tmp_path):
    """Before: the line was dropped without a word."""
    from advrec.data.io import read_lightgcn
    from advrec.errors import AdvrecWarning

    path = tmp_path / "train.txt"
    path.write_text("0 1 2 3\n1\n2 4 5\n\n3 \n4 1\n")
    with pytest.warns(AdvrecWarning, match=r"train\.txt:2: 2 line\(s\) list a user and no item"):
        raw = read_lightgcn(path)
    assert sorted(set(raw.users.tolist())) == [0, 2, 4]


def test_lightgcn_without_such_lines_is_quiet(tmp_path, recwarn):
    from advrec.data.io import read_lightgcn

    path = tmp_path / "train.txt"
    path.write_text("0 1 2\n1 2\n")
    read_lightgcn(path)
    assert not recwarn.list


def _bomb(path, size, name="ml/u.data"):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr(name, b"\0" * size)
    return path


def test_a_zip_bomb_is_refused_before_anything_is_written(tmp_path):
    """Before: 300 MB from 306 KB extracted without a cap (here: 32 MB from ~32 KB)."""
    from advrec.data.download import safe_extract

    archive = _bomb(tmp_path / "bomb.zip", 32 << 20)
    with pytest.raises(
        DataError, match=r"refusing archive member 'ml/u.data': .* would expand to 33,554,432"
    ):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_total_size_cap(tmp_path):
    from advrec.data.download import safe_extract

    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(3):
            zf.writestr(f"part{i}.txt", bytes(range(256)) * 64)
    with pytest.raises(DataError, match="would expand to 49,152 bytes, more than the cap of 40,000"):
        safe_extract(archive, tmp_path / "out", max_bytes=40_000)
    safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "part2.txt").stat().st_size == 16384


def test_fetch_refuses_a_bomb_and_leaves_no_folder(tmp_path):
    from advrec.data.download import fetch

    archive = _bomb(tmp_path / "bomb.zip", 16 << 20)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    with pytest.raises(DataError, match="zip bomb"):
        fetch("toy", tmp_path / "cache", url=archive.as_uri(), sha256=digest)
    assert not (tmp_path / "cache" / "toy").exists()
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".toy")]


def test_error_messages_show_plain_ids_not_numpy_reprs():
    """Before: 'user np.int64(13) has 2' (a sequential model on a ratio split)."""
    import numpy as np

    from advrec.data.interactions import Interactions, RawInteractions
    from advrec.data.sequences import check_leave_one_out
    from advrec.data.split import Split

    raw = [
        RawInteractions(np.array(u), np.array(i))
        for u, i in (([13, 14], [1, 2]), ([13, 13], [3, 4]), ([14], [5]))
    ]
    split = Split(*Interactions.encode_together(raw))
    with pytest.raises(AdvrecError) as err:
        check_leave_one_out(split)
    assert "user 13 has 2" in str(err.value) and "np." not in str(err.value)


@pytest.mark.parametrize("column", [1, 2])
def test_a_100000_digit_field_is_one_short_error(tmp_path, column):
    """Before: Python's own 'Exceeds the limit (4300 digits)' ValueError traceback (an id), or the whole
    field in the message (a rating)."""
    from advrec.data.io import read_movielens_100k

    fields = ["1", "2", "3", "881250949"]
    fields[column] = "9" * 100_000
    path = tmp_path / "u.data"
    path.write_text("1\t5\t3\t881250949\n" + "\t".join(fields) + "\n")
    with pytest.raises(DataError, match=r"u\.data:2: .*\.\.\. \(100000 characters\)") as err:
        read_movielens_100k(path)
    assert len(str(err.value)) < 300
