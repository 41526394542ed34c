"""P x P pixel neighbourhoods of a composite, lazily, for encoders trained on patches (P = 1, 5, 9).

:func:`neighbourhoods` turns ``s2`` (month, band, y, x) into (month, band, y, x, patch_y, patch_x):
element ``[m, b, i, j, :, :]`` is the P x P window of band ``b`` in month ``m`` centred on pixel
``(i, j)``. Neighbours in adjacent chunks are fetched with ``dask.array.overlap`` (depth P // 2), so
chunk borders are seamless. Beyond the edge of the grid there is no data: ``edge="nan"`` (default)
treats it as missing, ``"edge"`` repeats the border pixel, ``"symmetric"`` mirrors the border.
For real context at the AOI border, load ``grid.buffered(P // 2)`` and cut the result back with
``.isel(y=slice(r, -r), x=slice(r, -r))``.

Memory: every block is a zero-copy, read-only strided view (``sliding_window_view``) of its chunk
padded by P // 2, i.e. (chunk + P - 1)² x months x bands x 4 bytes, not P² times the chunk.
Consumers should take pixels in batches (``block[..., i0:i1, :, :, :]`` then reshape the batch);
reshaping a whole block copies it P² times (81 x for P = 9).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .dims import BAND, MONTH, PATCH_X, PATCH_Y, SPATIAL_REF, X, Y
from .errors import InputError

EDGES = {"nan": np.nan, "edge": "nearest", "symmetric": "reflect"}  # tsmap name -> dask boundary


def neighbourhoods(s2: xr.DataArray, size: int, *, edge: str = "nan") -> xr.DataArray:
    """(month, band, y, x) -> (month, band, y, x, patch_y, patch_x) P x P windows, lazily (see module doc)."""
    import dask.array as da

    if not isinstance(size, (int, np.integer)) or size < 1 or size % 2 == 0:
        raise InputError(f"patch size must be a positive odd number of pixels (1, 5, 9, ...), got {size!r}")
    if edge not in EDGES:
        raise InputError(f"unknown edge handling {edge!r}; choose one of {', '.join(EDGES)}")
    s2 = s2.transpose(MONTH, BAND, Y, X)
    r = int(size) // 2
    data = s2.data if s2.chunks is not None else da.from_array(s2.values, chunks=(-1, -1, -1, -1))
    data = data.rechunk({0: -1, 1: -1})
    if r:  # dask merges chunks thinner than r with their neighbours
        boundary = EDGES[edge]
        padded = da.overlap.overlap(
            data, depth={0: 0, 1: 0, 2: r, 3: r}, boundary={0: "none", 1: "none", 2: boundary, 3: boundary}
        )
    else:
        padded = data
    chunks = padded.chunks[:2] + tuple(tuple(c - 2 * r for c in axis) for axis in padded.chunks[2:])
    windows = padded.map_blocks(
        _windows, size=int(size), new_axis=[4, 5], chunks=chunks + ((size,), (size,)), dtype=data.dtype
    )
    coords = {k: s2.coords[k] for k in (MONTH, BAND, Y, X, SPATIAL_REF) if k in s2.coords}
    return xr.DataArray(
        windows, dims=(MONTH, BAND, Y, X, PATCH_Y, PATCH_X), coords=coords, name=s2.name, attrs=s2.attrs
    )


def _windows(block: np.ndarray, *, size: int) -> np.ndarray:
    return np.lib.stride_tricks.sliding_window_view(block, (size, size), axis=(2, 3))
