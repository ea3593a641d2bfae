"""One writer per run directory: `run` and `resume` hold RUN_DIR/.lock for as long as they
write, so a second `run --out` onto the same directory, or a `resume` of a run that is still
going (which would delete its live temporary generation), stops at once with one line
naming the process that holds it, and touches nothing.

The lock is fcntl.flock on the file (the kernel drops it when the holder dies, even by
SIGKILL, so a crash never leaves a run locked for good); the holder's pid is written inside
only so the message can name it. The file is removed on release. Because another process
may have opened the old file just before it was removed, a lock is only taken as held
after checking that the path still names the locked file.
"""
from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from loopengine.errors import ArchiveError

LOCK_NAME = ".lock"


def _holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        pid = ""
    return f"process {pid}" if pid.isdigit() else "another process"


def _acquire(path: Path, command: str) -> int:
    for _ in range(10):  # only repeats when the file was replaced under us (see module doc)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise ArchiveError(f"cannot lock {path}: {exc}") from None
            raise ArchiveError(f"{path.parent} is in use by {_holder(path)} (lock {path}); "
                               f"{command} refused: wait for it to finish, or stop it first") from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)
    raise ArchiveError(f"cannot lock {path}: it keeps being replaced")


@contextmanager
def run_lock(run_dir: Path, command: str) -> Iterator[None]:
    """Hold the run directory's lock (creating the directory) for the `with` block."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # e.g. no permission, a read-only disk (a file in the way is checked earlier)
        raise ArchiveError(f"cannot create the run directory {run_dir}: {exc.strerror}") from None
    path = run_dir / LOCK_NAME
    fd = _acquire(path, command)
    try:
        yield
    finally:
        # while still holding it: a waiter then sees a replaced file and retries
        path.unlink(missing_ok=True)
        os.close(fd)
