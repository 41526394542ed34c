"""A synthetic but plausible Sentinel-2 year, written as COGs plus a static STAC catalog.

Used by ``tsmap demo`` and the tests: six land-cover types with distinct 12-month spectra
(phenology for woodland, cropland and grassland), two acquisitions per month, clouds with matching
SCL codes on some dates, a nodata strip on the west edge, and Earth Search-style metadata
(common-name asset keys, ``proj:code`` only, baseline 05.09 with the +1000 DN offset).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass

import numpy as np

from .bands import ALL_BANDS, BOA_ADD_OFFSET_DN, SCL
from .errors import InputError
from .geo import Grid
from .legend import Legend
from .write import write_cog

#: Demo land-cover types: name -> index in the bundled ``land-cover`` prompt set.
CLASSES = {"Artificial Land": 0, "Cropland": 1, "Woodland": 2, "Grassland": 4, "Bare Land": 5, "Water": 6}
YEAR = 2023
EPSG = 32632
ORIGIN = (356_000.0, 5_624_000.0)  # top-left corner, near Bonn

# Surface reflectance, bands B02 B03 B04 B05 B06 B07 B08 B8A B11 B12
_SOIL = np.array([0.08, 0.10, 0.13, 0.16, 0.18, 0.19, 0.20, 0.21, 0.28, 0.22])
_VEG = np.array([0.03, 0.06, 0.03, 0.09, 0.25, 0.32, 0.38, 0.40, 0.19, 0.09])
_WATER = np.array([0.06, 0.06, 0.04, 0.03, 0.02, 0.02, 0.015, 0.012, 0.008, 0.005])
_URBAN = np.array([0.10, 0.11, 0.12, 0.13, 0.14, 0.15, 0.16, 0.17, 0.20, 0.18])
_BARE = np.array([0.15, 0.18, 0.22, 0.25, 0.27, 0.28, 0.29, 0.30, 0.35, 0.30])


def _bell(month: float, centre: float, width: float) -> float:
    return float(np.exp(-0.5 * ((month - centre) / width) ** 2))


def class_spectrum(name: str, month: float) -> np.ndarray:
    """Reflectance (10,) of a demo class in a (fractional, 0-based) month."""
    if name == "Water":
        return _WATER
    if name == "Artificial Land":
        return _URBAN
    if name == "Bare Land":
        return _BARE
    green = {
        "Woodland": 0.35 + 0.65 * _bell(month, 6.5, 2.2),
        "Cropland": _bell(month, 5.5, 1.1),
        "Grassland": 0.45 + 0.4 * _bell(month, 4.5, 2.5),
    }[name]
    return _SOIL * (1 - green) + _VEG * green


@dataclass(frozen=True)
class DemoScene:
    """Where the synthetic scene was written."""

    catalog: str  #: path of the static STAC catalog.json
    truth: str  #: path of the truth raster (uint8 land-cover index, 255 = nodata)
    grid: Grid
    year: int
    nodata_columns: int  #: width of the nodata strip on the west edge, in 10 m pixels


def make_scene(out_dir: str, *, size: int = 256, seed: int = 0) -> DemoScene:
    """Write the synthetic year into ``out_dir`` and return where everything is."""
    import pystac

    if size < 32 or size % 2:
        raise InputError(f"demo size must be an even number >= 32, got {size}")
    rng = np.random.default_rng(seed)
    grid = Grid(EPSG, (ORIGIN[0], ORIGIN[1] - 10 * size, ORIGIN[0] + 10 * size, ORIGIN[1]), 10.0)
    labels = _layout(size, rng)
    strip = max(2, size // 16) // 2 * 2
    names = list(CLASSES)

    collection = pystac.Collection(
        id="sentinel-2-l2a",
        description="tsmap demo: SYNTHETIC Sentinel-2 L2A scene (not real data)",
        extent=pystac.Extent(
            pystac.SpatialExtent([list(grid.lonlat_bbox().as_tuple())]),
            pystac.TemporalExtent(
                [[dt.datetime(YEAR, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(YEAR, 12, 31, tzinfo=dt.timezone.utc)]]
            ),
        ),
    )
    for month in range(12):
        for day in (5, 20):
            when = dt.datetime(YEAR, month + 1, day, 10, 30, tzinfo=dt.timezone.utc)
            frac_month = month + (day - 1) / 30
            refl = np.stack([class_spectrum(n, frac_month) for n in names])[labels]  # (y, x, 10)
            refl = refl * rng.normal(1.0, 0.03, size=refl.shape)
            scl = np.select([labels == names.index("Water"), np.isin(labels, [1, 2, 3])], [6, 4], 5).astype(np.uint8)
            cloud_frac = _add_clouds(refl, scl, rng) if rng.random() < 0.35 else 0.0
            dn = np.clip(np.round(refl * 10_000) + BOA_ADD_OFFSET_DN, 1, 65_535).astype(np.uint16)
            dn[:, :strip] = 0
            scl[:, :strip] = 0
            item_id = f"S2X_32ULB_{when:%Y%m%d}_0_L2A"
            collection.add_item(_write_item(out_dir, item_id, when, grid, dn, scl, 100 * cloud_frac))

    truth = np.asarray([CLASSES[n] for n in names], dtype=np.uint8)[labels]
    truth[:, :strip] = 255
    from .prompts import load_prompts  # imports xarray, which the trainer's synthetic data (class_spectrum) need not

    legend = Legend.from_prompts(load_prompts("land-cover"))
    truth_path = write_cog(truth, os.path.join(out_dir, "truth.tif"), grid, nodata=255, band_names=["land_cover_index"],
                           colormap=legend.colormap(), categories=legend.categories(),
                           tags={"classes": json.dumps(list(legend.names)), "synthetic": "yes"})
    catalog = pystac.Catalog(id="tsmap-demo", description="tsmap demo: SYNTHETIC Sentinel-2 year (not real data)")
    catalog.add_child(collection)
    root = os.path.join(out_dir, "stac")
    catalog.normalize_hrefs(root)
    catalog.make_all_asset_hrefs_relative()
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return DemoScene(catalog=os.path.join(root, "catalog.json"), truth=truth_path, grid=grid, year=YEAR,
                     nodata_columns=strip)


def _layout(size: int, rng) -> np.ndarray:
    """Voronoi patches (y, x) of class indices, every class present."""
    n_seeds = 3 * len(CLASSES)
    seeds = rng.uniform(0, size, size=(n_seeds, 2))
    yy, xx = np.mgrid[0:size, 0:size]
    d = (yy[..., None] - seeds[:, 0]) ** 2 + (xx[..., None] - seeds[:, 1]) ** 2
    return (np.argmin(d, axis=-1) % len(CLASSES)).astype(np.int64)


def _add_clouds(refl: np.ndarray, scl: np.ndarray, rng) -> float:
    """Paint a cloud (SCL 9 core, 8 fringe), its shadow (3) and maybe cirrus (10); return cloud fraction."""
    size = refl.shape[0]
    yy, xx = np.mgrid[0:size, 0:size]
    cy, cx = rng.uniform(0, size, 2)
    r = rng.uniform(0.15, 0.35) * size
    d = np.hypot(yy - cy, xx - cx)
    core, fringe = d < 0.7 * r, (d >= 0.7 * r) & (d < r)
    shadow = (np.hypot(yy - cy - 0.3 * r, xx - cx - 0.3 * r) < 0.7 * r) & ~(core | fringe)
    refl[core] = 0.55 + rng.normal(0, 0.02, size=(core.sum(), 10))
    refl[fringe] = 0.5 * refl[fringe] + 0.2
    refl[shadow] *= 0.4
    scl[core], scl[fringe], scl[shadow] = 9, 8, 3
    if rng.random() < 0.3:
        cirrus = (xx + yy) % 40 < 6
        refl[cirrus & (scl != 9)] += 0.05
        scl[cirrus & (scl != 9)] = 10
    return float((core | fringe).mean())


def _write_item(out_dir: str, item_id: str, when, grid: Grid, dn: np.ndarray, scl: np.ndarray, cloud: float):
    import pystac

    folder = os.path.join(out_dir, "imagery", item_id)
    os.makedirs(folder, exist_ok=True)
    bbox = grid.lonlat_bbox()
    w, s, e, n = bbox.as_tuple()
    item = pystac.Item(
        id=item_id,
        geometry={"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
        bbox=[w, s, e, n],
        datetime=when,
        properties={
            "platform": "sentinel-2x (synthetic)",
            "eo:cloud_cover": round(cloud, 2),
            "s2:processing_baseline": "05.09",
            "proj:code": f"EPSG:{grid.epsg}",
            "tsmap:synthetic": True,
        },
    )
    for band in ALL_BANDS:
        factor = band.resolution // 10
        coarse = Grid(grid.epsg, grid.bounds, float(band.resolution))
        if band is SCL:
            data = scl[::factor, ::factor]
            raster = {"nodata": 0, "data_type": "uint8"}
        else:
            index = [b.name for b in ALL_BANDS].index(band.name)
            data = dn[..., index]
            if factor > 1:  # 20 m bands: block mean (the strip stays 0: it is even)
                h, w_ = data.shape
                data = data.reshape(h // factor, factor, w_ // factor, factor).mean(axis=(1, 3)).astype(np.uint16)
            raster = {"nodata": 0, "data_type": "uint16", "scale": 0.0001, "offset": -0.1}
        path = write_cog(data, os.path.join(folder, f"{band.name}.tif"), coarse, nodata=0)
        item.add_asset(
            band.common,
            pystac.Asset(
                href=os.path.abspath(path),
                media_type=pystac.MediaType.COG,
                roles=["data"],
                extra_fields={
                    "proj:shape": list(coarse.shape),
                    "proj:transform": list(coarse.transform)[:6],
                    "raster:bands": [raster],
                    "eo:bands": [{"name": band.name, "common_name": band.common}],
                },
            ),
        )
    return item
