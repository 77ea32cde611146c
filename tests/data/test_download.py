"""advrec.data.download without network: file:// URLs to zips made here, checksums, zip-slip refusal."""

from __future__ import annotations

import contextlib
import hashlib
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from advrec.data.download import DATASETS, fetch, safe_extract
from advrec.errors import DataError


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def source(tmp_path) -> Path:
    """A small 'remote' archive, outside the cache folder."""
    (tmp_path / "remote").mkdir()
    return make_zip(tmp_path / "remote" / "toy.zip", {"toy/u.data": b"1\t2\t3\t4\n", "toy/README": b"hi"})


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir() if p.name.startswith("."))


def test_registry_has_movielens_with_pinned_checksums():
    assert DATASETS["ml-100k"].url == "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
    assert DATASETS["ml-1m"].url == "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
    for info in DATASETS.values():
        assert len(info.sha256) == 64 and set(info.sha256) <= set("0123456789abcdef")
    with pytest.raises(TypeError):
        DATASETS["x"] = DATASETS["ml-1m"]  # the registry is read-only


def test_fetch_downloads_verifies_and_extracts(tmp_path, source):
    cache = tmp_path / "cache"
    folder = fetch("toy", cache, url=source.as_uri(), sha256=sha256(source))
    assert folder == cache / "toy"
    assert (folder / "toy" / "u.data").read_bytes() == b"1\t2\t3\t4\n"
    assert sha256(cache / "toy.zip") == sha256(source)
    assert leftovers(cache) == []


def test_fetch_reuses_what_is_already_there(tmp_path, source):
    cache = tmp_path / "cache"
    digest = sha256(source)
    fetch("toy", cache, url=source.as_uri(), sha256=digest)
    source.unlink()  # the "network" is gone: both calls below must work from the cache
    assert (fetch("toy", cache, url=source.as_uri(), sha256=digest) / "toy" / "README").read_bytes() == b"hi"
    (cache / "toy" / ".advrec-extracted").unlink()  # extraction looks unfinished -> redo from the archive
    assert (fetch("toy", cache, url=source.as_uri(), sha256=digest) / "toy" / "README").is_file()


def test_a_corrupt_cached_archive_is_downloaded_again(tmp_path, source):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "toy.zip").write_bytes(b"truncated")
    fetch("toy", cache, url=source.as_uri(), sha256=sha256(source))
    assert sha256(cache / "toy.zip") == sha256(source)


def test_checksum_mismatch_names_both_and_leaves_nothing(tmp_path, source):
    cache = tmp_path / "cache"
    wrong = "0" * 64
    with pytest.raises(DataError) as info:
        fetch("toy", cache, url=source.as_uri(), sha256=wrong)
    message = str(info.value)
    assert "checksum mismatch" in message and f"expected sha256 {wrong}" in message
    assert f"got {sha256(source)}" in message
    assert list(cache.iterdir()) == []


def test_registry_checksum_is_used_by_default(tmp_path, source):
    with pytest.raises(DataError, match=f"expected sha256 {DATASETS['ml-100k'].sha256}"):
        fetch("ml-100k", tmp_path / "cache", url=source.as_uri())


def test_unknown_dataset_and_missing_checksum(tmp_path, source):
    with pytest.raises(DataError, match="unknown dataset 'ml-99'; known: ml-100k, ml-1m"):
        fetch("ml-99", tmp_path)
    with pytest.raises(DataError, match="sha256 is needed"):
        fetch("toy", tmp_path, url=source.as_uri())
    with pytest.raises(DataError, match="plain folder name"):
        fetch("../toy", tmp_path, url=source.as_uri(), sha256="0" * 64)


def test_failed_download_is_a_data_error(tmp_path):
    missing = (tmp_path / "nowhere.zip").as_uri()
    with pytest.raises(DataError, match="download of .* failed"):
        fetch("toy", tmp_path / "cache", url=missing, sha256="0" * 64)
    assert leftovers(tmp_path / "cache") == []


def test_safe_extract_plain_archive(tmp_path):
    archive = make_zip(tmp_path / "ok.zip", {"a/b.txt": b"b", "c.txt": b"c"})
    safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "a" / "b.txt").read_bytes() == b"b"


@pytest.mark.parametrize("evil", ["../evil", "a/../../evil", "/tmp/evil-abs", "C:/evil", "..\\evil"])
def test_safe_extract_refuses_escaping_members(tmp_path, evil):
    archive = make_zip(tmp_path / "evil.zip", {"fine.txt": b"ok", evil: b"pwned"})
    with pytest.raises(DataError, match="refusing archive member"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # checked before anything was written
    assert not (tmp_path / "evil").exists()


def test_safe_extract_refuses_symlinks(tmp_path):
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        link = zipfile.ZipInfo("link")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(DataError, match="symbolic link"):
        safe_extract(archive, tmp_path / "out")


def test_fetch_refuses_an_evil_archive_and_leaves_no_folder(tmp_path):
    evil = make_zip(tmp_path / "evil.zip", {"../evil": b"x"})
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="refusing archive member '../evil'"):
        fetch("toy", cache, url=evil.as_uri(), sha256=sha256(evil))
    assert not (cache / "toy").exists() and not (tmp_path / "evil").exists()
    assert leftovers(cache) == []


def test_safe_extract_not_a_zip(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"this is not a zip")
    with pytest.raises(DataError, match="not a readable zip archive"):
        safe_extract(bad, tmp_path / "out")


@settings(max_examples=80, deadline=None)
@given(flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), min_size=1, max_size=4))
def test_corrupted_archives_only_raise_data_error(tmp_path_factory, flips):
    workdir = tmp_path_factory.mktemp("corrupt")
    archive = make_zip(workdir / "ok.zip", {"a/b.txt": b"hello " * 50, "c.txt": b"c"})
    data = bytearray(archive.read_bytes())
    for pos, xor in flips:
        data[pos % len(data)] ^= xor
    archive.write_bytes(bytes(data))
    with contextlib.suppress(DataError):  # extracting what survived is fine too
        safe_extract(archive, workdir / "out")
