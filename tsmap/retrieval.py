"""Text -> pixel search: the pixels whose embeddings best match a free-text query, as GeoJSON points.

The TimeSenCLIP paper's text-to-image retrieval (its Figure 6) on a map: "olive groves on dry
terraced hills" -> the N most similar pixels with their cosine score. (STAC search is
:mod:`tsmap.catalog`.)
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import xarray as xr

from .dims import EMBED, X, Y
from .errors import InputError
from .geo import Grid
from .zeroshot import l2_normalise
from .text import encode_texts
from .text_model import DEFAULT_MODEL, DEFAULT_PRETRAINED, model_id


def search_text(
    embedding: xr.DataArray,
    query: str | np.ndarray,
    *,
    grid: Grid,
    top: int = 10,
    clip_model: str = DEFAULT_MODEL,
    clip_pretrained: str = DEFAULT_PRETRAINED,
    cache_dir=None,
) -> dict:
    """The ``top`` pixels of an (embed, y, x) cube most similar to ``query``, as a GeoJSON FeatureCollection.

    ``query`` is text (encoded with the open_clip ``clip_model``/``clip_pretrained`` (the keyword names of
    :func:`tsmap.predict`), cached) or an embedding (D,). Pixel centres come from the cube's ``x``/``y``
    coordinates when it has them, else from ``grid``; ``grid.epsg`` is their CRS. Each feature is a lon/lat
    point with ``rank`` (1 = best), ``score`` (cosine), ``row``/``col`` and ``x``/``y`` in the grid CRS. Ties
    go to the first pixel in row-major order; NaN pixels are never returned. Reads each chunk once and keeps
    only ``top`` candidates per chunk, so memory does not grow with the area.
    """
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise InputError(f"top must be a positive number of pixels, got {top!r}")
    if isinstance(query, str):
        if not query.strip():
            raise InputError("the text query is empty; describe what to look for")
        q = encode_texts([query.strip()], model=clip_model, pretrained=clip_pretrained, cache_dir=cache_dir)[0]
    else:
        q = np.asarray(query, np.float32)
    if q.ndim != 1 or EMBED not in embedding.dims or embedding.sizes[EMBED] != q.shape[0]:
        raise InputError(
            f"query embedding of shape {q.shape} does not fit pixel embeddings with dims {dict(embedding.sizes)}"
        )
    q = l2_normalise(q)
    rows, cols, scores = _top_pixels(embedding.transpose(Y, X, EMBED).data, q, int(top))
    xs, ys = _centres(embedding, grid, rows, cols)
    lon, lat = _to_lonlat(grid.epsg, xs, ys)
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [float(lon[i]), float(lat[i])]},
            "properties": {
                "rank": i + 1, "score": float(scores[i]), "row": int(rows[i]), "col": int(cols[i]),
                "x": float(xs[i]), "y": float(ys[i]),
            },
        }
        for i in range(len(scores))
    ]
    meta = {"query": query.strip() if isinstance(query, str) else None, "epsg": grid.epsg}
    if isinstance(query, str):
        meta["text_model"] = model_id(clip_model, clip_pretrained)
    return {"type": "FeatureCollection", "features": features, "properties": meta}


def _top_pixels(data, q: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, scores) of the best ``top`` pixels of a (y, x, embed) array, best first."""
    data = data if isinstance(data, da.Array) else da.from_array(np.asarray(data), chunks=(-1, -1, -1))
    data = data.rechunk({2: -1})
    y0 = np.cumsum((0,) + data.chunks[0][:-1])
    x0 = np.cumsum((0,) + data.chunks[1][:-1])
    blocks = data.to_delayed()
    parts = [
        dask.delayed(_block_top)(blocks[i, j, 0], q, int(y0[i]), int(x0[j]), top)
        for i in range(blocks.shape[0])
        for j in range(blocks.shape[1])
    ]
    found = dask.compute(*parts)
    rows, cols, scores = (np.concatenate([f[k] for f in found]) for k in range(3))
    order = np.lexsort((cols, rows, -scores))[:top]
    return rows[order], cols[order], scores[order]


def _block_top(block: np.ndarray, q: np.ndarray, y0: int, x0: int, top: int):
    s = (np.asarray(block, np.float32) @ q).ravel()
    idx = np.flatnonzero(np.isfinite(s))
    if idx.size > top:
        # keep every pixel tied with the top-th score, so ties resolve by position after the merge
        cut = np.partition(s[idx], idx.size - top)[idx.size - top]
        idx = idx[s[idx] >= cut]
    r, c = np.divmod(idx, block.shape[1])
    return r + y0, c + x0, s[idx]


def _centres(embedding: xr.DataArray, grid: Grid, rows: np.ndarray, cols: np.ndarray):
    if X in embedding.coords and Y in embedding.coords:
        return embedding[X].values[cols].astype(float), embedding[Y].values[rows].astype(float)
    if (embedding.sizes[Y], embedding.sizes[X]) != grid.shape:
        raise InputError(
            f"embeddings of {embedding.sizes[Y]}x{embedding.sizes[X]} px have no x/y coordinates and do not match "
            f"the grid's {grid.shape[0]}x{grid.shape[1]} px; pass the grid they were made on"
        )
    xs, ys = grid.transform @ (cols + 0.5, rows + 0.5)
    return np.asarray(xs, float), np.asarray(ys, float)


def _to_lonlat(epsg: int, xs: np.ndarray, ys: np.ndarray):
    from rasterio.warp import transform

    if len(xs) == 0:
        return np.zeros(0), np.zeros(0)
    lon, lat = transform(f"EPSG:{epsg}", "EPSG:4326", list(map(float, xs)), list(map(float, ys)))
    return np.asarray(lon), np.asarray(lat)
