"""One writer per folder: an exclusive lock on a run (or study, or attack) folder while a process
writes it.

The lock is ``flock`` on ``<folder>/.advrec.lock``: the kernel releases it when its process ends,
however it ends, so a killed process never blocks the next one. The file holds the holder's pid while
it is held and is emptied on a clean release, so a pid found in a free lock file names a process that
died holding it: the next holder takes the lock over and says so (and, holding it, may clear that
process's leftovers, e.g. its temporary files).
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from advrec.errors import FolderBusy, StorageError, warn

LOCK_FILE = ".advrec.lock"


@contextmanager
def folder_lock(folder: str | Path, flag: str = "--out") -> Iterator[int | None]:
    """Hold ``folder``'s lock for the block (creating the folder); yields the pid of a dead previous
    holder whose lock was taken over, else None. Another live holder: :class:`FolderBusy` naming its
    pid (``flag`` is the option the user can change)."""
    folder = Path(folder)
    path = folder / LOCK_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StorageError(f"{path}: cannot create the folder's lock file: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StorageError(f"{path}: cannot lock: {exc.strerror or exc}") from None
            holder = _read_pid(fd)
            who = f"process {holder}" if holder is not None else "another process"
            raise FolderBusy(
                f"{folder} is in use by {who} (lock {path}); wait for it to finish or choose another {flag}"
            ) from None
        stale = _read_pid(fd)
        if stale is not None:
            warn(f"{folder}: took over the lock of process {stale}, which ended without releasing it")
        _write_pid(fd, os.getpid())
        try:
            yield stale
        finally:
            _write_pid(fd, None)  # emptied: a clean release leaves no pid to call stale
    finally:
        os.close(fd)  # closing releases the flock


def is_locked(folder: str | Path) -> bool:
    """Whether a process holds ``folder``'s lock now (a probe: takes and releases it if free)."""
    path = Path(folder) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 64, 0).decode("ascii", errors="replace").strip()
    return int(text) if text.isdigit() else None


def _write_pid(fd: int, pid: int | None) -> None:
    os.ftruncate(fd, 0)
    if pid is not None:
        os.pwrite(fd, f"{pid}\n".encode(), 0)
