"""Item feature matrices (content features such as genres or image embeddings), aligned to the data's items.

Two file layouts, both keyed by the ORIGINAL item ids (the ids of the interaction file), never by row order:

* ``.npy``: a 2-D numeric matrix ``[n_rows, d]`` plus a companion ids file (``ids_path``) that gives the
  item id of each row, in row order: either a text file with one id per line (UTF-8, no header, no blank
  lines) or a 1-D ``.npy`` array of ids (integers or strings). ``ids.npy``/``ids.txt`` must have exactly
  ``n_rows`` entries.
* ``.parquet``: one row per item; an id column (``id_column``, default ``item``) and numeric feature
  columns (``columns``, default every other column, in file order).

Ids follow the interaction readers' rule: integers when every id is an integer (``-?[0-9]+``), strings
otherwise; when one side has integer ids and the other strings, both are compared as text. The file may
hold rows for items the data does not have (they are ignored) but not the same id twice. Items of the
data without a row are an error unless ``missing: zeros`` (a zero feature vector).

Values must be finite numbers (bool, integer or float dtypes; NaN/inf are errors); they are returned as
float32. Every problem is a :class:`~advrec.errors.DataError` naming the file and what was expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from advrec.data.config import ItemFeaturesConfig
from advrec.data.interactions import IdMap
from advrec.data.io import _no_nulls, _parquet_ids, normalise_text, read_bytes
from advrec.errors import DataError

_INT_RE = re.compile(r"-?[0-9]+")
_INT64 = np.iinfo(np.int64)
_NUMERIC_KINDS = "biuf"  # bool, signed, unsigned, float
_SHOW = 5  # how many offending ids an error message lists
FEATURES_FILE = "item_features.npy"
IDS_FILE = "item_features.ids.txt"


@dataclass(frozen=True)
class ItemFeatures:
    """Feature rows as read from a file: ``ids[r]`` is the original item id of ``matrix[r]``."""

    ids: np.ndarray  # int64 or str
    matrix: np.ndarray  # float32 [n_rows, d]
    source: str


# --------------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------------


def read_item_features(
    path: str | Path,
    *,
    ids_path: str | Path | None = None,
    id_column: str = "item",
    columns: list[str] | None = None,
) -> ItemFeatures:
    """Read a ``.npy`` matrix with its ids file, or a ``.parquet`` table (see the module docstring)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        if columns is not None:
            raise DataError(
                "columns= applies to .parquet files; a .npy matrix uses all its columns", path=path
            )
        if ids_path is None:
            raise DataError(
                "a .npy feature matrix needs an ids file (ids_path): the original item id of each row, "
                "one per line (text) or a 1-D .npy array",
                path=path,
            )
        return _read_npy(path, Path(ids_path))
    if suffix == ".parquet":
        if ids_path is not None:
            raise DataError(
                f"ids_path applies to .npy matrices; a .parquet table carries its ids in column "
                f"{id_column!r}",
                path=path,
            )
        return _read_parquet(path, id_column, columns)
    raise DataError(
        f"unsupported item-feature file suffix {path.suffix!r}; expected .npy (with an ids file) or .parquet",
        path=path,
    )


def _read_npy(path: Path, ids_path: Path) -> ItemFeatures:
    raw = _load_npy(path)
    if raw.ndim != 2:
        raise DataError(
            f"expected a 2-D feature matrix [n_items, d], got an array of shape {tuple(raw.shape)}", path=path
        )
    if raw.shape[0] == 0 or raw.shape[1] == 0:
        raise DataError(f"the feature matrix is empty (shape {tuple(raw.shape)})", path=path)
    if raw.dtype.kind not in _NUMERIC_KINDS:
        raise DataError(
            f"feature matrix has dtype {raw.dtype}; expected bool, integer or float numbers", path=path
        )
    ids = _read_ids(ids_path)
    if len(ids) != raw.shape[0]:
        raise DataError(
            f"{len(ids)} item ids for a feature matrix of {raw.shape[0]} rows ({path}): "
            "the ids file needs exactly one id per matrix row, in row order",
            path=ids_path,
        )
    matrix = raw.astype(np.float32)
    row_name = lambda r: f"0-based row {r}, ids file line {r + 1}"  # noqa: E731
    _check_finite(matrix, ids, path, row_name, lambda c: f"column {c}")
    return ItemFeatures(ids, matrix, str(path))


