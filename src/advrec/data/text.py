"""Item texts: one description per item, keyed by the ORIGINAL item id, for a sentence encoder to embed.

Two sources:

* ``ml100k``: MovieLens-100K's ``u.item`` (Latin-1, ``|``-separated: id, title, release date, video
  release date, IMDb URL, then 19 genre flags 0/1 whose names are the lines of ``u.genre`` beside it).
  The text of a movie is ``"<title>. Genres: <g1>, <g2>"`` (the genres flagged, in ``u.genre`` order).
* ``file``: UTF-8 lines ``item<TAB>text`` (``.tsv``/``.txt``) or ``item,text`` (``.csv``, with CSV
  quoting, so a text may hold commas), an optional header line (``header: true``).

Ids follow the interaction readers' rule (integers when every id is an integer, strings otherwise).
Every problem is a :class:`~advrec.errors.DataError` naming the file and line and what was expected. A run
keeps the texts of its items in its split folder (``item_texts.tsv``), so the text attack probe re-embeds
exactly the texts the model was trained on.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from advrec.data.io import normalise_text, read_bytes
from advrec.errors import DataError

N_GENRES = 19
_ITEM_FIELDS = 5 + N_GENRES
_INT_RE = re.compile(r"-?[0-9]+")
TEXTS_FILE = "item_texts.tsv"


@dataclass(frozen=True)
class ItemTexts:
    """``texts[r]`` describes the item with original id ``ids[r]``."""

    ids: np.ndarray  # int64 or str
    texts: list[str]
    source: str


def read_ml100k_texts(item_path: str | Path, genre_path: str | Path | None = None) -> ItemTexts:
    """Title + genres of every movie of ``u.item``; ``u.genre`` defaults to the file beside it."""
    item_path = Path(item_path)
    genre_path = item_path.with_name("u.genre") if genre_path is None else Path(genre_path)
    genres = _read_genres(genre_path)
    ids, texts = [], []
    for lineno, line in enumerate(_latin1_lines(item_path), start=1):
        if line == "":
            raise DataError("empty line; expected a movie record", path=item_path, line=lineno)
        fields = line.split("|")
        if len(fields) != _ITEM_FIELDS:
            raise DataError(
                f"{len(fields)} '|'-separated fields; expected {_ITEM_FIELDS} (id, title, release date, "
                f"video release date, IMDb URL, {N_GENRES} genre flags)",
                path=item_path,
                line=lineno,
            )
        if not _INT_RE.fullmatch(fields[0]):
            raise DataError(f"movie id {fields[0]!r} is not an integer", path=item_path, line=lineno)
        title = fields[1].strip()
        if not title:
            raise DataError("empty title", path=item_path, line=lineno)
        flags = fields[5:]
        bad = [f for f in flags if f not in ("0", "1")]
        if bad:
            raise DataError(f"genre flag {bad[0]!r} is not 0 or 1", path=item_path, line=lineno)
        named = [name for name, flag in zip(genres, flags) if flag == "1"]
        ids.append(int(fields[0]))
        texts.append(f"{title}. Genres: {', '.join(named)}" if named else title)
    if not ids:
        raise DataError("no movies (the file is empty)", path=item_path)
    out = ItemTexts(np.asarray(ids, dtype=np.int64), texts, str(item_path))
    _check_unique(out, lambda r: r + 1)
    return out


def _read_genres(path: Path) -> list[str]:
    names: list[str] = []
    for lineno, line in enumerate(_latin1_lines(path), start=1):
        if not line.strip():
            continue  # u.genre ends with blank lines
        name, sep, index = line.partition("|")
        if not sep or not name or index != str(len(names)):
            raise DataError(
                f"expected 'name|{len(names)}' (genres in flag order), got {line!r}", path=path, line=lineno
            )
        names.append(name)
    if len(names) != N_GENRES:
        raise DataError(f"{len(names)} genres; expected {N_GENRES}", path=path)
    return names


def _latin1_lines(path: Path) -> list[str]:
    lines = normalise_text(read_bytes(path)).decode("latin-1").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def read_text_file(path: str | Path, header: bool = False) -> ItemTexts:
    """``item<TAB>text`` lines (``.tsv``/``.txt``) or ``item,text`` rows (``.csv``); UTF-8."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".tsv", ".txt", ".csv"):
        raise DataError(
            f"unsupported item-text file suffix {path.suffix!r}; expected .tsv, .txt or .csv", path=path
        )
    data = normalise_text(read_bytes(path))
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError("bytes are not valid UTF-8 text", path=path, line=line) from None
    if suffix == ".csv":
        rows = _csv_rows(decoded, path)
    else:
        lines = decoded.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        rows = [(i + 1, line.split("\t", 1) if "\t" in line else [line]) for i, line in enumerate(lines)]
    if header:
        rows = rows[1:]
    sep = "a comma" if suffix == ".csv" else "a tab"
    raw_ids, texts, lines_of = [], [], []
    for lineno, fields in rows:
        if len(fields) != 2:
            raise DataError(f"expected 'item id', {sep}, then the text", path=path, line=lineno)
        item, text = fields[0], fields[1].strip()
        if item == "" or item != item.strip():
            raise DataError(
                f"item id {item!r} is empty or has leading/trailing blanks", path=path, line=lineno
            )
        if not text:
            raise DataError(f"item {item!r} has an empty text", path=path, line=lineno)
        raw_ids.append(item)
        texts.append(text)
        lines_of.append(lineno)
    if not raw_ids:
        raise DataError("no item texts (the file has no data lines)", path=path)
    ids = _parse_ids(raw_ids)
    out = ItemTexts(ids, texts, str(path))
    _check_unique(out, lambda r: lines_of[r])
    return out


