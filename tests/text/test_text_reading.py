"""Item texts: MovieLens-100K's u.item (Latin-1) + u.genre, and item<TAB>text / CSV files; errors name
the file and line."""

import numpy as np
import pytest

from advrec.data.interactions import IdMap
from advrec.data.text import align_texts, read_ml100k_texts, read_run_texts, read_text_file, write_run_texts
from advrec.errors import DataError

GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip


def _flags(*names):
    return "|".join("1" if g in names else "0" for g in GENRES)


def _ml100k(tmp_path, lines, genres=None):
    genre_lines = genres if genres is not None else [f"{g}|{i}" for i, g in enumerate(GENRES)] + ["", ""]
    (tmp_path / "u.genre").write_bytes("\n".join(genre_lines).encode("latin-1"))
    path = tmp_path / "u.item"
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    return path


KIDS = "Children's"
ITEMS = [
    f"1|Toy Story (1995)|01-Jan-1995||http://x|{_flags('Animation', KIDS, 'Comedy')}",
    f"2|GoldenEye (1995)|01-Jan-1995||http://x|{_flags('Action', 'Thriller')}",
    f"3|Café au lait (1994)|01-Jan-1994||http://x|{_flags()}",
]


def test_ml100k_text_is_title_then_flagged_genres_in_u_genre_order(tmp_path):
    texts = read_ml100k_texts(_ml100k(tmp_path, ITEMS))
    assert texts.ids.tolist() == [1, 2, 3]
    assert texts.texts == [
        "Toy Story (1995). Genres: Animation, Children's, Comedy",
        "GoldenEye (1995). Genres: Action, Thriller",
        "Café au lait (1994)",  # Latin-1 decoded; no genre flagged: the title alone
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("4|Short|x", "3 '|'-separated fields; expected 24"),
        (f"x4|Title|d||u|{_flags()}", "movie id 'x4' is not an integer"),
        (f"4| |d||u|{_flags()}", "empty title"),
        (f"4|Title|d||u|{_flags().replace('0', '2', 1)}", "genre flag '2' is not 0 or 1"),
        (f"1|Again|d||u|{_flags()}", "item id 1 has 2 texts \\(also line 1\\)"),
    ],
)
def test_ml100k_errors_name_the_file_and_line(tmp_path, line, message):
    path = _ml100k(tmp_path, [*ITEMS, line])
    with pytest.raises(DataError, match=message) as info:
        read_ml100k_texts(path)
    assert info.value.path == str(path) and info.value.line == 4


def test_ml100k_genre_file_errors(tmp_path):
    path = _ml100k(tmp_path, ITEMS, genres=["unknown|0", "Action|2"])
    with pytest.raises(DataError, match="expected 'name\\|1'") as info:
        read_ml100k_texts(path)
    assert info.value.path == str(tmp_path / "u.genre") and info.value.line == 2
    path = _ml100k(tmp_path, ITEMS, genres=["unknown|0", "Action|1"])
    with pytest.raises(DataError, match="2 genres; expected 19"):
        read_ml100k_texts(path)
    with pytest.raises(DataError, match="file not found"):
        read_ml100k_texts(tmp_path / "absent" / "u.item")


def test_tsv_and_csv_files(tmp_path):
    tsv = tmp_path / "t.tsv"
    tsv.write_bytes(b"item\ttext\r\n10\tA film, with commas\tand a tab\r\nb7\t  padded text  \r\n")
    texts = read_text_file(tsv, header=True)
    assert texts.ids.tolist() == ["10", "b7"]  # one id is not an integer: all ids are strings
    assert texts.texts == ["A film, with commas\tand a tab", "padded text"]
    csv = tmp_path / "t.csv"
    csv.write_text('5,"Quoted, with a comma"\n6,plain\n', encoding="utf-8")
    texts = read_text_file(csv)
    assert texts.ids.tolist() == [5, 6] and texts.ids.dtype == np.int64
    assert texts.texts == ["Quoted, with a comma", "plain"]


@pytest.mark.parametrize(
    ("name", "content", "line", "message"),
    [
        ("t.tsv", b"1\tok\n2 no tab\n", 2, "expected 'item id', a tab, then the text"),
        ("t.tsv", b"1\tok\n2\t   \n", 2, "item '2' has an empty text"),
        ("t.tsv", b"1\tok\n 2\tx\n", 2, "has leading/trailing blanks"),
        ("t.tsv", b"1\tok\n2\tx\n1\ty\n", 3, "item id 1 has 2 texts \\(also line 1\\)"),
        ("t.tsv", b"1\tok\n2\t\xff\n", 2, "not valid UTF-8"),
        ("t.csv", b"1,ok\n2,a,b\n", 2, "expected 'item id', a comma, then the text"),
        ("t.csv", b'1,ok\n2,"open\n', 2, "malformed CSV"),
    ],
)
def test_text_file_errors_name_the_file_and_line(tmp_path, name, content, line, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        read_text_file(path)
    assert info.value.path == str(path) and info.value.line == line


def test_file_level_errors(tmp_path):
    for name, content, message in [
        ("t.json", b"{}", "unsupported item-text file suffix '.json'"),
        ("t.tsv", b"", "file is empty"),
        ("h.tsv", b"item\ttext\n", "no item texts"),
    ]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(DataError, match=message):
            read_text_file(tmp_path / name, header=name == "h.tsv")


def test_run_texts_round_trip_and_align_by_original_id(tmp_path):
    write_run_texts(tmp_path, np.array([3, 1]), ["three\nlines", "one"])
    texts = read_run_texts(tmp_path)
    assert texts.texts == ["three lines", "one"]  # whitespace runs collapse: one line per item
    item_map, _ = IdMap.encode(np.array([1, 2, 3]))
    assert align_texts(texts, item_map.raw) == ["one", None, "three lines"]
