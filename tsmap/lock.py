"""One run per output: a lock file beside the output, held for the whole run.

``<out>.lock`` holds the pid, host and start time of the run that writes ``<out>`` and carries an
exclusive ``flock`` for as long as that process lives. A second run on the same output stops at once
with a one-line message naming the holder. A lock left by a run that died (``kill -9``, a crash) holds
no ``flock`` any more, so the next run takes it over; where the file system has no ``flock``, a lock
whose pid no longer runs on this host counts as stale.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import socket

from .errors import TsmapError
from .outputs import OutputPaths


class OutputLocked(TsmapError):
    """Another run is writing the same output."""


class OutputLock:
    """``with OutputLock(out):`` — hold ``<out>.lock`` for the duration, or raise :class:`OutputLocked`."""

    def __init__(self, out: str) -> None:
        self.out = os.fspath(out)
        self.path = OutputPaths(self.out).lock
        self._fd: int | None = None

    def __enter__(self) -> "OutputLock":
        while self._fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if not _flock(fd):
                    raise OutputLocked(self._busy_message(_read(fd)))
                if _same_file(fd, self.path):  # else its last holder removed it meanwhile: lock the new one
                    os.ftruncate(fd, 0)
                    os.write(fd, holder().encode())
                    self._fd = fd
            finally:
                if self._fd != fd:
                    os.close(fd)
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is None:
            return
        try:
            if _same_file(self._fd, self.path):
                os.remove(self.path)
        finally:
            os.close(self._fd)
            self._fd = None

    def _busy_message(self, text: str) -> str:
        who = text.strip() or "a process that has not written its name yet"
        return (f"another tsmap run ({who}) is writing {self.out}; wait for it to finish or stop it, then run this "
                f"command again (if that run is gone for good, delete {self.path})")


def holder() -> str:
    """Who holds a lock taken now: pid, host and start time."""
    return f"pid {os.getpid()} on {socket.gethostname()}, started {dt.datetime.now().astimezone():%Y-%m-%d %H:%M:%S %Z}"


def _flock(fd: int) -> bool:
    """Lock ``fd`` exclusively without waiting; False when someone else holds it."""
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as exc:  # no flock on this file system: judge the holder by its pid
        if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            raise
        return _stale(_read(fd))


def _stale(text: str) -> bool:
    """Whether a lock written by :func:`holder` belongs to no live process on this host (or is empty)."""
    parts = text.split()
    if len(parts) < 4 or parts[0] != "pid" or not parts[1].isdigit():
        return True
    pid, host = int(parts[1]), parts[3].rstrip(",")
    if host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    return False


def _read(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 1000).decode("utf-8", "replace")


def _same_file(fd: int, path: str) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False