def _csv_rows(text: str, path: Path) -> list[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows = []
    try:
        for fields in reader:
            if fields:
                rows.append((reader.line_num, fields))
            else:
                raise DataError("empty line; expected item,text", path=path, line=reader.line_num)
    except csv.Error as exc:
        raise DataError(f"malformed CSV: {exc}", path=path, line=reader.line_num) from None
    return rows


def _parse_ids(values: list[str]) -> np.ndarray:
    if all(_INT_RE.fullmatch(v) for v in values):
        ints = [int(v) for v in values]
        if all(-(2**63) <= v < 2**63 for v in ints):
            return np.asarray(ints, dtype=np.int64)
    return np.asarray(values, dtype=str)


def _check_unique(texts: ItemTexts, line_of) -> None:
    _, first, counts = np.unique(texts.ids, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = texts.ids[first[counts > 1][0]]
        rows = np.flatnonzero(texts.ids == dup)
        raise DataError(
            f"item id {dup.item()!r} has {len(rows)} texts (also line {line_of(int(rows[0]))}); "
            "expected one text per item",
            path=texts.source,
            line=line_of(int(rows[1])),
        )


# --------------------------------------------------------------------------------------------------
# the texts a run trained with, kept in its split folder
# --------------------------------------------------------------------------------------------------


def write_run_texts(folder: str | Path, ids: np.ndarray, texts: list[str]) -> None:
    """``item_texts.tsv`` (``item<TAB>text``, atomic): the text of each of the split's items, in order."""
    from advrec.utils.files import atomic_write_text

    lines = [f"{i}\t{_one_line(t)}\n" for i, t in zip(ids.tolist(), texts)]
    atomic_write_text(Path(folder) / TEXTS_FILE, "".join(lines))


def _one_line(text: str) -> str:
    # A text with a newline or tab would break the line format; whitespace carries no meaning here.
    return " ".join(text.split())


def read_run_texts(folder: str | Path) -> ItemTexts:
    return read_text_file(Path(folder) / TEXTS_FILE)


def align_texts(texts: ItemTexts, item_raw_ids: np.ndarray) -> list[str | None]:
    """The text of each item (by dense index) of ``item_raw_ids``; None where the file has none."""
    lookup = {str(i): t for i, t in zip(texts.ids.tolist(), texts.texts)}
    return [lookup.get(str(i)) for i in item_raw_ids.tolist()]
