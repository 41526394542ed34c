"""Reading imagery over flaky networks: timeouts, retries with backoff, and what counts as a read error.

GDAL retries HTTP 5xx answers itself (``GDAL_HTTP_MAX_RETRY``) and, with ``GDAL_HTTP_TIMEOUT``, a
stalled transfer becomes an error instead of a hang. A body cut short is an error GDAL does not
retry and, worse, can leave a bad block in its ``/vsicurl/`` cache; so every retry after the first
attempt reads with that cache disabled (``CPL_VSIL_CURL_NON_CACHED``).

A tile reads many assets; one that cannot be read costs that asset, not the tile
(:func:`read_leaving_out`): a local file or a missing one is left out at once, a remote one after
retries with backoff, and the tile is read again without it.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from dataclasses import dataclass

from .errors import DataError, InputError, TsmapError

log = logging.getLogger("tsmap")


class ReadFailure(DataError):
    """A tile's input (imagery, or its chunk of a store) could not be read, even after retries (a picklable
    one-line summary)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before a tile is recorded as failed."""

    attempts: int = 4  #: reads of a tile, the first included
    backoff_s: float = 2.0  #: wait before the second attempt; doubles for each further one
    max_backoff_s: float = 60.0
    timeout_s: float = 120.0  #: one HTTP request may take this long (a stall becomes an error)
    http_retries: int = 3  #: GDAL's own retries of HTTP 429/5xx answers, per request

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise InputError(f"read attempts (--retries) must be at least 1, got {self.attempts}")
        if not math.isfinite(self.timeout_s) or self.timeout_s <= 0:
            raise InputError(f"the read timeout (--timeout) must be a positive number of seconds, got {self.timeout_s}")
        if self.backoff_s < 0 or self.http_retries < 0:
            raise InputError(f"backoff_s and http_retries must be >= 0, got {self.backoff_s} and {self.http_retries}")

    def wait(self, attempt: int) -> float:
        """Seconds to sleep after failed attempt number ``attempt`` (1-based)."""
        return min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s)

    def gdal_options(self, attempt: int) -> dict:
        opts = {
            "GDAL_HTTP_TIMEOUT": str(max(1, round(self.timeout_s))),
            "GDAL_HTTP_CONNECTTIMEOUT": str(max(1, round(min(self.timeout_s, 30)))),
            "GDAL_HTTP_MAX_RETRY": str(self.http_retries),
            "GDAL_HTTP_RETRY_DELAY": str(max(0.1, self.backoff_s / 2)),
        }
        if attempt > 1:
            opts["CPL_VSIL_CURL_NON_CACHED"] = "/vsicurl/"
        return opts


def with_retries(read, policy: RetryPolicy, *, what: str):
    """``read()`` under ``policy``: read errors are retried with backoff; others propagate at once."""
    import rasterio

    for attempt in range(1, policy.attempts + 1):
        try:
            with rasterio.Env(**policy.gdal_options(attempt)), GdalIOWatch():
                return read()
        except Exception as exc:
            if not is_read_error(exc):
                raise
            if attempt == policy.attempts or is_permanent(exc):
                raise ReadFailure(
                    f"{what}: {short_error(exc)} (after {attempt} attempt{'s' if attempt > 1 else ''})"
                ) from exc
            pause = policy.wait(attempt)
            log.info(
                "read of %s failed (attempt %d/%d: %s); retrying in %.1f s",
                what,
                attempt,
                policy.attempts,
                short_error(exc),
                pause,
            )
            time.sleep(pause)
    raise AssertionError("unreachable")  # pragma: no cover


def read_leaving_out(read, policy: RetryPolicy, *, what: str, lost) -> tuple[object, dict[str, str]]:
    """``read(skip, attempt)`` under ``policy``, leaving out the assets that cannot be read; returns its
    result and ``{href: error}`` of the assets left out.

    ``skip`` is the frozenset of hrefs to leave out and ``attempt`` counts the reads of the tile, 1 at
    first, one more per retry (not per asset left out). A read error that names its asset (an
    :class:`~tsmap.reader.AssetError`) leaves that asset out at once when it is a local file or
    missing (no retry can mend it), else once the tile's retries are spent; the tile has
    ``policy.attempts - 1`` retries in all, with backoff, so a dead host costs one read per asset,
    not ``attempts``. ``lost(skipped)`` returns a sentence when the tile can no longer be made
    without those assets (e.g. a month lost all its acquisitions); the read then ends with a
    :class:`ReadFailure`, as does a read error that names no asset once the retries are spent.
    """
    import rasterio

    skipped: dict[str, str] = {}
    retries = policy.attempts - 1
    while True:  # ends: every pass reads, leaves out one more asset (of finitely many), or spends a retry
        attempt = policy.attempts - retries
        try:
            with rasterio.Env(**policy.gdal_options(attempt)), GdalIOWatch():
                return read(frozenset(skipped), attempt), skipped
        except Exception as exc:
            if not is_read_error(exc):
                raise
            asset, final = _asset_error(exc), retries == 0 or is_permanent(exc)
            if asset is not None and asset.href not in skipped and final:
                skipped[asset.href] = short_error(asset)
                log.info("%s: leaving out %s (%s)", what, asset.href, skipped[asset.href])
                if problem := lost(skipped):
                    raise ReadFailure(f"{what}: {problem}") from exc
                continue
            if final:
                raise ReadFailure(
                    f"{what}: {short_error(exc)} (after {attempt} attempt{'s' if attempt > 1 else ''})"
                ) from exc
            retries -= 1
            pause = policy.wait(attempt)
            log.info("read of %s failed (attempt %d: %s); retrying in %.1f s", what, attempt, short_error(exc), pause)
            time.sleep(pause)


def _asset_error(exc: BaseException):
    from .reader import AssetError  # reader imports this module

    return next((e for e in _chain(exc) if isinstance(e, AssetError)), None)


class GdalIOWatch:
    """Turn the I/O trouble GDAL only *warns* about into an error.

    A TIFF header cut short makes GDAL warn ("IO error during reading of GeoPixelScale; tag
    ignored") and open the file without its georeferencing — a silent hole or a wrong picture.
    This watches the warnings GDAL logs from the current thread while a tile is read, and raises
    an ``OSError`` (a read error, so it is retried) when one of them reports failed I/O.
    """

    PATTERN = re.compile(r"IO error|Read failed|Cannot read|truncat", re.IGNORECASE)  # not GDAL's own "retrying" notes

    _lock, _depth, _level = threading.Lock(), 0, logging.NOTSET

    def __enter__(self):
        self.thread, self.problems = threading.get_ident(), []
        self.handler = logging.Handler(logging.WARNING)
        self.handler.emit = self._seen
        logger = logging.getLogger("rasterio._env")
        with GdalIOWatch._lock:  # --quiet (root at ERROR) must not hide GDAL's warnings from the watch
            if GdalIOWatch._depth == 0:
                GdalIOWatch._level = logger.level
                if not logger.isEnabledFor(logging.WARNING):
                    logger.setLevel(logging.WARNING)
            GdalIOWatch._depth += 1
        logger.addHandler(self.handler)
        return self

    def _seen(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread and self.PATTERN.search(record.getMessage()):
            self.problems.append(record.getMessage())

    def __exit__(self, exc_type, exc, tb):
        logger = logging.getLogger("rasterio._env")
        logger.removeHandler(self.handler)
        with GdalIOWatch._lock:
            GdalIOWatch._depth -= 1
            if GdalIOWatch._depth == 0:
                logger.setLevel(GdalIOWatch._level)
        if self.problems and (exc is None or not is_read_error(exc)):
            raise OSError(f"GDAL reported failed I/O: {self.problems[0]}") from exc
        return False


def is_read_error(exc: BaseException) -> bool:
    """True for I/O failures (anywhere in the exception chain), which are worth retrying."""
    from rasterio.errors import RasterioError

    return any(isinstance(e, (RasterioError, OSError)) for e in _chain(exc))


#: Failures no retry can mend: the file is not there.
PERMANENT = re.compile(r"No such file or directory|HTTP response code: 404|\b404\b.*not found", re.IGNORECASE)


def is_permanent(exc: BaseException) -> bool:
    """True when a read error says the file does not exist, or concerns a local file (no point in retrying)."""
    asset = _asset_error(exc)
    return (asset is not None and is_local(asset.href)) or any(PERMANENT.search(str(e)) for e in _chain(exc))


def is_local(href: str) -> bool:
    """True for a path or ``file://`` URL (a local file: a retry reads the same bytes)."""
    scheme = href.split("://", 1)[0].lower() if "://" in href else ""
    return scheme in ("", "file")


def short_error(exc: BaseException) -> str:
    """One line for ``exc``: the first tsmap error in its chain (written for users), else its innermost cause."""
    chain = list(_chain(exc))
    best = next((e for e in chain if isinstance(e, TsmapError)), chain[-1])
    text = " ".join(f"{type(best).__name__}: {best}".split()) if best is chain[-1] else " ".join(str(best).split())
    return text[:400]


def _chain(exc: BaseException):
    seen = 0
    while exc is not None and seen < 20:
        yield exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
