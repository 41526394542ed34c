"""Disk space: what a run will write, whether it fits, and a full disk as one line instead of a traceback.

The estimate is an upper bound from sizes alone (no compression): the embedding store, the per-tile
map parts still to write, and the delivery (every COG with overviews, staged before they appear, plus
GDAL's scratch copy). ``--dry-run`` prints it. A run checks it against the free space before any work; a disk
that fills up anyway (ENOSPC, a quota, ``ulimit -f``) stops the run with :class:`DiskFull`, keeping
every finished tile for the same command to resume.
"""

from __future__ import annotations

import errno
import os
import re
import shutil

import numpy as np

from .errors import DataError

#: errno values that mean "the disk (or the quota, or the file size limit) is full".
FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
#: The same, as GDAL words it (its errors do not carry errno).
FULL_TEXT = re.compile(
    r"No space left on device|Disk quota exceeded|File too large|Free disk space available", re.IGNORECASE
)
#: Overviews add at most a third to a COG (each level is a quarter of the one above).
OVERVIEWS = 4 / 3


class DiskFull(DataError):
    """The output folder ran out of space; the work done so far is kept."""


def run_bytes(*, pixels: int, todo_pixels: int, layers: list[str], embedding_bytes_per_px: int = 0) -> int:
    """Upper bound of the bytes a run still writes: the map layers (dtypes ``layers``) and embeddings of the
    ``todo_pixels`` still to compute, then the COGs of all ``pixels`` with overviews, staged, plus GDAL's
    scratch copy."""
    per_px = sum(np.dtype(d).itemsize for d in layers)
    return int(todo_pixels * (per_px + embedding_bytes_per_px) + pixels * per_px * OVERVIEWS * 2)


def embedding_bytes(dim: int, encoding: str) -> int:
    """Bytes per pixel of an embedding store: the vector, its scale (int8) and the valid-period count."""
    return dim * (2 if encoding == "float16" else 1) + (4 if encoding == "int8" else 0) + 1


def check_free_space(folder: str, needed: int) -> None:
    """Refuse to start when ``folder`` has less free space than ``needed`` bytes."""
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise DiskFull(
            f"not enough free space in {folder}: the run needs up to {human(needed)} there (dry-run estimate) "
            f"and {human(free)} are free; free some space or choose another --out"
        )


def is_disk_full(exc: BaseException) -> bool:
    """True when ``exc`` (or anything in its chain) says the disk, the quota or the file size limit is full."""
    return any(isinstance(e, OSError) and e.errno in FULL or FULL_TEXT.search(str(e)) for e in _chain(exc))


def disk_full(folder: str, needed: int, exc: BaseException, kept: str) -> DiskFull:
    """The one-line error for a write that failed because ``folder`` is full; ``kept`` says what stays."""
    limit = any(isinstance(e, OSError) and e.errno == errno.EFBIG or "File too large" in str(e) for e in _chain(exc))
    what = "a file reached the size limit of this process (ulimit -f)" if limit else "the disk is full"
    free = shutil.disk_usage(folder).free if os.path.isdir(folder) else 0
    return DiskFull(f"{what} while writing in {folder} ({human(free)} free; the run needs up to {human(needed)}); "
                    f"{kept}")


def human(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def _chain(exc):
    seen = 0
    while exc is not None and seen < 20:
        yield exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
