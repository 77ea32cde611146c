"""Readers that turn one interaction file into :class:`RawInteractions` (raw ids, ``source`` = the path).

Every reader works in two stages, because the two goals pull in opposite directions:

1. A fast, vectorised parse (pyarrow's multithreaded CSV reader, or numpy on the raw bytes): a
   10M-line ratings.dat takes about 3.5 s on 2 cores, less with more. It is deliberately *strict*:
   before handing bytes to pyarrow we check that they only contain characters our grammar allows,
   because pyarrow on its own is lenient (it trims blanks, reads ``0x10`` as 16, treats a lone
   ``\\r`` as a line break...). Whenever anything looks wrong it gives up and returns ``None``.
2. A line-by-line scan whose only purpose is to find the FIRST bad line and say precisely what is wrong
   with it, as a :class:`~advrec.errors.DataError` naming the file, the 1-based line and what was
   expected. It runs only on failure, and on big files it first narrows the search down with the fast
   parser (see :func:`_scan`), so even a bad last line of a 10M-line file is found in seconds.

Shared grammar (both stages agree on it; ``tests/data/test_io_fuzz.py`` checks that they do):

* lines end with ``\\n`` or ``\\r\\n``; a lone ``\\r``, a NUL byte or bytes that are not UTF-8 are errors;
  a UTF-8 byte-order mark at the start of the file is ignored; empty lines are skipped;
* integers (ids, timestamps) are ``-?[0-9]+`` within int64; no blanks, no ``+``, no ``1.0``;
* ratings are decimal numbers (``3``, ``3.5``, ``.5``, ``1e3``) that are finite; ``nan``/``inf`` are errors;
* a file that yields no interaction at all is an error ("file is empty" / "no interactions").

Only :class:`DataError` ever leaves this module for bad input; pyarrow/numpy/decoding errors are turned
into it.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from advrec.data.interactions import RawInteractions
from advrec.errors import DataError, warn

FORMATS = ("movielens-100k", "movielens-dat", "lightgcn", "table")
TABLE_KEYS = ("user", "item", "rating", "timestamp")

_BOM = b"\xef\xbb\xbf"
_INT_RE = re.compile(r"-?[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# RE2 twins of the two patterns above, for pyarrow.compute on whole columns.
_INT_RE2 = r"^-?[0-9]+$"
_FLOAT_RE2 = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_INT64 = np.iinfo(np.int64)
_ARROW_BLOCK_BYTES = 16 << 20
_SCAN_DIRECT_BYTES = 256 << 10  # below this the error scan reads line by line (about 10k lines)
_MAX_ID_DIGITS = 18  # any run of 18 digits fits in int64, so the numpy parser cannot overflow
_NONFINITE_WORDS = frozenset({"nan", "inf", "infinity"})
_SEPARATOR_GUESSES = ("\t", ",", ";", "|", "::", " ")
_SEPARATOR_BY_SUFFIX = MappingProxyType({".csv": ",", ".tsv": "\t", ".txt": "\t"})


class _BadLine(Exception):
    """What is wrong with one line; :func:`_scan` adds the file and the line number."""


# --------------------------------------------------------------------------------------------------
# public readers
# --------------------------------------------------------------------------------------------------


def read_movielens_100k(path: str | Path) -> RawInteractions:
    """MovieLens-100K ``u.data``: ``user \\t item \\t rating \\t timestamp``, integer ids."""
    return _read_fixed(Path(path), _ML100K)


def read_movielens_dat(path: str | Path) -> RawInteractions:
    """MovieLens-1M/10M ``ratings.dat``: ``user::item::rating::timestamp``, integer ids."""
    return _read_fixed(Path(path), _MLDAT)


def read_lightgcn(path: str | Path) -> RawInteractions:
    """LightGCN/NGCF ``train.txt``: one line per user, ``user item item ...`` (blank/tab separated ints).

    A line with a user and no item is allowed and yields nothing, which is said (an AdvrecWarning naming
    the first such line): that user has no interaction in this file. There are no ratings or timestamps.
    """
    path = Path(path)
    data = normalise_text(read_bytes(path))
    parsed = _lightgcn_fast(data)
    if parsed is None:
        _scan(data, path, _check_lightgcn_line, lambda piece: _lightgcn_fast(piece) is not None)
        raise DataError("could not parse the file as LightGCN 'user item item ...' lines", path=path)
    users, items, empty_lines = parsed
    if len(empty_lines):
        warn(
            f"{path}:{empty_lines[0]}: {len(empty_lines)} line(s) list a user and no item (the first here); "
            "those users have no interactions in this file"
        )
    if len(users) == 0:
        raise DataError("file has no interactions (no line lists an item)", path=path)
    return RawInteractions(users=users, items=items, source=str(path))


def read_table(
    path: str | Path,
    *,
    columns: Mapping[str, str | int],
    sep: str | None = None,
    header: bool | None = None,
) -> RawInteractions:
    """A CSV/TSV/Parquet table, with ``columns`` mapping ``user``/``item`` (required) and ``rating``/
    ``timestamp`` (optional) to column names (header or Parquet) or 0-based positions.

    ``sep`` defaults from the suffix (``.csv`` ``,``; ``.tsv``/``.txt`` tab). ``header`` defaults to
    True when any column is given by name. Quotes are not interpreted: fields are split literally on
    ``sep`` (interaction files rarely need quoting, and literal splitting keeps errors exact).
    Ids keep their type: int64 when every id of the column is an integer, ``str`` otherwise.
    """
    path = Path(path)
    spec = _check_columns(columns, path)
    if path.suffix.lower() == ".parquet":
        return _read_parquet(path, spec)
    sep = _table_separator(path, sep)
    if header is None:
        header = any(isinstance(v, str) for v in spec.values())
    return _read_delimited_table(path, spec, sep, header)


def read_interactions(path: str | Path, fmt: str, **options) -> RawInteractions:
    """Read ``path`` in format ``fmt`` (one of :data:`FORMATS`); ``options`` go to :func:`read_table`."""
    readers: dict[str, Callable[..., RawInteractions]] = {
        "movielens-100k": read_movielens_100k,
        "movielens-dat": read_movielens_dat,
        "lightgcn": read_lightgcn,
        "table": read_table,
    }
    if fmt not in readers:
        raise DataError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}", path=path)
    allowed = {"columns", "sep", "header"} if fmt == "table" else set()
    unknown = sorted(set(options) - allowed)
    if unknown:
        takes = f"takes only {', '.join(sorted(allowed))}" if allowed else "takes no options"
        raise DataError(f"format {fmt!r} {takes}, got {', '.join(unknown)}", path=path)
    if fmt == "table" and "columns" not in options:
        raise DataError("format 'table' needs columns={'user': ..., 'item': ...}", path=path)
    return readers[fmt](path, **options)


# --------------------------------------------------------------------------------------------------
# bytes and lines, shared by every text format
# --------------------------------------------------------------------------------------------------


def read_bytes(path: Path, allow_empty: bool = False) -> bytes:
    """The whole file; every OS-level failure becomes a DataError, an empty file too (unless allowed)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError("file not found", path=path) from None
    except IsADirectoryError:
        raise DataError("is a directory, expected a file", path=path) from None
    except OSError as exc:
        raise DataError(f"cannot read file: {exc.strerror or exc}", path=path) from None
    if not data and not allow_empty:
        raise DataError("file is empty", path=path)
    return data


