"""Write rasters as Cloud-Optimized GeoTIFFs, atomically (temp name, then rename)."""

from __future__ import annotations

import os
import uuid

import numpy as np

from .geo import Grid


def write_cog(
    data: np.ndarray,
    path: str | os.PathLike,
    grid: Grid,
    *,
    nodata: float | int | None,
    tags: dict | None = None,
    band_names: list[str] | None = None,
    colormap: dict | None = None,
) -> str:
    """Write ``data`` (y, x) or (band, y, x) on ``grid`` as a DEFLATE-compressed COG with overviews.

    The file appears under ``path`` only once complete; on error nothing is left behind.
    """
    import rasterio

    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    if data.shape[1:] != grid.shape:
        raise ValueError(f"data of shape {data.shape[1:]} does not match grid shape {grid.shape}")
    path = os.fspath(path)
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}.tmp")
    profile = dict(
        driver="COG",
        width=grid.shape[1],
        height=grid.shape[0],
        count=data.shape[0],
        dtype=data.dtype.name,
        crs=f"EPSG:{grid.epsg}",
        transform=grid.transform,
        nodata=nodata,
        compress="DEFLATE",
        blocksize=256,
        overview_resampling="nearest" if np.issubdtype(data.dtype, np.integer) else "average",
    )
    try:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(data)
            if tags:
                dst.update_tags(**{k: str(v) for k, v in tags.items()})
            for i, name in enumerate(band_names or [], start=1):
                dst.set_band_description(i, name)
            if colormap:
                dst.write_colormap(1, colormap)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