def _load_npy(path: Path) -> np.ndarray:
    if not path.exists():
        raise DataError("file not found", path=path)
    if path.is_dir():
        raise DataError("is a directory, expected a file", path=path)
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:  # object arrays (pickles) and malformed headers
        raise DataError(f"cannot read as a .npy array of numbers or strings: {exc}", path=path) from None
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read the .npy file: {exc}", path=path) from None


def _read_ids(path: Path) -> np.ndarray:
    """Item ids, one per matrix row: a text file (one per line) or a 1-D .npy array."""
    if path.suffix.lower() == ".npy":
        raw = _load_npy(path)
        if raw.ndim != 1:
            raise DataError(f"expected a 1-D array of item ids, got shape {tuple(raw.shape)}", path=path)
        if raw.dtype.kind in "iu":
            if raw.dtype == np.uint64 and len(raw) and raw.max() > _INT64.max:
                raise DataError("item id above the int64 range", path=path)
            return raw.astype(np.int64)
        if raw.dtype.kind == "U":
            return _ids_from_strings(raw.tolist(), path, lines=False)
        raise DataError(f"item ids have dtype {raw.dtype}; expected integers or strings", path=path)
    text = normalise_text(read_bytes(path, allow_empty=True))
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = text[: exc.start].count(b"\n") + 1
        raise DataError("bytes are not valid UTF-8 text", path=path, line=line) from None
    lines = decoded.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline
    return _ids_from_strings(lines, path, lines=True)


def _ids_from_strings(values: list[str], path: Path, *, lines: bool) -> np.ndarray:
    if not values:
        raise DataError("no item ids (the file is empty)", path=path)
    for i, value in enumerate(values):
        if value == "" or value != value.strip():
            what = "item id is empty" if value == "" else f"item id {value!r} has leading or trailing blanks"
            if lines:
                raise DataError(f"{what}; expected one id per line", path=path, line=i + 1)
            raise DataError(f"{what} (position {i})", path=path)
    if all(_INT_RE.fullmatch(v) for v in values):
        ints = [int(v) for v in values]
        if all(_INT64.min <= v <= _INT64.max for v in ints):
            return np.asarray(ints, dtype=np.int64)
    return np.asarray(values, dtype=str)


def _read_parquet(path: Path, id_column: str, columns: list[str] | None) -> ItemFeatures:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.exists():
        raise DataError("file not found", path=path)
    try:
        parquet = pq.ParquetFile(path)
        names = parquet.schema_arrow.names
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise DataError(f"cannot read the Parquet file: {exc}", path=path) from None
    if names.count(id_column) != 1:
        raise DataError(
            f"id column {id_column!r} is not (exactly once) in the file's columns {names}; "
            "set data.item_features.id_column",
            path=path,
        )
    if columns is None:
        feature_names = [n for n in names if n != id_column]
    else:
        feature_names = list(columns)
        for name in feature_names:
            if names.count(name) != 1:
                raise DataError(
                    f"feature column {name!r} is not (exactly once) in the file's columns {names}", path=path
                )
        if id_column in feature_names:
            raise DataError(f"the id column {id_column!r} cannot also be a feature column", path=path)
    if not feature_names:
        raise DataError(f"no feature columns: the file has only the id column {id_column!r}", path=path)
    try:
        table = parquet.read(columns=[id_column, *feature_names])
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise DataError(f"cannot read the Parquet file: {exc}", path=path) from None
    if table.num_rows == 0:
        raise DataError("file has no data rows", path=path)
    what = f"id column {id_column!r}"
    ids = _parquet_ids(_no_nulls(table.column(id_column), what, path), what, path)
    matrix = np.empty((table.num_rows, len(feature_names)), dtype=np.float32)
    for j, name in enumerate(feature_names):
        column = _no_nulls(table.column(name), f"feature column {name!r}", path)
        kind = column.type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
            raise DataError(
                f"feature column {name!r} has type {kind}; expected numbers (bool, integer or float). "
                "Name the feature columns with data.item_features.columns to leave other columns out",
                path=path,
            )
        matrix[:, j] = column.to_numpy(zero_copy_only=False).astype(np.float32)
    _check_finite(matrix, ids, path, lambda r: f"row {r + 1}", lambda c: f"column {feature_names[c]!r}")
    return ItemFeatures(ids, matrix, str(path))


