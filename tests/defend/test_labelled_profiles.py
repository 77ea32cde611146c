"""The labelled-profile loader: exact matrices on small files, and a DataError naming file and line."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from advrec.data.labelled_profiles import load_labelled_profiles
from advrec.errors import DataError

RATINGS = b"alice m1 4\nbob m2 2.5\n\nalice m3 .5\ncarol m1 5\n"
LABELS = b"carol 1\nalice 0\nbob 0\n"


def write(folder: Path, ratings: bytes = RATINGS, labels: bytes = LABELS) -> tuple[Path, Path]:
    r, lab = folder / "ratings.txt", folder / "labels.txt"
    r.write_bytes(ratings)
    lab.write_bytes(labels)
    return r, lab


def fails(folder: Path, pattern: str, path_name: str, line: int | None, **kw) -> None:
    r, lab = kw.pop("paths", None) or (folder / "ratings.txt", folder / "labels.txt")
    with pytest.raises(DataError) as info:
        load_labelled_profiles(r, lab, **kw)
    err = info.value
    assert Path(err.path).name == path_name and err.line == line, str(err)
    assert re.search(pattern, str(err)), str(err)


def test_reads_matrix_and_labels(tmp_path):
    profiles = load_labelled_profiles(*write(tmp_path))
    assert profiles.user_ids.tolist() == ["alice", "bob", "carol"]  # first appearance
    assert profiles.item_ids.tolist() == ["m1", "m2", "m3"]
    np.testing.assert_array_equal(profiles.matrix.toarray(), [[4, 0, 0.5], [0, 2.5, 0], [5, 0, 0]])
    np.testing.assert_array_equal(profiles.labels, [0, 0, 1])
    assert (profiles.n_users, profiles.n_items) == (3, 3)


def test_numeric_ids_stay_strings_and_bom_crlf(tmp_path):
    r, lab = write(tmp_path, b"\xef\xbb\xbf7 10 3\r\n007 10 1\r\n", b"7 1\n007 0\n")
    profiles = load_labelled_profiles(r, lab)
    assert profiles.user_ids.tolist() == ["7", "007"]
    np.testing.assert_array_equal(profiles.labels, [1, 0])


def test_implicit(tmp_path):
    r, lab = write(tmp_path, b"a x\nb y 4\na y 2\n", b"a 0\nb 1\n")
    profiles = load_labelled_profiles(r, lab, implicit=True)
    np.testing.assert_array_equal(profiles.matrix.toarray(), [[1, 1], [0, 1]])
    assert profiles.implicit
    fails(tmp_path, r"expected 'user item rating'.*got 2 field", "ratings.txt", 1)


@pytest.mark.parametrize(
    "ratings, line, pattern",
    [
        (b"a x 4\nb y\n", 2, r"expected 'user item rating' \(whitespace-separated\), got 2 field"),
        (b"a x 4\nb y 3 9\n", 2, r"got 4 field"),
        (b"a x four\n", 1, r"rating 'four' is not a number"),
        (b"a x 4\nb y 0\n", 2, r"rating '0' must be a finite number > 0 \(0 means unrated\)"),
        (b"a x -1\n", 1, r"must be a finite number > 0"),
        (b"a x nan\n", 1, r"rating 'nan' must be a finite number"),
        (b"a x 4\nb x 3\n\na x 2\n", 4, r"user 'a' rates item 'x' twice \(first on line 1\)"),
        (b"a x 4\nb\xff y 3\n", 2, r"not valid UTF-8"),
        (b"a x 4\rb y 3\n", 1, r"stray carriage return"),
    ],
)
def test_ratings_errors(tmp_path, ratings, line, pattern):
    write(tmp_path, ratings, b"a 0\nb 1\n")
    fails(tmp_path, pattern, "ratings.txt", line)


@pytest.mark.parametrize(
    "labels, line, pattern",
    [
        (b"a 0\nb\n", 2, r"expected 'user label' \(whitespace-separated\), got 1 field"),
        (b"a 0\nb 2\n", 2, r"label '2' must be 0 \(genuine\) or 1 \(fake\)"),
        (b"a 0\nb 1\na 1\n", 3, r"user 'a' is labelled twice \(first on line 1\)"),
        (b"a 0\nb 1\nzed 1\n", 3, r"user 'zed' has a label but no rating in .*ratings.txt"),
    ],
)
def test_labels_errors(tmp_path, labels, line, pattern):
    write(tmp_path, b"a x 4\nb y 3\n", labels)
    fails(tmp_path, pattern, "labels.txt", line)


def test_rated_user_without_label(tmp_path):
    write(tmp_path, b"a x 4\nb y 3\nc y 1\n", b"a 0\nb 1\n")
    fails(tmp_path, r"user 'c' has ratings but no label in .*labels.txt", "ratings.txt", 3)


def test_missing_and_empty_files(tmp_path):
    write(tmp_path)
    fails(
        tmp_path, "file not found", "nope.txt", None, paths=(tmp_path / "nope.txt", tmp_path / "labels.txt")
    )
    (tmp_path / "labels.txt").write_bytes(b"")
    fails(tmp_path, "file is empty", "labels.txt", None)
    (tmp_path / "labels.txt").write_bytes(b"\n \n")
    fails(tmp_path, "only blank lines", "labels.txt", None)
