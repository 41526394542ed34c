"""Tiny real GeoTIFF assets + Sentinel-2-like STAC items for the data-layer tests (no network)."""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pystac
import rasterio
from affine import Affine
from rasterio.warp import transform, transform_bounds

from tsmap.bands import ALL_BANDS, SCL


def lonlat_box_in(epsg: int, box: tuple[float, float, float, float], res: float = 20.0):
    """Bounds of a lon/lat box in ``epsg``, snapped outwards to ``res``."""
    minx, miny, maxx, maxy = transform_bounds("EPSG:4326", f"EPSG:{epsg}", *box, densify_pts=21)
    return (
        np.floor(minx / res) * res,
        np.floor(miny / res) * res,
        np.ceil(maxx / res) * res,
        np.ceil(maxy / res) * res,
    )


def make_item(
    folder,
    *,
    item_id: str,
    when: dt.datetime,
    epsg: int,
    bounds: tuple[float, float, float, float],
    dn=lambda band, lon, lat: np.full(lon.shape, 1500.0),
    scl=lambda lon, lat: np.full(lon.shape, 4),
    baseline: str = "05.09",
    offset: float | None = -0.1,
    platform: str = "sentinel-2a",
    skip: tuple[str, ...] = (),
) -> pystac.Item:
    """Write one GeoTIFF per band (10 m or 20 m, per the band table) and return the item.

    ``dn(band_name, lon, lat)`` and ``scl(lon, lat)`` give pixel values from pixel-centre
    coordinates, so any grid the item is warped to can be checked against the same function.
    Projection is given as ``proj:code`` only (projection extension v2).
    """
    folder = os.path.join(str(folder), item_id)
    os.makedirs(folder, exist_ok=True)
    lonlat = transform_bounds(f"EPSG:{epsg}", "EPSG:4326", *bounds, densify_pts=21)
    w, s, e, n = lonlat
    item = pystac.Item(
        id=item_id,
        geometry={"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
        bbox=list(lonlat),
        datetime=when,
        properties={
            "platform": platform,
            "eo:cloud_cover": 0.0,
            "s2:processing_baseline": baseline,
            "proj:code": f"EPSG:{epsg}",
        },
    )
    item.collection_id = "sentinel-2-l2a"
    for band in ALL_BANDS:
        if band.name in skip:
            continue
        res = float(band.resolution)
        height, width = round((bounds[3] - bounds[1]) / res), round((bounds[2] - bounds[0]) / res)
        tf = Affine(res, 0, bounds[0], 0, -res, bounds[3])
        cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
        xs, ys = tf @ (cols, rows)
        lon, lat = (
            np.asarray(v).reshape(xs.shape) for v in transform(f"EPSG:{epsg}", "EPSG:4326", xs.ravel(), ys.ravel())
        )
        if band is SCL:
            data, dtype, raster = scl(lon, lat), "uint8", {"nodata": 0, "data_type": "uint8"}
        else:
            data, dtype = dn(band.name, lon, lat), "uint16"
            raster = {"nodata": 0, "data_type": "uint16", "scale": 0.0001}
            if offset is not None:
                raster["offset"] = offset
        path = os.path.join(folder, f"{band.name}.tif")
        profile = dict(
            driver="GTiff", width=width, height=height, count=1, dtype=dtype, crs=f"EPSG:{epsg}", transform=tf, nodata=0
        )
        with rasterio.open(path, "w", **profile) as f:
            f.write(np.asarray(data).astype(dtype), 1)
        item.add_asset(
            band.common,
            pystac.Asset(
                href=path,
                media_type=pystac.MediaType.GEOTIFF,
                roles=["data"],
                extra_fields={
                    "proj:shape": [height, width],
                    "proj:transform": list(tf)[:6],
                    "raster:bands": [raster],
                    **({} if band is SCL else {"eo:bands": [{"name": band.name, "common_name": band.common}]}),
                },
            ),
        )
    return item
