"""Download public datasets into a cache folder, verified by sha256 and extracted safely.

Why this is careful: a half-written or tampered archive must never be mistaken for the dataset (so
the download goes to a temporary file, is checked against a pinned sha256 and only then renamed into
place), and an archive must never write outside its folder (so :func:`safe_extract` refuses absolute
paths, ``..`` and symlinks before extracting anything).

Checksums: the sha256 values below are those of the GroupLens archives as pinned by TensorFlow
Datasets (``tensorflow_datasets/url_checksums/movielens.txt``: ml-100k.zip 4,924,029 bytes, ml-1m.zip
5,917,549 bytes) and agree with several independent projects that pin the same files. GroupLens
itself publishes only MD5 sums (ml-100k ``0e33842e24a9c977be4e0107933c0723``, ml-1m
``c4d9eecfca2ab87c1945afe126590906``). To use a mirror or another archive pass ``url=`` and
``sha256=`` to :func:`fetch`; a download is never accepted without a checksum to compare against.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import BinaryIO

from advrec.errors import DataError
from advrec.utils.files import sha256_of

_CHUNK = 1 << 20
MAX_EXTRACTED_BYTES = 4 << 30  # all members together (ML-25M's ratings are 0.7 GB)
MAX_COMPRESSION_RATIO = 100.0  # per member above _RATIO_FLOOR bytes (deflate reaches ~1000 on zeros)
_RATIO_FLOOR = 1 << 20
_TIMEOUT_S = 60
_DONE_MARKER = ".advrec-extracted"
# What a broken archive raises; RuntimeError is an encrypted member, NotImplementedError a compression
# method zipfile lacks.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    zlib.error,
    RuntimeError,
    NotImplementedError,
)


@dataclass(frozen=True)
class DatasetInfo:
    """Where a dataset lives, its archive's sha256, and where its ratings are inside the archive."""

    url: str
    sha256: str
    ratings: str  # path of the interactions file, relative to the extraction folder
    fmt: str  # the advrec.data.io format of that file


DATASETS: Mapping[str, DatasetInfo] = MappingProxyType(
    {
        "ml-100k": DatasetInfo(
            url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
            sha256="50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
            ratings="ml-100k/u.data",
            fmt="movielens-100k",
        ),
        "ml-1m": DatasetInfo(
            url="https://files.grouplens.org/datasets/movielens/ml-1m.zip",
            sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
            ratings="ml-1m/ratings.dat",
            fmt="movielens-dat",
        ),
    }
)


def fetch(name: str, cache_dir: str | Path, *, url: str | None = None, sha256: str | None = None) -> Path:
    """Download (or reuse) dataset ``name`` into ``cache_dir`` and return the folder it is extracted to.

    ``cache_dir/<archive>.zip`` is the verified archive and ``cache_dir/<name>/`` its contents (for a
    registered dataset, ``fetch(...) / DATASETS[name].ratings`` is the interactions file). A verified
    archive and a completed extraction are reused, so calling this twice downloads once. ``url`` and
    ``sha256`` override the registry (a mirror, a ``file://`` URL in tests); an unknown ``name``
    needs both.
    """
    url, expected = _resolve(name, url, sha256)
    cache = Path(cache_dir)
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the cache folder: {exc.strerror or exc}", path=cache) from None
    target = cache / name
    marker = target / _DONE_MARKER
    if marker.is_file() and marker.read_text().strip() == expected:
        return target  # extracted earlier from an archive with this very checksum
    archive = cache / _archive_name(url, name)
    if not (archive.is_file() and sha256_of(archive) == expected):
        _download(url, archive, expected)
    _extract_atomically(archive, target, expected)
    return target


def safe_extract(
    zip_path: str | Path,
    target_dir: str | Path,
    *,
    max_bytes: int = MAX_EXTRACTED_BYTES,
    max_ratio: float = MAX_COMPRESSION_RATIO,
) -> None:
    """Extract ``zip_path`` into ``target_dir``, refusing the whole archive if any member would land
    outside ``target_dir`` (absolute path, drive letter, ``..``) or is a symlink ("zip slip"), or if it
    would expand past ``max_bytes`` in all or a member past ``max_ratio`` times its compressed size
    (a "zip bomb": 300 MB from 306 KB; real rating files compress 3-10 times).

    Names and declared sizes are checked before anything is written (such a refusal leaves nothing
    behind); the sizes are checked again while extracting, since declared sizes can lie (``fetch``
    extracts into a staging folder that is removed on any refusal).
    """
    target = Path(target_dir).resolve()
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = archive.infolist()
            for member in members:
                _check_member(member, target, zip_path)
                _check_ratio(member, max_ratio, zip_path)
            declared = sum(m.file_size for m in members)
            if declared > max_bytes:
                raise DataError(
                    f"refusing archive: it would expand to {declared:,} bytes, more than the cap of "
                    f"{max_bytes:,}",
                    path=zip_path,
                )
            target.mkdir(parents=True, exist_ok=True)
            budget = [max_bytes]
            for member in members:
                _extract_member(archive, member, target, budget, zip_path)
    except _ZIP_ERRORS as exc:
        raise DataError(f"not a readable zip archive: {exc}", path=zip_path) from None
    except OSError as exc:
        raise DataError(f"cannot extract archive: {exc}", path=zip_path) from None