def normalise_text(data: bytes) -> bytes:
    """Drop a leading byte-order mark and turn CRLF into LF; line numbers are unchanged."""
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    return data


def _only_newlines(data: bytes) -> bool:
    """True for b"" and b"\\n\\n...": nothing to parse (counting, unlike strip, copies nothing)."""
    return data.count(b"\n") == len(data)


def _decode_line(raw: bytes) -> str:
    """One line (with its ``\\n``) as text, or _BadLine for NUL bytes, stray CRs and non-UTF-8 bytes."""
    line = raw[:-1] if raw.endswith(b"\n") else raw
    if b"\x00" in line:
        column = line.index(b"\x00") + 1
        raise _BadLine(f"NUL byte at column {column}; is this a binary file?")
    if b"\r" in line:
        column = line.index(b"\r") + 1
        raise _BadLine(f"stray carriage return (\\r) at column {column}")
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _BadLine(
            f"bytes are not valid UTF-8 text (byte 0x{line[exc.start]:02x} at column {exc.start + 1})"
        ) from None


def _scan(
    data: bytes,
    path: Path,
    check_line: Callable[[str], None],
    fast_ok: Callable[[bytes], bool],
    first_line: int = 1,
) -> None:
    """Raise a DataError at the first line that cannot be decoded or that ``check_line`` rejects.

    A Python loop over 10M lines takes over a minute, so big inputs are first narrowed down: cut into
    about 32 pieces of whole lines, each re-checked with the fast parser ``fast_ok``; only the first
    piece it rejects is searched further (recursively), and only a small piece is read line by line.
    This finds the same line because the fast parser accepts a piece exactly when all its lines are
    valid. A rejected piece whose lines all pass (e.g. only blank lines) is skipped.
    """
    if len(data) <= _SCAN_DIRECT_BYTES:
        _scan_lines(data, path, check_line, first_line)
        return
    size = max(_SCAN_DIRECT_BYTES, len(data) // 32)
    for offset, piece in _line_pieces(data, size):
        if len(piece) == len(data):  # a single long line: nothing left to cut
            _scan_lines(piece, path, check_line, first_line + offset)
        elif not fast_ok(piece):
            _scan(piece, path, check_line, fast_ok, first_line + offset)


def _scan_lines(data: bytes, path: Path, check_line: Callable[[str], None], first_line: int) -> None:
    for lineno, raw in enumerate(io.BytesIO(data), start=first_line):
        try:
            text = _decode_line(raw)
            if text:
                check_line(text)
        except _BadLine as exc:
            raise DataError(str(exc), path=path, line=lineno) from None


def _line_pieces(data: bytes, size: int) -> Iterator[tuple[int, bytes]]:
    """(lines before the piece, piece) for consecutive pieces of whole lines of about ``size`` bytes."""
    start = lines_before = 0
    while start < len(data):
        end = data.find(b"\n", start + size)
        end = len(data) if end < 0 else end + 1
        piece = data[start:end]
        yield lines_before, piece
        lines_before += piece.count(b"\n")
        start = end


def _is_clean_text(data: bytes) -> bool:
    """No NUL, no stray CR (call after :func:`normalise_text`) and valid UTF-8: what the scan demands too."""
    if b"\x00" in data or b"\r" in data:
        return False
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# --------------------------------------------------------------------------------------------------
# field checks used by the line scan
# --------------------------------------------------------------------------------------------------


def _check_int(value: str, what: str) -> None:
    if value == "":
        raise _BadLine(f"missing {what} (empty field)")
    if not _INT_RE.fullmatch(value):
        raise _BadLine(f"{what} {_clipped(value)!r} is not an integer")
    # a digit count first: int() of a 5000-digit text raises its own ValueError (Python's guard)
    if len(value.lstrip("+-")) > 19 or not _INT64.min <= int(value) <= _INT64.max:
        raise _BadLine(f"{what} {_clipped(value)} does not fit in a 64-bit integer")


def _clipped(text: str, keep: int = 30) -> str:
    """A field as shown in a message: a long one cut, with its length said."""
    return text if len(text) <= keep else f"{text[:keep]}... ({len(text)} characters)"


def _check_rating(value: str) -> None:
    if value == "":
        raise _BadLine("missing rating (empty field)")
    if not _FLOAT_RE.fullmatch(value):
        if value.strip().lstrip("+-").lower() in _NONFINITE_WORDS:
            raise _BadLine(f"rating {_clipped(value)!r} is not a finite number")
        raise _BadLine(f"rating {_clipped(value)!r} is not a number")
    if not math.isfinite(float(value)):
        raise _BadLine(f"rating {_clipped(value)!r} is not a finite number (it overflows)")


def _separator_hint(text: str, sep: str, n_fields: int) -> str:
    """'; is the separator ','?' when another usual separator would give the expected field count."""
    for guess in _SEPARATOR_GUESSES:
        if guess != sep and len(text.split(guess)) == n_fields:
            return f"; is the separator {guess!r}?"
    return ""


# --------------------------------------------------------------------------------------------------
# fixed four-field formats: u.data and ratings.dat
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _FixedFormat:
    """A ``user SEP item SEP rating SEP timestamp`` format."""

    name: str
    sep: str
    sep_word: str  # how an error message names the separator
    allowed: bytes  # every byte a valid file may contain; anything else sends us to the line scan


_NUMERIC_BYTES = b"0123456789+-.eE\n"
_ML100K = _FixedFormat("MovieLens-100K u.data", "\t", "tab", _NUMERIC_BYTES + b"\t")
_MLDAT = _FixedFormat("MovieLens ratings.dat", "::", "'::'", _NUMERIC_BYTES + b":")
_FIXED_FIELDS = ("user", "item", "rating", "timestamp")
_FIXED_TYPES = MappingProxyType(
    {"user": pa.int64(), "item": pa.int64(), "rating": pa.float64(), "timestamp": pa.int64()}
)


def _read_fixed(path: Path, fmt: _FixedFormat) -> RawInteractions:
    data = normalise_text(read_bytes(path))
    if _only_newlines(data):
        raise DataError("file is empty (no interactions)", path=path)
    table = _fixed_fast(data, fmt)
    if table is None:
        _scan(
            data,
            path,
            lambda text: _check_fixed_line(text, fmt),
            lambda piece: _fixed_fast(piece, fmt) is not None,
        )
        raise DataError(f"could not parse the file as {fmt.name}", path=path)
    return RawInteractions(
        users=table.column("user").to_numpy(),
        items=table.column("item").to_numpy(),
        ratings=table.column("rating").to_numpy(),
        timestamps=table.column("timestamp").to_numpy(),
        source=str(path),
    )


def _fixed_fast(data: bytes, fmt: _FixedFormat) -> pa.Table | None:
    """The parsed table, or None when anything is off (the scan then says what)."""
    if data.translate(None, fmt.allowed):  # a byte outside the grammar: blanks, letters, CR, NUL...
        return None
    if fmt.sep == "::":
        # Split on ':' and demand an empty field between each pair of fields: spacer columns typed
        # null accept only "", which is cheaper than copying 250 MB to replace "::" by a tab.
        names = ["user", "_1", "item", "_2", "rating", "_3", "timestamp"]
    else:
        names = list(_FIXED_FIELDS)
    types = {name: _FIXED_TYPES.get(name, pa.null()) for name in names}
    table = _arrow_csv(data, fmt.sep[0], names, types, null_values=[""])
    if table is None or any(table.column(name).null_count for name in _FIXED_FIELDS):
        return None  # an empty field (null) where a value belongs
    if table.num_rows and not pc.all(pc.is_finite(table.column("rating"))).as_py():
        return None  # nan/inf never get here (no letters), but 1e400 does
    return table


def _check_fixed_line(text: str, fmt: _FixedFormat) -> None:
    fields = text.split(fmt.sep)
    if len(fields) != 4:
        raise _BadLine(
            f"expected 4 {fmt.sep_word}-separated fields (user, item, rating, timestamp), "
            f"found {len(fields)}" + _separator_hint(text, fmt.sep, 4)
        )
    user, item, rating, timestamp = fields
    _check_int(user, "user id")
    _check_int(item, "item id")
    _check_rating(rating)
    _check_int(timestamp, "timestamp")


def _arrow_csv(
    data: bytes,
    sep: str,
    names: list[str],
    types: Mapping[str, pa.DataType],
    null_values: list[str] | None = None,
) -> pa.Table | None:
    """pyarrow's CSV reader with every leniency off (no quotes; no null markers unless asked); None on error.

    Large blocks keep the number of chunks low, which makes the later ``to_numpy`` copies cheap.
    """
    try:
        return pa_csv.read_csv(
            pa.py_buffer(data),
            read_options=pa_csv.ReadOptions(column_names=names, block_size=_ARROW_BLOCK_BYTES),
            parse_options=pa_csv.ParseOptions(
                delimiter=sep, quote_char=False, escape_char=False, newlines_in_values=False
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict(types),
                include_columns=list(types),
                null_values=null_values or [],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=True,
            ),
        )
    except (pa.ArrowException, ValueError):
        return None


# --------------------------------------------------------------------------------------------------
# LightGCN / NGCF adjacency lines
# --------------------------------------------------------------------------------------------------

_LIGHTGCN_BYTES = b"0123456789 \t\n"
_LIGHTGCN_SPLIT = re.compile(r"[ \t]+")
_DIGITS_RE = re.compile(r"[0-9]+")


def _lightgcn_fast(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(users, items, 1-based numbers of the lines with a user and no item) parsed straight from the bytes
    with numpy, or None when the scan must look."""
    if data.translate(None, _LIGHTGCN_BYTES):
        return None
    buf = np.frombuffer(data, dtype=np.uint8)
    is_digit = (buf >= ord("0")) & (buf <= ord("9"))
    edges = np.diff(is_digit.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)  # exclusive
    lengths = ends - starts
    if len(starts) and lengths.max() > _MAX_ID_DIGITS:
        return None
    values = _digit_runs_to_int(buf, ends, lengths)
    line_of_token = np.searchsorted(np.flatnonzero(buf == ord("\n")), starts)
    is_user = np.ones(len(starts), dtype=bool)
    is_user[1:] = line_of_token[1:] != line_of_token[:-1]
    owner = values[is_user][np.cumsum(is_user) - 1]  # the user token of each token's line
    alone = is_user.copy()  # a user token whose line has no item token after it
    alone[:-1] &= is_user[1:]
    return owner[~is_user], values[~is_user], line_of_token[alone] + 1


def _digit_runs_to_int(buf: np.ndarray, ends: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Value of each run of ASCII digits; one vectorised pass per digit position (<= 18), not per id."""
    values = np.zeros(len(ends), dtype=np.int64)
    scale = np.int64(1)
    for k in range(int(lengths.max()) if len(ends) else 0):
        has = lengths > k
        digit = buf[np.where(has, ends - 1 - k, 0)].astype(np.int64) - ord("0")
        values += np.where(has, digit, 0) * scale
        scale *= 10
    return values


def _check_lightgcn_line(text: str) -> None:
    tokens = [t for t in _LIGHTGCN_SPLIT.split(text) if t]
    for pos, token in enumerate(tokens):
        what = "user id" if pos == 0 else "item id"
        if not _DIGITS_RE.fullmatch(token):
            raise _BadLine(
                f"expected blank-separated non-negative integer ids 'user item item ...', "
                f"found {what} {token!r} (field {pos + 1})"
            )
        if len(token) > _MAX_ID_DIGITS:
            raise _BadLine(f"{what} {token} is too large (more than {_MAX_ID_DIGITS} digits)")


# --------------------------------------------------------------------------------------------------
# generic tables
# --------------------------------------------------------------------------------------------------


def _check_columns(columns: Mapping[str, str | int], path: Path) -> dict[str, str | int]:
    """The column mapping, validated: known keys, user and item present, names or non-negative ints."""
    if not isinstance(columns, Mapping):
        raise DataError(
            f"columns must be a mapping like {{'user': 0, 'item': 1}}, got {columns!r}", path=path
        )
    unknown = sorted(set(columns) - set(TABLE_KEYS))
    if unknown:
        raise DataError(f"unknown column keys {unknown}; expected some of {', '.join(TABLE_KEYS)}", path=path)
    missing = [k for k in ("user", "item") if k not in columns]
    if missing:
        raise DataError(f"columns must name {' and '.join(missing)}", path=path)
    for key, value in columns.items():
        ok = isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)
        if not ok:
            raise DataError(
                f"column for {key!r} must be a name or a 0-based position, got {value!r}", path=path
            )
    if len(set(columns.values())) != len(columns):
        raise DataError(f"two keys map to the same column in {dict(columns)}", path=path)
    return {k: columns[k] for k in TABLE_KEYS if k in columns}


def _table_separator(path: Path, sep: str | None) -> str:
    if sep is None:
        sep = _SEPARATOR_BY_SUFFIX.get(path.suffix.lower())
        if sep is None:
            raise DataError(
                f"cannot tell the separator from the suffix {path.suffix!r}; pass sep=", path=path
            )
    if len(sep) != 1 or sep in '\r\n"':
        raise DataError(f"sep must be one character other than a quote or line break, got {sep!r}", path=path)
    return sep


@dataclass(frozen=True)
class _TableLayout:
    """Where the data rows start and which field holds each key."""

    body: bytes  # the data rows (after the header line, if any)
    first_line: int  # 1-based line number of body's first line in the file
    n_fields: int
    index: dict[str, int]  # key -> 0-based field
    reference: str  # how an error names the line that fixed the field count


def _read_delimited_table(path: Path, spec: dict[str, str | int], sep: str, header: bool) -> RawInteractions:
    data = normalise_text(read_bytes(path))
    layout = _table_layout(data, path, spec, sep, header)
    if _only_newlines(layout.body):
        raise DataError("file has no data rows", path=path)
    raw = _table_fast(layout, sep, path)
    if raw is None:
        _scan(
            layout.body,
            path,
            lambda text: _check_table_line(text, layout, sep),
            lambda piece: _table_fast(replace(layout, body=piece), sep, path) is not None,
            layout.first_line,
        )
        raise DataError("could not parse the table", path=path)
    return raw


def _first_text_line(data: bytes, path: Path) -> tuple[int, str, int]:
    """(1-based line number, text, offset after it) of the first non-empty line."""
    offset = 0
    for lineno, raw in enumerate(io.BytesIO(data), start=1):
        try:
            text = _decode_line(raw)
        except _BadLine as exc:
            raise DataError(str(exc), path=path, line=lineno) from None
        offset += len(raw)
        if text:
            return lineno, text, offset
    raise DataError("file is empty (only blank lines)", path=path)


def _table_layout(
    data: bytes, path: Path, spec: dict[str, str | int], sep: str, header: bool
) -> _TableLayout:
    lineno, text, end = _first_text_line(data, path)
    fields = text.split(sep)
    if not header:
        names = [k for k, v in spec.items() if isinstance(v, str)]
        if names:
            raise DataError(f"columns {names} are given by name but header=False; use positions", path=path)
        index = {k: int(v) for k, v in spec.items()}
        _check_positions(index, len(fields), text, sep, path, lineno)
        return _TableLayout(data, 1, len(fields), index, f"line {lineno}")
    index = {}
    for key, value in spec.items():
        if isinstance(value, int):
            index[key] = value
        elif fields.count(value) == 1:
            index[key] = fields.index(value)
        else:
            found = "appears more than once in" if value in fields else "is not in"
            raise DataError(f"column {value!r} {found} the header {fields}", path=path, line=lineno)
    _check_positions(index, len(fields), text, sep, path, lineno)
    return _TableLayout(data[end:], lineno + 1, len(fields), index, f"the header, line {lineno}")


def _check_positions(
    index: dict[str, int], n_fields: int, text: str, sep: str, path: Path, line: int
) -> None:
    wanted = max(index.values()) + 1
    if wanted > n_fields:
        raise DataError(
            f"expected at least {wanted} {sep!r}-separated fields, found {n_fields}"
            + _separator_hint(text, sep, wanted),
            path=path,
            line=line,
        )


def _table_fast(layout: _TableLayout, sep: str, path: Path) -> RawInteractions | None:
    """The parsed table, or None when the line scan has to find what is wrong."""
    if not _is_clean_text(layout.body):
        return None
    names = [f"f{i}" for i in range(layout.n_fields)]
    table = _arrow_csv(layout.body, sep, names, {f"f{i}": pa.string() for i in layout.index.values()})
    if table is None:
        return None
    col = {key: table.column(f"f{i}") for key, i in layout.index.items()}
    if any(pc.any(pc.equal(col[k], "")).as_py() for k in ("user", "item")):
        return None
    ratings = timestamps = None
    if "rating" in col:
        ratings = _strings_to_floats(col["rating"])
        if ratings is None:
            return None
    if "timestamp" in col:
        timestamps = _strings_to_ints(col["timestamp"])
        if timestamps is None:
            return None
    return RawInteractions(
        users=_strings_to_ids(col["user"]),
        items=_strings_to_ids(col["item"]),
        ratings=ratings,
        timestamps=timestamps,
        source=str(path),
    )


def _strings_to_ints(strings: pa.ChunkedArray) -> np.ndarray | None:
    """int64 values when every string is ``-?[0-9]+`` and fits; None otherwise.

    The grammar is checked before casting because pyarrow's cast alone also takes hex (``0x1F``). The
    cheap all-digits test settles the common case; only negative numbers need the regex.
    """
    all_digits = pc.all(pc.ascii_is_decimal(strings)).as_py()
    if not all_digits and not pc.all(pc.match_substring_regex(strings, _INT_RE2)).as_py():
        return None
    try:
        return pc.cast(strings, pa.int64()).to_numpy()
    except (pa.ArrowException, ValueError):
        return None


def _strings_to_floats(strings: pa.ChunkedArray) -> np.ndarray | None:
    if len(strings) and not pc.all(pc.match_substring_regex(strings, _FLOAT_RE2)).as_py():
        return None
    try:
        values = pc.cast(strings, pa.float64()).to_numpy()
    except (pa.ArrowException, ValueError):
        return None
    return values if np.isfinite(values).all() else None


def _strings_to_ids(strings: pa.ChunkedArray) -> np.ndarray:
    """int64 ids when every id is an integer, else the ids as ``str`` (numpy unicode) as written."""
    ints = _strings_to_ints(strings)
    if ints is not None:
        return ints
    return np.asarray(strings.to_numpy(zero_copy_only=False), dtype=str)


def _check_table_line(text: str, layout: _TableLayout, sep: str) -> None:
    fields = text.split(sep)
    if len(fields) != layout.n_fields:
        raise _BadLine(
            f"expected {layout.n_fields} {sep!r}-separated fields as in {layout.reference}, "
            f"found {len(fields)}" + _separator_hint(text, sep, layout.n_fields)
        )
    for key, i in layout.index.items():
        value = fields[i]
        if key in ("user", "item") and value == "":
            raise _BadLine(f"missing {key} id (empty field {i})")
        if key == "rating":
            _check_rating(value)
        if key == "timestamp":
            _check_int(value, "timestamp")


# --------------------------------------------------------------------------------------------------
# Parquet
# --------------------------------------------------------------------------------------------------


def _read_parquet(path: Path, spec: dict[str, str | int]) -> RawInteractions:
    """A Parquet table; errors name the column and the 1-based row, since Parquet has no lines."""
    import pyarrow.parquet as pq  # only Parquet users pay for importing it

    data = read_bytes(path)
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
        names = parquet.schema_arrow.names
        wanted = {key: _parquet_column(value, names, path) for key, value in spec.items()}
        table = parquet.read(columns=sorted(set(wanted.values())))
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise DataError(f"cannot read the Parquet file: {exc}", path=path) from None
    if table.num_rows == 0:
        raise DataError("file has no data rows", path=path)
    col = {key: _no_nulls(table.column(name), f"{key} column {name!r}", path) for key, name in wanted.items()}
    return RawInteractions(
        users=_parquet_ids(col["user"], f"user column {wanted['user']!r}", path),
        items=_parquet_ids(col["item"], f"item column {wanted['item']!r}", path),
        ratings=_parquet_ratings(col["rating"], path) if "rating" in col else None,
        timestamps=_parquet_timestamps(col["timestamp"], path) if "timestamp" in col else None,
        source=str(path),
    )


def _parquet_column(value: str | int, names: list[str], path: Path) -> str:
    if isinstance(value, int):
        if value >= len(names):
            raise DataError(f"column position {value} is out of range: the file has {names}", path=path)
        return names[value]
    if names.count(value) != 1:
        raise DataError(f"column {value!r} is not (exactly once) in the file's columns {names}", path=path)
    return value


def _no_nulls(column: pa.ChunkedArray, what: str, path: Path) -> pa.ChunkedArray:
    if column.null_count:
        row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0]) + 1
        raise DataError(f"{what} is missing (null) in row {row}", path=path)
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return column


