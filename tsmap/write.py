"""Write rasters as Cloud-Optimized GeoTIFFs, block by block and atomically.

Blocks are written into a temporary tiled GeoTIFF; GDAL's COG driver then copies it into the
final layout and builds the overviews *from the finished full-resolution data* (building them
while blocks still arrive gives all-zero overviews, rioxarray#410). Memory stays at one block plus
GDAL's cache whatever the raster size. The file appears under its name only when complete; on
any error nothing is left behind.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from ._files import write_text
from .geo import Grid

#: Internal tile size of the COGs tsmap writes.
COG_BLOCK = 256


@dataclass(frozen=True)
class Product:
    """One output COG: its path and the store layers that become its bands."""

    path: str
    layers: tuple[str, ...]
    dtype: str
    nodata: float | int
    colormap: dict | None = field(default=None, compare=False)
    tags: dict = field(default_factory=dict, compare=False)  #: provenance of this file's layers (prompts, text model)
    legend: object = field(default=None, compare=False)  #: a :class:`~tsmap.legend.Legend` for a class map

    @property
    def categorical(self) -> bool:
        return np.issubdtype(np.dtype(self.dtype), np.integer)


def write_cog(
    data: np.ndarray,
    path: str | os.PathLike,
    grid: Grid,
    *,
    nodata: float | int | None,
    tags: dict | None = None,
    band_names: list[str] | None = None,
    colormap: dict | None = None,
    categories: list[str] | None = None,
) -> str:
    """Write an in-memory ``data`` (y, x) or (band, y, x) on ``grid`` as a COG with overviews."""
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    if data.shape[1:] != grid.shape:
        raise ValueError(f"data of shape {data.shape[1:]} does not match grid shape {grid.shape}")
    full = (slice(0, grid.shape[0]), slice(0, grid.shape[1]))
    return write_cog_blocks(
        path, grid, [(full, data)], count=data.shape[0], dtype=data.dtype.name, nodata=nodata,
        tags=tags, band_names=band_names, colormap=colormap, categories=categories,
    )


def write_cog_blocks(
    path: str | os.PathLike,
    grid: Grid,
    blocks: Iterable[tuple[tuple[slice, slice], np.ndarray]],
    *,
    count: int,
    dtype: str,
    nodata: float | int | None,
    tags: dict | None = None,
    band_names: list[str] | None = None,
    colormap: dict | None = None,
    categories: list[str] | None = None,
) -> str:
    """Write ``blocks`` — ((rows, cols) slices, (band, h, w) array) — as a COG at ``path``.

    Pixels no block covers are ``nodata``. Integer rasters get nearest-neighbour overviews,
    float rasters averaged ones (nodata excluded). ``categories`` (a name per pixel value of band 1)
    become GDAL raster categories, which GDAL keeps beside a GeoTIFF in ``<path>.aux.xml``.
    """
    import rasterio
    import rasterio.shutil
    from rasterio.windows import Window

    path = os.fspath(path)
    folder, name = os.path.dirname(os.path.abspath(path)), os.path.basename(path)
    token = uuid.uuid4().hex[:8]
    staging, final = (os.path.join(folder, f".{name}.{token}.{kind}.tmp") for kind in ("blocks", "cog"))
    height, width = grid.shape
    profile = dict(
        driver="GTiff", width=width, height=height, count=count, dtype=dtype, crs=f"EPSG:{grid.epsg}",
        transform=grid.transform, nodata=nodata, tiled=True, blockxsize=COG_BLOCK, blockysize=COG_BLOCK,
        compress="ZSTD", zstd_level=1, bigtiff="IF_SAFER",
    )
    integer = np.issubdtype(np.dtype(dtype), np.integer)
    try:
        with rasterio.open(staging, "w", **profile) as dst:
            for (rows, cols), block in blocks:
                window = Window(cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)
                dst.write(np.asarray(block, dtype=dtype).reshape(count, *block.shape[-2:]), window=window)
            if tags:
                dst.update_tags(**{k: str(v) for k, v in tags.items()})
            for i, band in enumerate(band_names or [], start=1):
                dst.set_band_description(i, band)
            if colormap:
                dst.write_colormap(1, colormap)
        rasterio.shutil.copy(
            staging, final, driver="COG", compress="DEFLATE", blocksize=COG_BLOCK, bigtiff="IF_SAFER",
            overview_resampling="nearest" if integer else "average",
        )
        if categories:
            write_categories(path, categories)
        os.replace(final, path)
    finally:
        for tmp in (staging, final):
            if os.path.exists(tmp):
                os.remove(tmp)
    return path



def write_categories(path: str, names: list[str]) -> str:
    """GDAL category names of band 1 of ``path``, in its PAM sidecar ``<path>.aux.xml`` (how GDAL stores
    them for GeoTIFF; QGIS and ``gdalinfo`` show them). Written atomically; returns the sidecar's path."""
    from xml.sax.saxutils import escape

    aux = f"{path}.aux.xml"
    body = "".join(f"      <Category>{escape(n)}</Category>\n" for n in names)
    xml = (
        '<PAMDataset>\n  <PAMRasterBand band="1">\n    <CategoryNames>\n'
        f"{body}    </CategoryNames>\n  </PAMRasterBand>\n</PAMDataset>\n"
    )
    return write_text(aux, xml)
