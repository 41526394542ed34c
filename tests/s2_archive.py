"""A year of Sentinel-2 L2A acquisitions laid out like the services' assets, for remote-read tests and benchmarks.

COGs have the full MGRS tile grids (10980 px at 10 m, 5490 at 20 m) and, by default, Earth Search's
``sentinel-cogs`` layout: 1024 x 1024 blocks, DEFLATE with the horizontal predictor, overviews down to
below 512 px (5490 ... 344), nodata 0 (``gdalinfo``/geotiff.js of those files; :class:`Layout` makes
each a parameter). Digital numbers follow processing baseline >= 04.00 (reflectance x 10000 + 1000).

Content is cheap but not empty: only the blocks over ``content`` (a window in 10 m pixels) carry
data with the entropy of real land (a smooth field plus noise, ~1 byte per pixel after DEFLATE); the
rest of each file is nodata and compresses to almost nothing. ``variants`` sets of band files are
written once; each acquisition's folder links to one set, so a year of acquisitions costs
``variants x 10`` files while every acquisition still has its own URLs (GDAL caches by URL).

Items are clones of one real Earth Search item (``tests/data``) with their own id, time, cloud cover,
datatake, orbit and hrefs.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tsmap.bands import ALL_BANDS, SCL

TEMPLATE = Path(__file__).parent / "data" / "stac-items" / "earth_search_item_S2B_24MWV_20250731.json"
#: 10 m grid of the template's MGRS tile 24MWV (EPSG:32724): west, north.
ORIGIN = (499980.0, 9500020.0)
EPSG = 32724


@dataclass(frozen=True)
class Layout:
    """How the asset COGs are laid out (defaults: Earth Search ``sentinel-cogs``)."""

    size_10m: int = 10980  #: pixels a side at 10 m (5490 at 20 m)
    blocksize: int = 1024
    compress: str = "DEFLATE"
    predictor: int = 2
    overviews: str = "AUTO"  #: GDAL COG driver: halvings until below 512 px

    def __post_init__(self) -> None:
        if self.size_10m % 2 or self.blocksize % 16:
            raise ValueError("size_10m must be even and blocksize a multiple of 16")

    def size(self, resolution: int) -> int:
        return self.size_10m * 10 // resolution


@dataclass(frozen=True)
class Archive:
    root: Path
    items: list  #: item dicts, hrefs relative to ``root`` (see :func:`with_base`)
    layout: Layout
    content: tuple[int, int, int, int]  #: row, col, height, width in 10 m pixels

    def with_base(self, base: str, query: str = "") -> list[dict]:
        """The items with hrefs under ``base`` (a URL, or a folder for local files), ``query`` appended
        (new URLs for the same files: GDAL's process-wide cache does not know them)."""
        out = copy.deepcopy(self.items)
        for item in out:
            for asset in item["assets"].values():
                asset["href"] = f"{base.rstrip('/')}/{asset['href']}{query}"
        return out

    def write_collection(self, path: Path, base: str, query: str = "") -> Path:
        """An item collection (GeoJSON FeatureCollection) with hrefs under ``base``."""
        path.write_text(json.dumps({"type": "FeatureCollection", "features": self.with_base(base, query)}))
        return path


def make_archive(
    root, *, acquisitions: int, year: int = 2023, layout: Layout = Layout(),
    content: tuple[int, int, int, int] = (2048, 2048, 1024, 1024), variants: int = 4, orbits: int = 1,
) -> Archive:
    """``acquisitions`` items over one year (one orbit every 5 days, or ``orbits`` interleaved) on disk at ``root``."""
    root = Path(root)
    for k in range(variants):
        folder = root / "variants" / str(k)
        if not (folder / "done").exists():
            folder.mkdir(parents=True, exist_ok=True)
            for band in ALL_BANDS:
                write_band(folder / f"{band.name}.tif", band, layout, content, seed=k)
            (folder / "done").write_text("ok")
    template = json.loads(TEMPLATE.read_text())
    step = dt.timedelta(days=365 / acquisitions)
    items = []
    for i in range(acquisitions):
        when = dt.datetime(year, 1, 1, 10, 30, tzinfo=dt.timezone.utc) + i * step
        item_id = f"S2{'AB'[i % 2]}_24MWV_{when:%Y%m%d}_{i}_L2A"
        folder = root / "acq" / item_id
        folder.mkdir(parents=True, exist_ok=True)
        for band in ALL_BANDS:
            link = folder / f"{band.name}.tif"
            if not link.is_symlink():
                link.symlink_to(os.path.relpath(root / "variants" / str(i % variants) / f"{band.name}.tif", folder))
        items.append(_item(template, item_id, when, i, orbits, f"acq/{item_id}", layout))
    return Archive(root, items, layout, content)


def write_band(path: Path, band, layout: Layout, content, *, seed: int) -> None:
    """One band's COG: nodata everywhere but the blocks over ``content``."""
    import rasterio
    from affine import Affine
    from rasterio.shutil import copy as rio_copy

    res, bs = band.resolution, layout.blocksize
    size, f = layout.size(res), max(1, res // 10)
    r0, c0 = content[0] // f // bs * bs, content[1] // f // bs * bs  # whole blocks, as real data would be
    r1 = min(size, _ceil(_ceil(content[0] + content[2], f), bs) * bs)
    c1 = min(size, _ceil(_ceil(content[1] + content[3], f), bs) * bs)
    h, w = r1 - r0, c1 - c0
    dtype = "uint8" if band is SCL else "uint16"
    profile = dict(driver="GTiff", width=size, height=size, count=1, dtype=dtype, crs=f"EPSG:{EPSG}", nodata=0,
                   transform=Affine(res, 0, ORIGIN[0], 0, -res, ORIGIN[1]), tiled=True, blockxsize=bs, blockysize=bs,
                   sparse_ok=True)
    tmp = path.with_suffix(".tmp.tif")
    with rasterio.open(tmp, "w", **profile) as f:
        f.write(_content(band, h, w, seed), 1, window=((r0, r0 + h), (c0, c0 + w)))
    rio_copy(
        tmp,
        path,
        driver="COG",
        BLOCKSIZE=bs,
        COMPRESS=layout.compress,
        PREDICTOR="YES" if layout.predictor == 2 else "NO",
        OVERVIEWS=layout.overviews,
        OVERVIEW_RESAMPLING="NEAREST",
        NUM_THREADS="2",
    )
    tmp.unlink()


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _content(band, h: int, w: int, seed: int) -> np.ndarray:
    """Land-like pixels: DN (+1000 offset) from a smooth field plus noise; SCL mostly clear with cloud patches."""
    rng = np.random.default_rng([seed, ALL_BANDS.index(band)])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) / max(h, w)
    field = np.sin(6 * xx + seed) * np.cos(5 * yy - seed)
    if band is SCL:
        scl = np.where(field > 0.2, 4, 5).astype(np.uint8)
        clouds = np.sin(3 * xx + 2 * seed) * np.sin(4 * yy + seed) > 0.6 - 0.2 * (seed % 3)
        scl[clouds] = 9
        return scl
    dn = 1000 + 1500 + 1000 * field + rng.normal(0, 40, (h, w)).astype(np.float32)
    return np.clip(dn, 1, 65535).astype(np.uint16)


def _item(template: dict, item_id: str, when: dt.datetime, i: int, orbits: int, folder: str, layout: Layout) -> dict:
    from rasterio.warp import transform_geom

    item = copy.deepcopy(template)
    x0, y1 = ORIGIN
    x1, y0 = x0 + layout.size_10m * 10, y1 - layout.size_10m * 10
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    item["geometry"] = transform_geom(f"EPSG:{EPSG}", "EPSG:4326", {"type": "Polygon", "coordinates": [ring]})
    lons, lats = zip(*item["geometry"]["coordinates"][0])
    item["bbox"] = [min(lons), min(lats), max(lons), max(lats)]
    p = item["properties"]
    platform = "sentinel-2" + "ab"[i % 2]
    orbit = 95 + 100 * (i % orbits)
    stamp = f"{when:%Y%m%dT%H%M%S}"
    item["id"] = item_id
    p.update({
        "datetime": when.isoformat().replace("+00:00", "Z"), "platform": platform, "sat:relative_orbit": orbit,
        "eo:cloud_cover": float((i * 37) % 100), "s2:datatake_id": f"GS2{platform[-1].upper()}_{stamp}_{i:06d}_N05.11",
        "s2:product_uri": f"S2{platform[-1].upper()}_MSIL2A_{stamp}_N0511_R{orbit:03d}_T24MWV_{stamp}.SAFE",
    })
    for band in ALL_BANDS:
        asset = item["assets"][band.common]
        asset["href"] = f"{folder}/{band.name}.tif"
        asset["proj:shape"] = [layout.size(band.resolution)] * 2
    return item


def minimum_bytes(
    archive: Archive, bounds: tuple[float, float, float, float], *, header: int = 32768
) -> dict[str, int]:
    """Per served path (``/acq/<id>/<band>.tif``): the header plus every block that ``bounds`` touches, once.

    The least any reader must fetch to read that window at full resolution: block sizes come from the
    files' own tile byte counts (GDAL's ``BLOCK_SIZE``), the header is what GDAL reads at open.
    """
    import math

    import rasterio

    need, cost = {}, {}
    for band in ALL_BANDS:
        for k in range(_variants(archive)):
            path = archive.root / "variants" / str(k) / f"{band.name}.tif"
            with rasterio.open(path) as f:
                (bh, bw), size, res, (x0, y1) = f.block_shapes[0], os.path.getsize(path), f.res[0], ORIGIN
                r0, r1 = math.floor((y1 - bounds[3]) / res), math.ceil((y1 - bounds[1]) / res)
                c0, c1 = math.floor((bounds[0] - x0) / res), math.ceil((bounds[2] - x0) / res)
                rows, cols = range(r0 // bh, _ceil(r1, bh)), range(c0 // bw, _ceil(c1, bw))
                cost[(k, band.name)] = min(header, size) + sum(f.block_size(1, r, c) for r in rows for c in cols)
    for it in archive.items:
        for band in ALL_BANDS:
            href = it["assets"][band.common]["href"]
            k = int(os.readlink(archive.root / href).split("/")[-2])
            need["/" + href] = cost[(k, band.name)]
    return need


def _variants(archive: Archive) -> int:
    return len([p for p in (archive.root / "variants").iterdir() if p.is_dir()])
