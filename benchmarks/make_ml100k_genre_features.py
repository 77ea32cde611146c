"""Item features for MovieLens-100K: the 19 genre flags of ``u.item``, keyed by movie id.

Not a test: ``python benchmarks/make_ml100k_genre_features.py /tmp/ml100k-genres``. Writes, into the
folder given (outside the repository: MovieLens may not be redistributed):

- ``genres.npy``: float32 [1682, 19], row r the flags of the movie on line r + 1 of ``u.item``;
- ``genres.ids.txt``: the movie id of each row, one per line (the ids file that goes with the .npy);
- ``genres.parquet``: the same as a table, an ``item`` column and one column per genre (names from
  ``u.genre``).

Either layout is an advrec ``data.item_features`` (see ``examples/adversarial/ml100k_amr_genres.yaml``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
N_GENRES = 19


def read_genres(folder: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(movie ids, [n, 19] 0/1 flags, genre names) from ``u.item`` (Latin-1, ``|``-separated)."""
    names = [
        line.split("|")[0]
        for line in (folder / "u.genre").read_text(encoding="latin-1").splitlines()
        if line.strip()
    ]
    if len(names) != N_GENRES:
        raise SystemExit(f"{folder / 'u.genre'}: expected {N_GENRES} genres, found {len(names)}")
    ids, flags = [], []
    for lineno, line in enumerate((folder / "u.item").read_text(encoding="latin-1").splitlines(), start=1):
        fields = line.split("|")
        if len(fields) != 5 + N_GENRES:
            where = f"{folder / 'u.item'}:{lineno}"
            raise SystemExit(f"{where}: expected {5 + N_GENRES} fields, found {len(fields)}")
        ids.append(int(fields[0]))
        flags.append([int(x) for x in fields[5:]])
    return np.asarray(ids, dtype=np.int64), np.asarray(flags, dtype=np.float32), names


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", help="output folder (created; keep it outside the repository)")
    parser.add_argument("--data-root", default="/work/shared/data", help="folder holding ml-100k/")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    if out == REPO or REPO in out.parents:
        raise SystemExit(f"{out} is inside the repository; MovieLens data must not be committed")
    ids, flags, names = read_genres(Path(args.data_root) / "ml-100k")
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "genres.npy", flags)
    (out / "genres.ids.txt").write_text("".join(f"{i}\n" for i in ids.tolist()), encoding="utf-8")
    table = {"item": ids, **{name: flags[:, j] for j, name in enumerate(names)}}
    pq.write_table(pa.table(table), out / "genres.parquet")
    per_movie = flags.sum(1)
    print(
        f"{len(ids)} movies x {flags.shape[1]} genres -> {out}/genres.npy (+ genres.ids.txt), "
        f"genres.parquet; genres per movie: min {per_movie.min():.0f}, mean {per_movie.mean():.2f}, "
        f"max {per_movie.max():.0f}"
    )


if __name__ == "__main__":
    main()
