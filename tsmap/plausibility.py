"""A plausibility guard on the imagery read: values no Sentinel-2 L2A product holds are counted and left out.

GDAL does not verify what it decodes. A deflate tile whose bytes were partly overwritten often decodes
without any error or warning (libtiff stops inflating once the tile is full, so the zlib checksum at
the end of the stream is never checked) and returns garbage; ZSTD tiles as GDAL writes them carry no
checksum at all. LERC blobs carry one, and many damaged deflate/LZW streams do fail to decode: GDAL
reports those as read errors, which tsmap retries and then reports as a failed tile, never as data
(``GTIFF_IGNORE_READ_ERRORS``, which would turn them into zero-filled blocks, is pinned off in
:mod:`tsmap.gdal_config`). What decodes silently is checked against physics here:

* spectral digital numbers, after the +1000 offset is removed, are BOA reflectance x 10,000: a real
  value lies in [-1000, 20,000] (the offset's floor; reflectance 2, twice what a Lambertian surface
  can reach, above the brightest clouds and snow);
* SCL holds an integer class 0..11.

An observation (one pixel on one date) with any impossible value is left out whole: all its bands
become no data, so it takes no part in the composite. :func:`screen` also counts such observations
per date, lazily; a tile where they dominate fails like an unreadable one (:func:`check_tile`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .bands import BOA_ADD_OFFSET_DN, SCL
from .dims import BAND

#: Lowest spectral digital number after the offset is removed (the offset's floor).
DN_MIN = -BOA_ADD_OFFSET_DN
#: Highest plausible spectral digital number: reflectance 2.0.
DN_MAX = 20_000
#: SCL classes are 0..SCL_MAX.
SCL_MAX = 11
#: A tile fails when more than this fraction of its observations are impossible.
DOMINATED = 0.5


class ImplausibleImagery(OSError):
    """Most of a tile's imagery holds impossible values: a read failure (retried, then reported), never data."""


def screen(cube: xr.DataArray) -> tuple[xr.DataArray, object]:
    """The cube with impossible observations set to NaN, and lazy per-date counts (time, 2): impossible, observed.

    ``cube`` is (time, band, y, x) digital numbers as :func:`tsmap.load.load_cube` makes them (time and
    band whole in each chunk). Compute the counts together with whatever uses the screened cube, so
    each chunk is read once.
    """
    scl = list(cube[BAND].values).index(SCL.name)
    data = cube.data
    if len(data.chunks[0]) != 1 or len(data.chunks[1]) != 1:
        data = data.rechunk({0: -1, 1: -1})
    masked = data.map_blocks(_drop_impossible, scl=scl, dtype=data.dtype)
    n_time = data.shape[0]
    counts = data.map_blocks(
        _count_impossible,
        scl=scl,
        dtype=np.int64,
        chunks=((n_time,), (2,), (1,) * len(data.chunks[2]), (1,) * len(data.chunks[3])),
    ).sum(axis=(2, 3))
    return cube.copy(data=masked), counts


def impossible(block: np.ndarray, scl: int) -> np.ndarray:
    """(time, band, y, x) -> (time, y, x): observations with a spectral DN outside [DN_MIN, DN_MAX] or SCL
    outside 0..SCL_MAX (``scl`` is the SCL band's index)."""
    spectral = np.delete(block, scl, axis=1)
    classes = block[:, scl]
    with np.errstate(invalid="ignore"):
        bad = ((spectral < DN_MIN) | (spectral > DN_MAX)).any(axis=1)
        bad |= (classes < 0) | (classes > SCL_MAX) | (np.isfinite(classes) & (classes != np.floor(classes)))
    return bad


def _drop_impossible(block: np.ndarray, *, scl: int) -> np.ndarray:
    bad = impossible(block, scl)
    return np.where(bad[:, None], np.asarray(np.nan, block.dtype), block) if bad.any() else block


def _count_impossible(block: np.ndarray, *, scl: int) -> np.ndarray:
    observed = np.isfinite(block).any(axis=1)
    counts = np.stack([impossible(block, scl).sum(axis=(1, 2)), observed.sum(axis=(1, 2))], axis=1)
    return counts.astype(np.int64)[:, :, None, None]


def check_tile(counts: np.ndarray, dates: list[str], *, what: str) -> tuple[int, tuple[str, ...]]:
    """Impossible observations of a tile and the dates (item ids) holding most of them, from :func:`screen`'s counts.

    Raises :class:`ImplausibleImagery` when they are more than :data:`DOMINATED` of the observations.
    """
    counts = np.asarray(counts)
    bad, seen = int(counts[:, 0].sum()), int(counts[:, 1].sum())
    worst = tuple(dates[i] for i in np.argsort(-counts[:, 0], kind="stable")[:3] if counts[i, 0])
    if seen and bad > DOMINATED * seen:
        raise ImplausibleImagery(
            f"{what}: {bad:,} of {seen:,} observations hold values no Sentinel-2 L2A product has "
            f"(DN outside {DN_MIN}..{DN_MAX:,} after the offset, or SCL outside 0-{SCL_MAX}), "
            f"most in {', '.join(worst)}: corrupt imagery; check or re-download those assets"
        )
    return bad, worst


def describe(per_tile: dict[str, int]) -> str:
    """The provenance tag value: JSON of the observations left out per tile, e.g. ``{"r0000c0001": 12}``
    (``{}``: none)."""
    import json

    return json.dumps({tile: int(n) for tile, n in sorted(per_tile.items()) if n})
