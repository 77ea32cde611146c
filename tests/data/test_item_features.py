"""Item feature files (.npy + ids file, .parquet), aligned by ORIGINAL item id; every error names the file."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from advrec.data.config import ItemFeaturesConfig
from advrec.data.features import align_item_features, load_item_features, read_item_features
from advrec.data.interactions import Interactions
from advrec.errors import DataError

# The data's items (raw ids 10, 20, 30, 40); the feature file lists them shuffled, plus an unknown 99.
FILE_IDS = [30, 10, 99, 40, 20]
MATRIX = np.array([[3, 0.5], [1, 0.1], [9, 9], [4, 0.25], [2, 0.2]], dtype=np.float64)
EXPECTED = np.array([[1, 0.1], [2, 0.2], [3, 0.5], [4, 0.25]], dtype=np.float32)  # ids 10, 20, 30, 40


@pytest.fixture(scope="module")
def item_map():
    data = Interactions.from_raw(np.array([1, 1, 2, 2, 3]), np.array([40, 10, 20, 30, 10]))
    return data.item_map


def _npy(tmp_path, matrix=MATRIX, ids=FILE_IDS, ids_text=None, name="f"):
    path, ids_path = tmp_path / f"{name}.npy", tmp_path / f"{name}.ids.txt"
    np.save(path, matrix)
    ids_path.write_text(ids_text if ids_text is not None else "".join(f"{i}\n" for i in ids))
    return path, ids_path


def _parquet(tmp_path, columns=None, name="f.parquet"):
    columns = columns or {"item": FILE_IDS, "g0": MATRIX[:, 0].tolist(), "g1": MATRIX[:, 1].tolist()}
    path = tmp_path / name
    pq.write_table(pa.table(columns), path)
    return path


def test_npy_with_text_ids_aligns_by_original_id(tmp_path, item_map):
    path, ids_path = _npy(tmp_path)
    features = read_item_features(path, ids_path=ids_path)
    assert features.ids.dtype == np.int64 and features.matrix.dtype == np.float32
    aligned = align_item_features(features, item_map)
    assert list(item_map.raw) == [10, 20, 30, 40]
    np.testing.assert_array_equal(aligned, EXPECTED)


def test_npy_with_npy_ids_bool_matrix_and_crlf_text_ids(tmp_path, item_map):
    flags = np.array([[True, False], [False, True], [True, True], [False, False], [True, False]])
    path = tmp_path / "flags.npy"
    np.save(path, flags)
    np.save(tmp_path / "ids.npy", np.array(FILE_IDS, dtype=np.uint32))
    aligned = align_item_features(read_item_features(path, ids_path=tmp_path / "ids.npy"), item_map)
    np.testing.assert_array_equal(aligned[:, 0], [0, 1, 1, 0])  # ids 10, 20, 30, 40
    (tmp_path / "ids.txt").write_bytes(b"30\r\n10\r\n99\r\n40\r\n20")  # CRLF, no final newline
    again = align_item_features(read_item_features(path, ids_path=tmp_path / "ids.txt"), item_map)
    np.testing.assert_array_equal(again, aligned)


def test_parquet_aligns_and_selects_columns(tmp_path, item_map):
    path = _parquet(tmp_path)
    np.testing.assert_array_equal(align_item_features(read_item_features(path), item_map), EXPECTED)
    only = read_item_features(path, columns=["g1"])
    np.testing.assert_array_equal(align_item_features(only, item_map), EXPECTED[:, 1:])
    renamed = _parquet(tmp_path, {"movie": FILE_IDS, "g0": MATRIX[:, 0].tolist()}, "r.parquet")
    assert read_item_features(renamed, id_column="movie").matrix.shape == (5, 1)


def test_string_ids_and_int_string_mix_compare_as_text(tmp_path):
    data = Interactions.from_raw(np.array(["u", "v"]), np.array(["b", "a"]))
    path, ids_path = _npy(tmp_path, MATRIX[:2], ids_text="a\nb\n")
    aligned = align_item_features(read_item_features(path, ids_path=ids_path), data.item_map)
    np.testing.assert_array_equal(aligned, MATRIX[:2].astype(np.float32))
    # integer item ids in the data, string ids in a Parquet table: matched as text
    ints = Interactions.from_raw(np.array([1, 2]), np.array([7, 8]))
    table = _parquet(tmp_path, {"item": ["8", "7"], "x": [80.0, 70.0]}, "s.parquet")
    assert align_item_features(read_item_features(table), ints.item_map)[:, 0].tolist() == [70.0, 80.0]


def test_missing_items_error_or_zeros(tmp_path, item_map):
    path, ids_path = _npy(tmp_path, MATRIX[:3], ids=FILE_IDS[:3])  # ids 30, 10, 99: no 20, no 40
    features = read_item_features(path, ids_path=ids_path)
    message = r"f\.npy: 2 of the data's 4 items have no feature row, e.g. item ids 20, 40"
    with pytest.raises(DataError, match=message):
        align_item_features(features, item_map)
    zeros = align_item_features(features, item_map, missing="zeros")
    np.testing.assert_array_equal(zeros, np.float32([[1, 0.1], [0, 0], [3, 0.5], [0, 0]]))
    other, other_ids = _npy(tmp_path, MATRIX[:2], ids_text="x\ny\n", name="g")
    with pytest.raises(DataError, match="no item of the data has a row.*'x', 'y'"):
        align_item_features(read_item_features(other, ids_path=other_ids), item_map)


def test_load_item_features_resolves_paths_against_the_data_root(tmp_path, item_map):
    _npy(tmp_path)
    cfg = ItemFeaturesConfig(path="f.npy", ids_path="f.ids.txt")
    np.testing.assert_array_equal(load_item_features(cfg, tmp_path, item_map), EXPECTED)
    with pytest.raises(DataError, match="data.item_features.path: file not found"):
        load_item_features(ItemFeaturesConfig(path="nope.npy", ids_path="f.ids.txt"), tmp_path, item_map)
    with pytest.raises(DataError, match="data.item_features.ids_path: file not found"):
        load_item_features(ItemFeaturesConfig(path="f.npy", ids_path="nope.txt"), tmp_path, item_map)


NAN_AT_3_1 = np.ones((5, 2))
NAN_AT_3_1[3, 1] = NAN_AT_3_1[4, 0] = np.nan
NPY_ERRORS = [
    (np.zeros(5), FILE_IDS, r"f\.npy: expected a 2-D feature matrix \[n_items, d\], got an array of shape"),
    (np.zeros((0, 2)), [], r"f\.npy: the feature matrix is empty"),
    (np.array([["a", "b"]] * 5), FILE_IDS, r"f\.npy: feature matrix has dtype <U1; expected bool, integer"),
    (np.zeros((5, 2), dtype=complex), FILE_IDS, "dtype complex128"),
    (NAN_AT_3_1, FILE_IDS, r"f\.npy: .* \(0-based row 3, ids file line 4, item id 40, column 1\)"),
    (np.full((5, 2), np.inf), FILE_IDS, r"not a finite number; 10 such values"),
]


@pytest.mark.parametrize(("matrix", "ids", "message"), NPY_ERRORS)
def test_npy_errors_name_the_file(tmp_path, matrix, ids, message):
    path, ids_path = _npy(tmp_path, matrix, ids)
    with pytest.raises(DataError, match=message):
        read_item_features(path, ids_path=ids_path)


def test_ids_file_errors(tmp_path, item_map):
    path, _ = _npy(tmp_path)
    cases = {
        "30\n10\n99\n40\n": r"short\.txt: 4 item ids for a feature matrix of 5 rows",
        "30\n10\n\n40\n20\n": r"blank\.txt:3: item id is empty; expected one id per line",
        "30\n10 \n99\n40\n20\n": r"blanks\.txt:2: item id '10 ' has leading or trailing blanks",
        "": r"empty\.txt: no item ids",
    }
    for (text, message), name in zip(cases.items(), ["short", "blank", "blanks", "empty"]):
        (tmp_path / f"{name}.txt").write_text(text)
        with pytest.raises(DataError, match=message):
            read_item_features(path, ids_path=tmp_path / f"{name}.txt")
    (tmp_path / "latin.txt").write_bytes(b"30\n10\n\xe9\n40\n20\n")
    with pytest.raises(DataError, match=r"latin\.txt:3: bytes are not valid UTF-8"):
        read_item_features(path, ids_path=tmp_path / "latin.txt")
    np.save(tmp_path / "ids2d.npy", np.zeros((5, 1), dtype=np.int64))
    with pytest.raises(DataError, match=r"ids2d\.npy: expected a 1-D array of item ids"):
        read_item_features(path, ids_path=tmp_path / "ids2d.npy")
    np.save(tmp_path / "idsf.npy", np.zeros(5))
    with pytest.raises(DataError, match=r"idsf\.npy: item ids have dtype float64"):
        read_item_features(path, ids_path=tmp_path / "idsf.npy")
    (tmp_path / "dup.txt").write_text("30\n10\n30\n40\n20\n")
    features = read_item_features(path, ids_path=tmp_path / "dup.txt")
    with pytest.raises(DataError, match=r"f\.npy: item id 30 has 2 feature rows \(rows \[0, 2\]\)"):
        align_item_features(features, item_map)


def test_file_level_errors(tmp_path):
    path, ids_path = _npy(tmp_path)
    with pytest.raises(DataError, match=r"f\.npy: a \.npy feature matrix needs an ids file"):
        read_item_features(path)
    with pytest.raises(DataError, match=r"nope\.npy: file not found"):
        read_item_features(tmp_path / "nope.npy", ids_path=ids_path)
    with pytest.raises(DataError, match=r"missing\.txt: file not found"):
        read_item_features(path, ids_path=tmp_path / "missing.txt")
    (tmp_path / "bad.npy").write_bytes(b"not an npy file")
    with pytest.raises(DataError, match=r"bad\.npy: cannot read"):
        read_item_features(tmp_path / "bad.npy", ids_path=ids_path)
    np.save(tmp_path / "obj.npy", np.array([[1, None]] * 5, dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"obj\.npy: cannot read as a \.npy array"):
        read_item_features(tmp_path / "obj.npy", ids_path=ids_path)
    (tmp_path / "f.csv").write_text("item,x\n1,2\n")
    with pytest.raises(DataError, match=r"f\.csv: unsupported item-feature file suffix '\.csv'"):
        read_item_features(tmp_path / "f.csv")
    with pytest.raises(DataError, match=r"f\.npy: columns= applies to \.parquet"):
        read_item_features(path, ids_path=ids_path, columns=["a"])
    with pytest.raises(DataError, match=r"\.parquet: ids_path applies to \.npy"):
        read_item_features(_parquet(tmp_path), ids_path=ids_path)


def test_parquet_errors_name_the_file_and_column(tmp_path):
    cases = [
        ({"id": [1, 2], "x": [1.0, 2.0]}, {}, r"id column 'item' is not \(exactly once\) in the file's"),
        ({"item": [1, 2]}, {}, r"no feature columns: the file has only the id column 'item'"),
        ({"item": [1, 2], "x": [1.0, 2.0]}, {"columns": ["y"]}, r"feature column 'y' is not"),
        ({"item": [1, 2], "x": [1.0, 2.0]}, {"columns": ["item"]}, "cannot also be a feature column"),
        ({"item": [1, 2], "title": ["a", "b"]}, {}, r"feature column 'title' has type string; expected"),
        ({"item": [1, 2], "x": [1.0, None]}, {}, r"feature column 'x' is missing \(null\) in row 2"),
        ({"item": [1, None], "x": [1.0, 2.0]}, {}, r"id column 'item' is missing \(null\) in row 2"),
        ({"item": [1, 2], "x": [1.0, float("nan")]}, {}, r"value nan \(row 2, item id 2, column 'x'\)"),
        ({"item": [1.5, 2.0], "x": [1.0, 2.0]}, {}, r"id column 'item' has a non-integer id 1.5 in row 1"),
    ]
    for n, (columns, options, message) in enumerate(cases):
        path = _parquet(tmp_path, columns, f"t{n}.parquet")
        with pytest.raises(DataError, match=rf"t{n}\.parquet: .*{message}"):
            read_item_features(path, **options)
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"item": pa.array([], pa.int64()), "x": pa.array([], pa.float64())}), empty)
    with pytest.raises(DataError, match=r"empty\.parquet: file has no data rows"):
        read_item_features(empty)
    (tmp_path / "junk.parquet").write_bytes(b"junk")
    with pytest.raises(DataError, match=r"junk\.parquet: cannot read the Parquet file"):
        read_item_features(tmp_path / "junk.parquet")
