"""Durable atomic writes, write failures as one error, stray temporaries, and the folder lock."""

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from advrec.errors import AdvrecWarning, FolderBusy, StorageError
from advrec.utils.files import atomic_write_json, atomic_write_text, remove_stray_temps, stray_temps
from advrec.utils.locking import LOCK_FILE, folder_lock, is_locked


def test_atomic_write_fsyncs_the_file_and_its_folder(tmp_path, monkeypatch):
    """Before: the bytes were renamed into place unflushed (a power cut could leave an empty file)."""
    synced = []
    real = os.fsync

    def spy(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    atomic_write_json(tmp_path / "results.json", {"a": 1})
    assert len(synced) == 2
    assert Path(synced[0]).name.startswith(".results.json.")  # the temporary, before the rename
    assert Path(synced[1]) == tmp_path  # the folder, after it


def test_a_full_disk_is_one_storage_error_naming_the_file(tmp_path, monkeypatch):
    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    atomic_write_text(tmp_path / "r.json", "old")
    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(StorageError, match=r"r\.json: cannot write: No space left on device"):
        atomic_write_text(tmp_path / "r.json", "new")
    monkeypatch.undo()
    assert (tmp_path / "r.json").read_text() == "old"
    assert stray_temps(tmp_path) == []


def test_writing_onto_a_folder_is_a_storage_error(tmp_path):
    """Before: ``evaluate --export-topk DIR`` ended in an IsADirectoryError traceback."""
    with pytest.raises(StorageError, match="is a folder; expected a file name"):
        atomic_write_text(tmp_path, "x")


def test_stray_temporaries_are_found_and_removed(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    stray = [tmp_path / "checkpoints" / ".last.pt.ab12_x9z.tmp", tmp_path / ".results.json.q1w2e3r4.tmp"]
    for path in stray:
        path.write_text("half")
    kept = [tmp_path / "notes.tmp", tmp_path / ".hidden.tmp", tmp_path / "results.json"]
    for path in kept:
        path.write_text("mine")
    assert stray_temps(tmp_path) == sorted(stray)
    assert remove_stray_temps(tmp_path) == sorted(stray)
    assert all(not p.exists() for p in stray) and all(p.exists() for p in kept)


def test_lock_is_exclusive_and_names_the_holder(tmp_path):
    with folder_lock(tmp_path / "run") as stale:
        assert stale is None and is_locked(tmp_path / "run")
        assert (tmp_path / "run" / LOCK_FILE).read_text() == f"{os.getpid()}\n"
        busy = rf"run is in use by process {os.getpid()} .*another --out"
        with pytest.raises(FolderBusy, match=busy), folder_lock(tmp_path / "run"):
            pass
    assert not is_locked(tmp_path / "run")
    assert (tmp_path / "run" / LOCK_FILE).read_text() == ""  # a clean release leaves no pid


HOLD = textwrap.dedent(
    """
    import os, sys, time
    from advrec.utils.locking import folder_lock
    with folder_lock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(60)
    """
)


def test_a_live_holder_in_another_process_blocks_and_a_dead_one_is_taken_over(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderBusy, match=f"in use by process {holder.pid}"), folder_lock(tmp_path):
            pass
    finally:
        holder.kill()  # SIGKILL: the pid stays in the file, the kernel frees the lock
        holder.wait()
    took_over = f"took over the lock of process {holder.pid}"
    with pytest.warns(AdvrecWarning, match=took_over), folder_lock(tmp_path) as stale:
        assert stale == holder.pid
