"""Readers of advrec.data.io: exact arrays on small hand-written files, and a precise DataError per fault."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from advrec.data.io import (
    FORMATS,
    read_interactions,
    read_lightgcn,
    read_movielens_100k,
    read_movielens_dat,
    read_table,
)
from advrec.errors import DataError

U_DATA = b"196\t242\t3\t881250949\n186\t302\t3.5\t891717742\n22\t377\t1\t878887116\n"


def write(tmp_path: Path, content: bytes, name: str = "data.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def raises_at(reader, path: Path, line: int | None, pattern: str, **kw) -> DataError:
    """The reader fails with a DataError at ``line`` whose message matches ``pattern``."""
    with pytest.raises(DataError) as info:
        reader(path, **kw)
    err = info.value
    assert err.path == str(path)
    assert err.line == line, str(err)
    assert re.search(pattern, str(err)), str(err)
    prefix = f"{path}:{line}: " if line is not None else f"{path}: "
    assert str(err).startswith(prefix)
    return err


def assert_arrays(raw, users, items, ratings=None, timestamps=None) -> None:
    np.testing.assert_array_equal(raw.users, users)
    np.testing.assert_array_equal(raw.items, items)
    for got, want in ((raw.ratings, ratings), (raw.timestamps, timestamps)):
        if want is None:
            assert got is None
        else:
            np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------------------------- valid files


def test_movielens_100k_parses_exact_arrays(tmp_path):
    path = write(tmp_path, U_DATA, "u.data")
    raw = read_movielens_100k(path)
    assert_arrays(raw, [196, 186, 22], [242, 302, 377], [3.0, 3.5, 1.0], [881250949, 891717742, 878887116])
    assert raw.users.dtype == np.int64 and raw.items.dtype == np.int64
    assert raw.ratings.dtype == np.float64 and raw.timestamps.dtype == np.int64
    assert raw.source == str(path)


def test_movielens_100k_tolerates_crlf_bom_blank_lines_and_no_final_newline(tmp_path):
    content = b"\xef\xbb\xbf1\t2\t3\t4\r\n\r\n5\t6\t.5\t-8"
    raw = read_movielens_100k(write(tmp_path, content))
    assert_arrays(raw, [1, 5], [2, 6], [3.0, 0.5], [4, -8])


def test_movielens_dat_parses_exact_arrays(tmp_path):
    raw = read_movielens_dat(
        write(tmp_path, b"1::1193::5::978300760\n1::661::3.5::978302109\n", "ratings.dat")
    )
    assert_arrays(raw, [1, 1], [1193, 661], [5.0, 3.5], [978300760, 978302109])
    assert raw.users.dtype == np.int64


def test_lightgcn_parses_exact_arrays_and_skips_users_without_items(tmp_path):
    content = b"0 1 2 3\n1\n2 5\t6 \n\n10 0\n"
    raw = read_lightgcn(write(tmp_path, content))
    assert_arrays(raw, [0, 0, 0, 2, 2, 10], [1, 2, 3, 5, 6, 0])
    assert raw.users.dtype == np.int64 and raw.items.dtype == np.int64


def test_lightgcn_reads_multi_digit_ids(tmp_path):
    raw = read_lightgcn(write(tmp_path, b"123456789012345678 9 0007 40981\n"))
    assert_arrays(raw, [123456789012345678] * 3, [9, 7, 40981])


def test_table_tsv_by_position_keeps_int_ids(tmp_path):
    path = write(tmp_path, b"7\t616\t4\t891351002\n7\t182\t4.5\t891350965\n", "train.tsv")
    raw = read_table(path, columns={"user": 0, "item": 1, "rating": 2, "timestamp": 3})
    assert_arrays(raw, [7, 7], [616, 182], [4.0, 4.5], [891351002, 891350965])
    assert raw.users.dtype == np.int64


def test_table_csv_with_header_by_name_and_string_ids(tmp_path):
    content = b"time,user,item,score\n10,alice,1,5\n11,bob,2,4\n"
    path = write(tmp_path, content, "x.csv")
    raw = read_table(path, columns={"user": "user", "item": "item", "rating": "score", "timestamp": "time"})
    assert_arrays(raw, ["alice", "bob"], [1, 2], [5.0, 4.0], [10, 11])
    assert raw.users.dtype.kind == "U" and raw.items.dtype == np.int64


def test_table_mixed_ids_become_strings_and_positions_with_header(tmp_path):
    path = write(tmp_path, b"u;i\n1;x\n2;10\n", "x.dat")
    raw = read_table(path, columns={"user": 0, "item": 1}, sep=";", header=True)
    assert_arrays(raw, [1, 2], ["x", "10"])
    assert raw.items.dtype.kind == "U" and raw.ratings is None and raw.timestamps is None


def test_table_hex_or_padded_ids_are_strings_not_ints(tmp_path):
    raw = read_table(write(tmp_path, b"0x10,1\n2,1\n", "x.csv"), columns={"user": 0, "item": 1})
    assert list(raw.users) == ["0x10", "2"]


def test_table_parquet_by_name_and_position(tmp_path):
    table = pa.table(
        {
            "u": ["a", "b"],
            "i": pa.array([3, 4], pa.int32()),
            "r": [1.5, 2.0],
            "t": pa.array([5, 6], pa.int64()),
        }
    )
    path = tmp_path / "x.parquet"
    pq.write_table(table, path)
    raw = read_table(path, columns={"user": "u", "item": 1, "rating": "r", "timestamp": "t"})
    assert_arrays(raw, ["a", "b"], [3, 4], [1.5, 2.0], [5, 6])
    assert raw.items.dtype == np.int64


def test_table_parquet_string_ids_that_are_all_integers_become_int64(tmp_path):
    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"u": ["1", "22"], "i": ["3", "4"]}), path)
    raw = read_table(path, columns={"user": "u", "item": "i"})
    assert raw.users.dtype == np.int64 and list(raw.users) == [1, 22]


def test_read_interactions_dispatches(tmp_path):
    path = write(tmp_path, U_DATA)
    assert len(read_interactions(path, "movielens-100k")) == 3
    assert len(read_interactions(path, "table", columns={"user": 0, "item": 1}, sep="\t")) == 3


# --------------------------------------------------------------------------------------- bad input


def test_wrong_separator_is_named(tmp_path):
    path = write(tmp_path, b"1\t2\t3\t4\n196,242,3,881250949\n")
    raises_at(
        read_movielens_100k, path, 2, r"expected 4 tab-separated fields .* found 1; is the separator ','\?"
    )


def test_dat_file_read_as_u_data_suggests_double_colon(tmp_path):
    path = write(tmp_path, b"1::2::3::4\n")
    raises_at(read_movielens_100k, path, 1, r"found 1; is the separator '::'\?")


def test_u_data_read_as_dat_suggests_tab(tmp_path):
    path = write(tmp_path, b"1::2::3::4\n1\t2\t3\t4\n")
    raises_at(
        read_movielens_dat, path, 2, r"expected 4 '::'-separated fields .* found 1; is the separator '\\t'\?"
    )


def test_missing_field(tmp_path):
    path = write(tmp_path, b"1\t2\t3\t4\n5\t6\t7\t8\n9\t10\t11\n")
    raises_at(read_movielens_100k, path, 3, r"expected 4 tab-separated fields .* found 3$")


def test_empty_field(tmp_path):
    path = write(tmp_path, b"1\t2\t3\t4\n5\t\t7\t8\n")
    raises_at(read_movielens_100k, path, 2, r"missing item id \(empty field\)")


@pytest.mark.parametrize(
    ("bad_line", "pattern"),
    [
        (b"1\t2\tgood\t4", r"rating 'good' is not a number"),
        (b"1\t2\t3\t4.0", r"timestamp '4.0' is not an integer"),
        (b"u1\t2\t3\t4", r"user id 'u1' is not an integer"),
        (b"1\t 2\t3\t4", r"item id ' 2' is not an integer"),
        (b"1\t0x2\t3\t4", r"item id '0x2' is not an integer"),
        (
            b"1\t2\t3\t99999999999999999999",
            r"timestamp 99999999999999999999 does not fit in a 64-bit integer",
        ),
        (b"1\t2\tnan\t4", r"rating 'nan' is not a finite number"),
        (b"1\t2\t-inf\t4", r"rating '-inf' is not a finite number"),
        (b"1\t2\t1e999\t4", r"rating '1e999' is not a finite number"),
        (b"1\t2\t3\r\t4", r"stray carriage return"),
    ],
)
def test_bad_values_name_the_line(tmp_path, bad_line, pattern):
    path = write(tmp_path, b"1\t2\t3\t4\n1\t3\t3\t4\n" + bad_line + b"\n1\t2\t3\t4\n")
    raises_at(read_movielens_100k, path, 3, pattern)


def test_empty_file(tmp_path):
    for reader in (read_movielens_100k, read_movielens_dat, read_lightgcn):
        raises_at(reader, write(tmp_path, b""), None, r"file is empty$")
    raises_at(
        read_table, write(tmp_path, b"", "x.csv"), None, r"file is empty$", columns={"user": 0, "item": 1}
    )


def test_blank_lines_only_or_header_only(tmp_path):
    raises_at(read_movielens_100k, write(tmp_path, b"\n\n"), None, r"no interactions")
    raises_at(read_lightgcn, write(tmp_path, b"1\n2\n"), None, r"no interactions")
    raises_at(read_table, write(tmp_path, b"\n\n", "x.csv"), None, r"empty", columns={"user": 0, "item": 1})
    raises_at(
        read_table,
        write(tmp_path, b"u,i\n", "x.csv"),
        None,
        r"no data rows",
        columns={"user": "u", "item": "i"},
    )


def test_missing_file_and_directory(tmp_path):
    raises_at(read_movielens_100k, tmp_path / "nope.data", None, r"file not found")
    raises_at(read_lightgcn, tmp_path, None, r"is a directory")
    raises_at(read_table, tmp_path / "nope.parquet", None, r"file not found", columns={"user": 0, "item": 1})


def test_non_utf8_bytes(tmp_path):
    path = write(tmp_path, b"1\t2\t3\t4\n1\t2\t3\t\xe9\n")
    raises_at(read_movielens_100k, path, 2, r"not valid UTF-8 .*0xe9 at column 7")
    path = write(tmp_path, b"u,i\na,b\nc,\xff\xfe\n", "x.csv")
    raises_at(read_table, path, 3, r"not valid UTF-8", columns={"user": "u", "item": "i"})


def test_non_utf8_in_an_unused_column_is_still_an_error(tmp_path):
    path = write(tmp_path, b"a,b,\xff\n", "x.csv")
    raises_at(read_table, path, 1, r"not valid UTF-8", columns={"user": 0, "item": 1})


def test_nul_bytes(tmp_path):
    path = write(tmp_path, b"0 1 2\n3 4\x005\n")
    raises_at(read_lightgcn, path, 2, r"NUL byte at column 4")
    path = write(tmp_path, b"u,i\na,b\x00\n", "x.csv")
    raises_at(read_table, path, 2, r"NUL byte", columns={"user": "u", "item": "i"})


def test_binary_garbage(tmp_path):
    path = write(tmp_path, bytes(range(256)) * 4)
    for reader in (read_movielens_100k, read_movielens_dat, read_lightgcn):
        raises_at(reader, path, 1, r"NUL byte")


def test_lightgcn_bad_tokens(tmp_path):
    raises_at(read_lightgcn, write(tmp_path, b"0 1 2\n1 2,3\n"), 2, r"found item id '2,3' \(field 2\)")
    raises_at(read_lightgcn, write(tmp_path, b"0 1 2\nu1 2 3\n"), 2, r"found user id 'u1'")
    raises_at(read_lightgcn, write(tmp_path, b"0 -1\n"), 1, r"non-negative integer ids")
    raises_at(read_lightgcn, write(tmp_path, b"0 1\n2 " + b"9" * 19 + b"\n"), 2, r"too large")


def test_dat_single_colon(tmp_path):
    path = write(tmp_path, b"1::2::3::4\n1::2:3::4\n")
    raises_at(read_movielens_dat, path, 2, r"found 3")


def test_table_errors(tmp_path):
    cols = {"user": "user", "item": "item", "rating": "rating"}
    csv = b"user,item,rating\na,1,5\nb,2\n"
    raises_at(
        read_table,
        write(tmp_path, csv, "x.csv"),
        3,
        r"expected 3 ','-separated fields as in the header",
        columns=cols,
    )
    csv = b"user,item,rating\na,1,5\nb,2,x\n"
    raises_at(read_table, write(tmp_path, csv, "x.csv"), 3, r"rating 'x' is not a number", columns=cols)
    csv = b"user,item,rating\na,1,5\n,2,1\n"
    raises_at(read_table, write(tmp_path, csv, "x.csv"), 3, r"missing user id", columns=cols)
    csv = b"user,item,rating\na,1,inf\n"
    raises_at(read_table, write(tmp_path, csv, "x.csv"), 2, r"not a finite number", columns=cols)
    raises_at(
        read_table,
        write(tmp_path, b"user,item\n", "x.csv"),
        1,
        r"column 'rating' is not in the header",
        columns=cols,
    )
    raises_at(
        read_table, write(tmp_path, b"user,user,item\n1,2,3\n", "x.csv"), 1, r"more than once", columns=cols
    )


def test_table_tab_file_given_as_csv_names_the_separator(tmp_path):
    path = write(tmp_path, b"1\t2\t3\n", "x.csv")
    raises_at(
        read_table, path, 1, r"found 1; is the separator '\\t'\?", columns={"user": 0, "item": 1, "rating": 2}
    )


def test_table_timestamp_must_be_integer(tmp_path):
    path = write(tmp_path, b"1\t2\t5\n1\t2\t5.5\n", "x.tsv")
    raises_at(
        read_table,
        path,
        2,
        r"timestamp '5.5' is not an integer",
        columns={"user": 0, "item": 1, "timestamp": 2},
    )


def test_table_bad_arguments(tmp_path):
    path = write(tmp_path, b"1,2\n", "x.csv")
    raises_at(read_table, path, None, r"must name item", columns={"user": 0})
    raises_at(read_table, path, None, r"unknown column keys", columns={"user": 0, "item": 1, "weight": 2})
    raises_at(read_table, path, None, r"same column", columns={"user": 0, "item": 0})
    raises_at(read_table, path, None, r"header=False", columns={"user": "u", "item": 1}, header=False)
    raises_at(
        read_table, write(tmp_path, b"1,2\n", "x.dat"), None, r"pass sep=", columns={"user": 0, "item": 1}
    )


def test_table_parquet_errors(tmp_path):
    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"u": ["a", None], "i": [1, 2], "r": [1.0, float("nan")], "f": [1.0, 2.5]}), path)
    cols = {"user": "u", "item": "i"}
    raises_at(read_table, path, None, r"user column 'u' is missing \(null\) in row 2", columns=cols)
    cols = {"user": "i", "item": "f"}
    raises_at(read_table, path, None, r"item column 'f' has a non-integer id 2.5 in row 2", columns=cols)
    cols = {"user": "i", "item": "i2", "rating": "r"}
    raises_at(read_table, path, None, r"'i2' is not \(exactly once\) in the file's columns", columns=cols)
    pq.write_table(pa.table({"u": [1, 2], "i": [1, 2], "r": [1.0, float("nan")]}), path)
    cols = {"user": "u", "item": "i", "rating": "r"}
    raises_at(read_table, path, None, r"rating nan in row 2 is not a finite number", columns=cols)
    raises_at(read_table, path, None, r"position 7 is out of range", columns={"user": 7, "item": 1})
    bad = write(tmp_path, b"not parquet at all", "y.parquet")
    raises_at(read_table, bad, None, r"cannot read the Parquet file", columns={"user": 0, "item": 1})


def test_unknown_format_lists_the_valid_ones(tmp_path):
    with pytest.raises(DataError, match="unknown format 'csv'; expected one of " + ", ".join(FORMATS)):
        read_interactions(tmp_path / "x", "csv")


def test_options_for_fixed_formats_are_refused(tmp_path):
    with pytest.raises(DataError, match="takes no options"):
        read_interactions(write(tmp_path, U_DATA), "movielens-100k", sep=",")


def test_big_files_report_the_first_bad_line(tmp_path):
    # ~50k lines (> the 256 KB under which the error scan reads line by line): the scan narrows down
    # with the fast parser first, and must still name the first of the two bad lines.
    lines = [b"%d\t%d\t4\t88125%04d" % (i % 943, i % 1682, i % 10000) for i in range(50_000)]
    lines[30_000:30_100] = [b""] * 100  # a blank stretch the fast parser may reject on its own
    lines[41_233] = b"1\t2\t3"
    lines[47_000] = b"1\t2\tx\t4"
    path = write(tmp_path, b"\n".join(lines) + b"\n")
    assert path.stat().st_size > 256 << 10
    raises_at(read_movielens_100k, path, 41_234, r"found 3$")
    as_table = write(tmp_path, b"\n".join(lines).replace(b"\t", b",") + b"\n", "big.csv")
    raises_at(
        read_table, as_table, 41_234, r"expected 4 ','-separated fields", columns={"user": 0, "item": 1}
    )
    graph = write(
        tmp_path, b"".join(b"%d 1 2 3 4 5 6 7 8 9 10 11 12\n" % u for u in range(30_000)) + b"7 x\n"
    )
    raises_at(read_lightgcn, graph, 30_001, r"found item id 'x'")
