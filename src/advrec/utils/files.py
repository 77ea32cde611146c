"""Atomic, durable writes: a reader (or a resumed run) never sees a half-written file, and a file
renamed into place survives a power cut (its bytes and the folder entry are flushed first)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from advrec.errors import DataError, StorageError

TEMP_SUFFIX = ".tmp"
# what atomic_write's mkstemp names look like: .<target name>.<8 random characters>.tmp
_STRAY_TEMP = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp_path)`` then rename over ``path`` (same folder, so the rename is atomic).

    The temporary file is fsynced before the rename and the folder after it. An OSError on the way
    (a full disk, no permission, ``path`` a folder) is a :class:`StorageError` naming ``path``.
    """
    path = Path(path)
    if path.is_dir():
        raise StorageError(f"{path}: is a folder; expected a file name to write")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise _storage_error(path, exc) from None
    os.close(fd)
    # mkstemp creates 0600; give the file the mode a plain open() would have (0666 minus the umask).
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)
        write(Path(tmp))
        _fsync(tmp, os.O_RDONLY)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _storage_error(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _fsync(name: str | Path, flags: int) -> None:
    fd = os.open(name, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Flush the folder entry of a rename; some filesystems cannot fsync a folder, which is no error."""
    with contextlib.suppress(OSError):
        _fsync(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))


def _storage_error(path: Path, exc: OSError) -> StorageError:
    return StorageError(f"{path}: cannot write: {exc.strerror or exc}")


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def sha256_of(path: str | Path, chunk: int = 1 << 20) -> str:
    """The sha256 hex digest of a file, read in chunks (data files can be large)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def stray_temps(folder: str | Path) -> list[Path]:
    """Temporary files of ``atomic_write`` left in ``folder`` and below by a killed process."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob(f"*{TEMP_SUFFIX}") if p.is_file() and _STRAY_TEMP.match(p.name))


def remove_stray_temps(folder: str | Path, keep: Callable[[Path], bool] = lambda p: False) -> list[Path]:
    """Remove :func:`stray_temps` (not those ``keep`` names); only safe where no other process writes,
    i.e. under the folder's lock. Returns what was removed."""
    removed = [p for p in stray_temps(folder) if not keep(p)]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def read_json_object(path: str | Path) -> dict[str, Any]:
    """The JSON object in ``path`` ({} if there is no file); a clear error if it is not one."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"existing results file is not readable JSON ({exc})", path=path) from None
    if not isinstance(data, dict):
        raise DataError("existing results file does not hold a JSON object", path=path)
    return data


def read_json_lines(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """The objects of a JSON-lines log (``metrics.jsonl``), each with its line number; [] if there is no
    file. An unterminated last line that does not parse is what a kill leaves while appending: dropped.
    Any other line that is not UTF-8 or not one JSON object is a DataError naming file:line."""
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    out = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise DataError("not UTF-8 text (a damaged log)", path=path, line=number) from None
        except (json.JSONDecodeError, RecursionError):  # RecursionError: nesting past Python's limit
            if number == len(lines):
                break  # the line a kill cut short (no newline yet)
            raise DataError("not a JSON object (a damaged log)", path=path, line=number) from None
        if not isinstance(entry, dict):
            raise DataError(f"expected a JSON object, got {type(entry).__name__}", path=path, line=number)
        out.append((number, entry))
    return out


def update_json_object(path: str | Path, entries: dict[str, Any]) -> dict[str, Any]:
    """Set ``entries`` in the JSON object in ``path`` (other keys kept), written back atomically."""
    data = read_json_object(path)
    data.update(entries)
    atomic_write_json(path, data)
    return data