def _resolve(name: str, url: str | None, sha256: str | None) -> tuple[str, str]:
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise DataError(f"dataset name {name!r} must be a plain folder name")
    info = DATASETS.get(name)
    if url is None:
        if info is None:
            raise DataError(
                f"unknown dataset {name!r}; known: {', '.join(DATASETS)} (or pass url= and sha256=)"
            )
        url = info.url
    expected = (sha256 or (info.sha256 if info else "")).lower()
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise DataError(f"a 64-hex-digit sha256 is needed to verify {url}, got {expected or 'none'!r}")
    return url, expected


def _archive_name(url: str, name: str) -> str:
    base = PurePosixPath(urllib.parse.urlsplit(url).path).name
    return base if base.endswith(".zip") else f"{name}.zip"


def _download(url: str, archive: Path, expected: str) -> None:
    """Stream ``url`` into a temp file next to ``archive``, check its sha256, then rename it into place."""
    fd, name = tempfile.mkstemp(dir=archive.parent, prefix=f".{archive.name}.", suffix=".part")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as sink:
            got = _stream(url, sink)
        if got != expected:
            raise DataError(f"checksum mismatch for {url}: expected sha256 {expected}, got {got}")
        os.replace(tmp, archive)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DataError(f"download of {url} failed: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)  # a no-op once renamed; removes a partial or rejected download


def _stream(url: str, sink: BinaryIO) -> str:
    """Copy ``url`` into ``sink`` chunk by chunk (archives can be large) and return the sha256 hex digest."""
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response:
        for chunk in iter(lambda: response.read(_CHUNK), b""):
            digest.update(chunk)
            sink.write(chunk)
    return digest.hexdigest()


def _extract_atomically(archive: Path, target: Path, expected: str) -> None:
    """Extract into a temp folder and rename it to ``target``, so a crash never leaves half a dataset."""
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part"))
    try:
        safe_extract(archive, staging)
        (staging / _DONE_MARKER).write_text(expected + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _check_member(member: zipfile.ZipInfo, target: Path, zip_path: str | Path) -> None:
    name = member.filename
    parts = PurePosixPath(name.replace("\\", "/")).parts
    unsafe = (
        name.startswith(("/", "\\"))
        or (len(name) > 1 and name[1] == ":")  # a Windows drive letter, C:...
        or ".." in parts
        or not (target / name).resolve().is_relative_to(target)
    )
    if unsafe:
        raise DataError(
            f"refusing archive member {name!r}: it would be written outside {target}", path=zip_path
        )
    if stat.S_ISLNK(member.external_attr >> 16):
        raise DataError(f"refusing archive member {name!r}: it is a symbolic link", path=zip_path)


def _check_ratio(member: zipfile.ZipInfo, max_ratio: float, zip_path: str | Path) -> None:
    if member.file_size > _RATIO_FLOOR and member.file_size > max_ratio * max(member.compress_size, 1):
        raise DataError(
            f"refusing archive member {member.filename!r}: {member.compress_size:,} bytes would expand to "
            f"{member.file_size:,} ({member.file_size / max(member.compress_size, 1):,.0f} times; the cap is "
            f"{max_ratio:g}), which is a zip bomb's ratio, not a data file's",
            path=zip_path,
        )


def _extract_member(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, budget: list[int], zip_path: str | Path
) -> None:
    """Copy one member, counting the bytes really written against its declared size and the budget."""
    destination = target / member.filename
    if member.is_dir():
        destination.mkdir(parents=True, exist_ok=True)
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with archive.open(member) as source, destination.open("wb") as sink:
        for chunk in iter(lambda: source.read(_CHUNK), b""):
            written += len(chunk)
            budget[0] -= len(chunk)
            if written > member.file_size or budget[0] < 0:
                raise DataError(
                    f"refusing archive member {member.filename!r}: it expands past its declared size or the "
                    "archive's cap",
                    path=zip_path,
                )
            sink.write(chunk)
