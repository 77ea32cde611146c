"""Property tests: whatever bytes a reader gets, only a DataError may come out, and it must agree with a
small independent oracle (written here, line by line, from the grammar in advrec.data.io's docstring):
valid input gives the oracle's exact arrays, invalid input fails at the oracle's first bad line.

This is what keeps the fast pyarrow/numpy path honest: it must be neither more lenient nor stricter
than the line-by-line rules that produce the error messages.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import re
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import advrec.data.io as advrec_io
from advrec.data.io import read_lightgcn, read_movielens_100k, read_movielens_dat, read_table
from advrec.errors import DataError

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
INT_RE = re.compile(r"-?[0-9]+")
FLOAT_RE = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
TABLE_COLUMNS = {"user": 0, "item": 1, "rating": 2, "timestamp": 3}

# Fragments that mutations insert or substitute: separators, letters that pyarrow might accept,
# line breaks, NUL, bad UTF-8, non-ASCII digits, a BOM, huge numbers.
FRAGMENTS = [
    b"\t", b",", b" ", b":", b"::", b";", b"|", b"a", b"e", b"E", b"x", b"-", b"+", b".", b"1", b"0",
    b"\r", b"\n", b"\r\n", b"\x00", b"\xff", b"\xc3\xa9", b"\xd9\xa3", b"\xef\xbb\xbf", b"\x0b",
    b"nan", b"inf", b"Infinity", b"0x1f", b"1e400", b"99999999999999999999", b"9223372036854775808",
]  # fmt: skip


# ------------------------------------------------------------------------------------------ oracle


class Bad(Exception):
    """The oracle's verdict: the input is invalid at ``line`` (None: the whole file, e.g. empty)."""

    def __init__(self, line: int | None):
        super().__init__(line)
        self.line = line


def text_lines(data: bytes):
    """(line number, text) of each non-empty line; Bad at the first undecodable one."""
    if not data:
        raise Bad(None)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for number, line in enumerate(data.replace(b"\r\n", b"\n").split(b"\n"), start=1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise Bad(number) from None
        if "\x00" in text or "\r" in text:
            raise Bad(number)
        if text:
            yield number, text


def oracle_int(value: str, line: int) -> int:
    if not INT_RE.fullmatch(value) or not INT64_MIN <= int(value) <= INT64_MAX:
        raise Bad(line)
    return int(value)


def oracle_rating(value: str, line: int) -> float:
    if not FLOAT_RE.fullmatch(value) or not math.isfinite(float(value)):
        raise Bad(line)
    return float(value)


def oracle_fixed(data: bytes, sep: str) -> dict:
    rows = []
    for number, text in text_lines(data):
        fields = text.split(sep)
        if len(fields) != 4:
            raise Bad(number)
        u, i, r, t = fields
        rows.append(
            (oracle_int(u, number), oracle_int(i, number), oracle_rating(r, number), oracle_int(t, number))
        )
    if not rows:
        raise Bad(None)
    return dict(zip(("users", "items", "ratings", "timestamps"), map(list, zip(*rows))))


def oracle_lightgcn(data: bytes) -> dict:
    users, items = [], []
    for number, text in text_lines(data):
        tokens = [t for t in re.split(r"[ \t]+", text) if t]
        if any(not re.fullmatch(r"[0-9]{1,18}", t) for t in tokens):
            raise Bad(number)
        if not tokens:  # a line of blanks
            continue
        users += [int(tokens[0])] * (len(tokens) - 1)
        items += [int(t) for t in tokens[1:]]
    if not users:
        raise Bad(None)
    return {"users": users, "items": items, "ratings": None, "timestamps": None}


def oracle_ids(values: list[str]) -> list:
    if all(INT_RE.fullmatch(v) and INT64_MIN <= int(v) <= INT64_MAX for v in values):
        return [int(v) for v in values]
    return values


def oracle_table(data: bytes, sep: str, header: bool) -> dict:
    lines = text_lines(data)
    first = next(lines, None)
    if first is None:
        raise Bad(None)
    number, text = first
    n_fields = len(text.split(sep))
    if n_fields < 4:
        raise Bad(number)
    body = lines if header else itertools.chain([first], lines)  # lazily: the FIRST bad line wins
    rows = []
    for number, text in body:
        fields = text.split(sep)
        if len(fields) != n_fields or fields[0] == "" or fields[1] == "":
            raise Bad(number)
        rows.append((fields[0], fields[1], oracle_rating(fields[2], number), oracle_int(fields[3], number)))
    if not rows:
        raise Bad(None)
    users, items, ratings, stamps = map(list, zip(*rows))
    return {"users": oracle_ids(users), "items": oracle_ids(items), "ratings": ratings, "timestamps": stamps}


def agree(read, path: Path, data: bytes, oracle) -> None:
    """``read`` and ``oracle`` agree on ``data``; any exception other than DataError fails the test.

    Invalid input is read twice: as is, and with the error scan forced to narrow down through many tiny
    pieces (as it does on big files) before reading lines, which must find the same first bad line.
    """
    path.write_bytes(data)
    try:
        expected = oracle(data)
    except Bad as bad:
        for direct_bytes in (advrec_io._SCAN_DIRECT_BYTES, 4):
            with (
                mock.patch.object(advrec_io, "_SCAN_DIRECT_BYTES", direct_bytes),
                pytest.raises(DataError) as info,
            ):
                read(path)
            assert info.value.line == bad.line, f"{info.value} (oracle: line {bad.line}) for {data!r}"
        return
    got = read(path)
    for name, want in expected.items():
        array = getattr(got, name)
        if want is None:
            assert array is None
            continue
        assert array.tolist() == want, (name, data)
        if name in ("users", "items"):
            assert array.dtype == np.int64 if isinstance(want[0], int) else array.dtype.kind == "U"


# ----------------------------------------------------------------------------------- valid files


def fixed_rows(sep: bytes):
    number = st.integers(-5, 3000).map(lambda v: str(v).encode())
    rating = st.sampled_from([b"1", b"3.5", b"4.", b".5", b"1e1", b"-2", b"+3", b"2E-1"])
    row = st.tuples(number, number, rating, number).map(lambda f: sep.join(f))
    return st.lists(row, min_size=1, max_size=6).map(lambda rows: b"\n".join(rows) + b"\n")


lightgcn_files = st.lists(
    st.lists(st.integers(0, 10**6).map(lambda v: str(v).encode()), min_size=1, max_size=5),
    min_size=1,
    max_size=5,
).map(lambda lines: b"".join(b" ".join(tokens) + b"\n" for tokens in lines))

table_files = st.lists(
    st.tuples(
        st.sampled_from([b"1", b"42", b"u7", b"-3", b"0x1", b"007"]),
        st.sampled_from([b"9", b"i1", b"10", b"\xc3\xa9t\xc3\xa9"]),
        st.sampled_from([b"1", b"2.5", b".5"]),
        st.sampled_from([b"10", b"-1", b"123456789"]),
        st.sampled_from([b"", b"extra", b"\xe2\x82\xac"]),
    ).map(b",".join),
    min_size=1,
    max_size=5,
).map(lambda rows: b"\n".join(rows) + b"\n")


@st.composite
def mutated(draw, files, separator: bytes):
    """A valid file with a few mutations: fragments inserted or substituted, bytes or fields dropped,
    or every separator swapped for another fragment."""
    data = bytearray(draw(files))
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["insert", "replace", "delete", "swap-separator"]))
        pos = draw(st.integers(0, len(data)))
        if op == "insert":
            data[pos:pos] = draw(st.sampled_from(FRAGMENTS))
        elif op == "replace":
            data[pos : pos + 1] = draw(st.sampled_from(FRAGMENTS))
        elif op == "delete":
            data[pos : pos + draw(st.integers(1, 6))] = b""
        else:
            data = bytearray(bytes(data).replace(separator, draw(st.sampled_from(FRAGMENTS))))
    return bytes(data)