def _first_bad_row(bad: np.ndarray) -> int:
    return int(np.flatnonzero(bad)[0]) + 1


def _parquet_ids(column: pa.ChunkedArray, what: str, path: Path) -> np.ndarray:
    kind = column.type
    if pa.types.is_integer(kind):
        values = column.to_numpy()
        if values.dtype == np.uint64 and (values > _INT64.max).any():
            row = _first_bad_row(values > _INT64.max)
            raise DataError(f"{what} has an id above the int64 range in row {row}", path=path)
        return values.astype(np.int64)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        empty = pc.equal(column, "").to_numpy(zero_copy_only=False)
        if empty.any():
            raise DataError(f"{what} is empty in row {_first_bad_row(empty)}", path=path)
        return _strings_to_ids(column)
    if pa.types.is_floating(kind):
        values = column.to_numpy()
        bad = ~np.isfinite(values) | (np.round(values) != values) | (np.abs(values) > 2.0**53)
        if bad.any():
            row = _first_bad_row(bad)
            raise DataError(f"{what} has a non-integer id {float(values[row - 1])} in row {row}", path=path)
        return values.astype(np.int64)
    raise DataError(f"{what} has type {kind}; expected integer or string ids", path=path)


def _parquet_ratings(column: pa.ChunkedArray, path: Path) -> np.ndarray:
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        raise DataError(f"rating column has type {column.type}; expected numbers", path=path)
    values = column.to_numpy().astype(np.float64)
    if not np.isfinite(values).all():
        row = _first_bad_row(~np.isfinite(values))
        raise DataError(f"rating {float(values[row - 1])} in row {row} is not a finite number", path=path)
    return values


def _parquet_timestamps(column: pa.ChunkedArray, path: Path) -> np.ndarray:
    """Integer seconds; Arrow timestamps are converted to Unix seconds."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[kind.unit]
        return column.cast(pa.int64()).to_numpy() // per_second
    if pa.types.is_integer(kind):
        return column.to_numpy().astype(np.int64)
    raise DataError(f"timestamp column has type {kind}; expected integers or timestamps", path=path)
