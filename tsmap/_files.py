"""Files written whole or not at all, and file hashes: the one home of both.

Every output tsmap writes (COG sidecars, STAC items, ledgers, checkpoints, caches, stores) goes through
:func:`atomic_path`: it is built under a temporary name beside its destination and moved onto it
only when complete, so a crash, a full disk or Ctrl-C never leaves a half-written file at the path.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = "") -> Iterator[str]:
    """A temporary path beside ``path`` to write a file or folder at; moved onto ``path`` (replacing it) when
    the block ends without error, removed otherwise. ``suffix`` ends the temporary name (writers that pick
    the format from the extension)."""
    path = os.fspath(path)
    tmp = f"{path}.{uuid.uuid4().hex[:8]}.tmp{suffix}"
    try:
        yield tmp
        if os.path.isdir(tmp) and os.path.isdir(path):
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.lexists(tmp):
            os.remove(tmp)


def write_text(path: str | os.PathLike, text: str) -> str:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    return os.fspath(path)


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, hex."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