# ------------------------------------------------------------------------------------------ tests


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def read_csv_table(path: Path):
    return read_table(path, columns=TABLE_COLUMNS)


def read_csv_table_with_header(path: Path):
    return read_table(path, columns=TABLE_COLUMNS, header=True)


READERS = [
    ("u.data", read_movielens_100k, lambda d: oracle_fixed(d, "\t")),
    ("ratings.dat", read_movielens_dat, lambda d: oracle_fixed(d, "::")),
    ("train.txt", read_lightgcn, oracle_lightgcn),
    ("t.csv", read_csv_table, lambda d: oracle_table(d, ",", header=False)),
    ("h.csv", read_csv_table_with_header, lambda d: oracle_table(d, ",", header=True)),
]


@pytest.mark.parametrize(("name", "read", "oracle"), READERS, ids=[r[0] for r in READERS])
@FUZZ
@given(data=st.binary(max_size=120))
def test_random_bytes(fuzz_dir, name, read, oracle, data):
    agree(read, fuzz_dir / name, data, oracle)


@FUZZ
@given(data=mutated(fixed_rows(b"\t"), b"\t"))
def test_mutated_u_data(fuzz_dir, data):
    agree(read_movielens_100k, fuzz_dir / "u.data", data, lambda d: oracle_fixed(d, "\t"))


@FUZZ
@given(data=mutated(fixed_rows(b"::"), b"::"))
def test_mutated_ratings_dat(fuzz_dir, data):
    agree(read_movielens_dat, fuzz_dir / "ratings.dat", data, lambda d: oracle_fixed(d, "::"))


@FUZZ
@given(data=mutated(lightgcn_files, b" "))
def test_mutated_lightgcn(fuzz_dir, data):
    agree(read_lightgcn, fuzz_dir / "train.txt", data, oracle_lightgcn)


@FUZZ
@given(data=mutated(table_files, b","), header=st.booleans())
def test_mutated_table(fuzz_dir, data, header):
    read = read_csv_table_with_header if header else read_csv_table
    agree(read, fuzz_dir / "t.csv", data, lambda d: oracle_table(d, ",", header))


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=200))
def test_random_bytes_as_parquet_only_raise_data_error(fuzz_dir, data):
    path = fuzz_dir / "x.parquet"
    path.write_bytes(data)
    with pytest.raises(DataError):
        read_table(path, columns={"user": 0, "item": 1})


@settings(max_examples=60, deadline=None)
@given(data=st.binary(min_size=1, max_size=64))
def test_random_bytes_after_a_valid_parquet_prefix(fuzz_dir, data):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = fuzz_dir / "y.parquet"
    pq.write_table(pa.table({"u": [1, 2], "i": ["a", "b"]}), path)
    valid = path.read_bytes()
    cut = len(data) % len(valid)
    path.write_bytes(valid[:cut] + data + valid[cut + len(data) :])
    with contextlib.suppress(DataError):  # a valid result is fine too; any other exception fails
        read_table(path, columns={"user": "u", "item": "i"})