def _check_finite(matrix: np.ndarray, ids: np.ndarray, path: Path, row_name, column_name) -> None:
    bad = ~np.isfinite(matrix)
    if bad.any():
        row, col = (int(x) for x in np.argwhere(bad)[0])
        raise DataError(
            f"feature value {matrix[row, col]} ({row_name(row)}, item id {ids[row].item()!r}, "
            f"{column_name(col)}) is not a finite number; {int(bad.sum())} such values in all",
            path=path,
        )


# --------------------------------------------------------------------------------------------------
# alignment to the data's items
# --------------------------------------------------------------------------------------------------


def align_item_features(features: ItemFeatures, item_map: IdMap, missing: str = "error") -> np.ndarray:
    """``[len(item_map), d]`` float32: row i holds the features of the item with dense index i.

    ``missing``: ``error`` (a DataError listing the first ids without a row) or ``zeros``.
    """
    if missing not in ("error", "zeros"):
        raise ValueError(f"missing must be 'error' or 'zeros', got {missing!r}")
    wanted, have = item_map.raw, features.ids
    if wanted.dtype.kind != have.dtype.kind:  # ints on one side, strings on the other: compare as text
        wanted = np.asarray([str(x) for x in wanted.tolist()], dtype=str)
        have = np.asarray([str(x) for x in have.tolist()], dtype=str)
    uniques, first, counts = np.unique(have, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = uniques[counts > 1][0]
        rows = np.flatnonzero(have == dup)[:3].tolist()
        raise DataError(
            f"item id {dup.item()!r} has {int(counts[counts > 1][0])} feature rows (rows {rows}); "
            "expected one row per item",
            path=features.source,
        )
    pos = np.minimum(np.searchsorted(uniques, wanted), len(uniques) - 1)
    found = uniques[pos] == wanted
    out = np.zeros((len(wanted), features.matrix.shape[1]), dtype=np.float32)
    out[found] = features.matrix[first[pos[found]]]
    if not found.all() and missing == "error":
        absent = item_map.raw[~found]
        example = ", ".join(repr(x) for x in absent[:_SHOW].tolist())
        hint = ""
        if not found.any():
            hint = (
                f"; no item of the data has a row: are these the data's item ids? (file ids look like "
                f"{', '.join(repr(x) for x in features.ids[:3].tolist())})"
            )
        raise DataError(
            f"{len(absent)} of the data's {len(wanted)} items have no feature row, e.g. item ids {example}"
            f"{hint}. Add rows for them, or set data.item_features.missing: zeros",
            path=features.source,
        )
    return out


def write_item_features(folder: str | Path, matrix: np.ndarray, item_ids: np.ndarray) -> None:
    """``item_features.npy`` + ``item_features.ids.txt`` in ``folder`` (atomic), readable by
    :func:`read_item_features`: how a run keeps the exact features it trained with."""
    from advrec.utils.files import atomic_write, atomic_write_text

    folder = Path(folder)
    atomic_write(folder / FEATURES_FILE, lambda tmp: _save_npy(tmp, matrix))
    atomic_write_text(folder / IDS_FILE, "".join(f"{x}\n" for x in item_ids.tolist()))


def _save_npy(path: Path, matrix: np.ndarray) -> None:
    with open(path, "wb") as fh:  # a file object: np.save would append .npy to the temporary name
        np.save(fh, np.ascontiguousarray(matrix, dtype=np.float32), allow_pickle=False)


def load_item_features(cfg: ItemFeaturesConfig, data_root: str | Path | None, item_map: IdMap) -> np.ndarray:
    """The configured feature file, read and aligned to ``item_map`` (paths resolve like data.path)."""
    from advrec.data.loading import resolve_path

    path = resolve_path(cfg.path, data_root, "data.item_features.path")
    ids_path = None
    if cfg.ids_path is not None:
        ids_path = resolve_path(cfg.ids_path, data_root, "data.item_features.ids_path")
    features = read_item_features(path, ids_path=ids_path, id_column=cfg.id_column, columns=cfg.columns)
    return align_item_features(features, item_map, cfg.missing)
