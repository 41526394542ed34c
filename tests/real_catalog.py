"""Real Sentinel-2 item metadata with small local imagery at the items' real grids (a test helper).

The item JSON in ``tests/data/stac-items`` (Earth Search v1; six tiles of a Planetary Computer overpass,
all 33 in the project's ``../shared/data/stac-items``) is kept as published: ids, datetimes, datatakes,
footprints, bboxes, ``proj:transform``/``proj:shape``/EPSG. Only the band hrefs change, to local sparse
GeoTIFFs at exactly those grids (10980 x 10980 px at 10 m, 5490 x 5490 at 20 m) that hold data only
around the lon/lat boxes a test reads, so a whole strip of tiles costs a few MB. Inside an item's real
footprint (its ``geometry``) pixels carry known values; outside they are nodata, the 20 m layers (SCL
among them) reaching further than the 10 m bands, as at real swath edges.

:func:`reference` is an independent per-pixel answer: it warps those files onto a grid by hand
(exact PROJ transforms, nearest source pixel) and merges each overpass's items by the documented
rule. GDAL warps with an approximate transformer (error <= 0.125 px), so a pixel whose source
location lies within ``tol`` of a change in the source (a footprint or cloud edge) is reported as
ambiguous instead of guessed.
"""

from __future__ import annotations

import copy
import json
import math
import os
from dataclasses import dataclass

import numpy as np
import rasterio
from affine import Affine
from rasterio.features import rasterize
from rasterio.warp import transform_bounds, transform_geom
from rasterio.windows import Window

from tsmap.bands import ALL_BANDS, SCL, SPECTRAL

from .conftest import data_path, shared_path

ES = "earth_search_v1_sentinel-2-l2a_items_extract.geojson"
PC = "planetary_computer_sentinel-2-l2a_items_extract.geojson"
#: Side of a Sentinel-2 tile (m): 10980 px at 10 m.
TILE_M = 109_800.0
#: SCL classes laid out in 700 m cells, shifted per item, so overlapping tiles disagree on clouds.
SCL_PATTERN = (4, 9, 5, 8, 6, 3)


def real_features(name: str) -> list[dict]:
    """The real item dicts of one vendored file (tests/data/stac-items)."""
    return json.loads(data_path("stac-items", name).read_text())["features"]


def shared_features(name: str) -> list[dict]:
    """All real items of one file in ../shared/data/stac-items (the 33-tile overpass the benchmarks sweep), named
    like its vendored extract."""
    return json.loads(shared_path("data", "stac-items", name.replace("_extract", "")).read_text())["features"]


def band_key(feature: dict, band) -> str:
    """The asset key of ``band`` (Earth Search common names, Planetary Computer / v0 band names)."""
    return band.common if band.common in feature["assets"] else band.name


def epsg_of(feature: dict) -> int:
    p = feature["properties"]
    return int(p.get("proj:epsg") or str(p["proj:code"]).split(":")[1])


def dn_value(k: int, j: int) -> int:
    """Harmonised DN of band ``j`` (0..9) in the ``k``-th item: tells which item a pixel came from."""
    return 1000 + 40 * k + 3 * j


def scl_value(k: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    cell = np.floor(x / 700) + np.floor(y / 700) + 2 * k
    return np.asarray(SCL_PATTERN, np.uint8)[cell.astype(np.int64) % len(SCL_PATTERN)]


@dataclass(frozen=True)
class Local:
    """One item made local: its dict (hrefs rewritten), index ``k`` and the DN offset written into its files."""

    feature: dict
    k: int
    offset: int

    @property
    def id(self) -> str:
        return self.feature["id"]


def localise(features: list[dict], folder, boxes, *, margin_m: float = 600.0, keep_self: bool = False) -> list[Local]:
    """Write local imagery for ``features`` around every lon/lat box in ``boxes`` (W,S,E,N; W > E crosses 180°).

    Returns the items with band hrefs rewritten to absolute local paths (other assets are dropped).
    Their https ``self`` links are removed unless ``keep_self`` (a mirror that kept them).
    """
    out = []
    for k, feature in enumerate(features):
        f = copy.deepcopy(feature)
        offset = _offset(f["properties"])
        item_dir = os.path.join(str(folder), f["id"])
        os.makedirs(item_dir, exist_ok=True)
        _write_bands(f, k, offset, item_dir, boxes, margin_m)
        f["assets"] = {band_key(f, b): {**f["assets"][band_key(f, b)], "href": os.path.join(item_dir, f"{b.name}.tif")}
                       for b in ALL_BANDS}
        if not keep_self:
            f["links"] = [link for link in f.get("links", []) if link.get("rel") != "self"]
        out.append(Local(f, k, offset))
    return out


def save_collection(items: list[Local], path) -> str:
    """The items as an item collection (.geojson), the static catalog ``tsmap --stac`` reads."""
    with open(path, "w") as f:
        json.dump({"type": "FeatureCollection", "features": [it.feature for it in items]}, f)
    return str(path)


def _offset(p: dict) -> int:
    """+1000 DN from processing baseline 04.00 (2022-01-25) on; v0 items say only the date."""
    if "s2:processing_baseline" in p:
        return 1000 if float(p["s2:processing_baseline"]) >= 4 else 0
    return 1000 if p["datetime"][:10] >= "2022-01-25" else 0


def _grid_of(feature: dict, band) -> tuple[Affine, tuple[int, int]]:
    asset = feature["assets"][band_key(feature, band)]
    t = asset["proj:transform"]
    return Affine(*t[:6]), tuple(asset["proj:shape"])


def _windows(feature: dict, boxes, margin_m: float) -> list[Window]:
    """20 m windows of the item's grid around each box (clipped to the tile)."""
    epsg = epsg_of(feature)
    tf, (h, w) = _grid_of(feature, SCL)
    res = tf.a
    out = []
    for box in boxes:
        minx, miny, maxx, maxy = transform_bounds("EPSG:4326", f"EPSG:{epsg}", *box, densify_pts=21)
        c0 = max(0, math.floor((minx - margin_m - tf.c) / res))
        c1 = min(w, math.ceil((maxx + margin_m - tf.c) / res))
        r0 = max(0, math.floor((tf.f - maxy - margin_m) / res))
        r1 = min(h, math.ceil((tf.f - miny + margin_m) / res))
        if c1 > c0 and r1 > r0:
            out.append(Window(c0, r0, c1 - c0, r1 - r0))
    return out


def _write_bands(f: dict, k: int, offset: int, item_dir: str, boxes, margin_m: float) -> None:
    epsg = epsg_of(f)
    footprint = transform_geom("EPSG:4326", f"EPSG:{epsg}", f["geometry"])
    windows = _windows(f, boxes, margin_m)
    files = {}
    try:
        for b in ALL_BANDS:
            tf, (h, w) = _grid_of(f, b)
            files[b.name] = rasterio.open(
                os.path.join(item_dir, f"{b.name}.tif"), "w", driver="GTiff", width=w, height=h, count=1,
                dtype="uint8" if b is SCL else "uint16", crs=f"EPSG:{epsg}", transform=tf, nodata=0,
                tiled=True, blockxsize=512, blockysize=512, compress="deflate", sparse_ok=True,
            )
        for win in windows:
            for b in ALL_BANDS:
                f20 = 20 // b.resolution  # 10 m bands: the 20 m window at twice the size
                bw = Window(win.col_off * f20, win.row_off * f20, win.width * f20, win.height * f20)
                wtf = rasterio.windows.transform(bw, files[b.name].transform)
                shape = (int(bw.height), int(bw.width))
                inside = rasterize([(footprint, 1)], out_shape=shape, transform=wtf, all_touched=b.resolution >= 20,
                                   dtype="uint8").astype(bool)
                if b is SCL:
                    cols, rows = np.meshgrid(np.arange(shape[1]) + 0.5, np.arange(shape[0]) + 0.5)
                    xs, ys = wtf @ (cols, rows)
                    data = np.where(inside, scl_value(k, np.asarray(xs), np.asarray(ys)), 0).astype(np.uint8)
                else:
                    j = [s.name for s in SPECTRAL].index(b.name)
                    data = np.where(inside, dn_value(k, j) + offset, 0).astype(np.uint16)
                files[b.name].write(data, 1, window=bw)
    finally:
        for ds in files.values():
            ds.close()


def edge_boxes(feature: dict, *, per_edge: int, side_m: float) -> list[tuple[float, float, float, float]]:
    """Lon/lat boxes of ``side_m`` straddling each of the four edges of the item's tile, ``per_edge`` per edge."""
    epsg = epsg_of(feature)
    tf, _ = _grid_of(feature, SCL)
    x0, y1 = tf.c, tf.f
    x1, y0 = x0 + TILE_M, y1 - TILE_M
    points = []
    for i in range(per_edge):
        t = (i + 0.5) / per_edge
        points += [(x0 + t * TILE_M, y1), (x0 + t * TILE_M, y0), (x0, y0 + t * TILE_M), (x1, y0 + t * TILE_M)]
    half = side_m / 2
    return [transform_bounds(f"EPSG:{epsg}", "EPSG:4326", x - half, y - half, x + half, y + half, densify_pts=21)
            for x, y in points]


@dataclass(frozen=True)
class Reference:
    """The expected merged cube on a grid, per overpass group."""

    values: np.ndarray  #: (groups, 11, H, W) harmonised DN (B02..B12, SCL), NaN without data
    ambiguous: np.ndarray  #: (groups, H, W) pixels GDAL's approximate warp may resolve either way
    source: np.ndarray  #: (groups, H, W) index (within the group) of the item a pixel comes from, -1 for none
    ranks: tuple  #: per group (items, H, W): 0 complete and clear, 1 complete but masked, 2 SCL only, 3 no data

    @property
    def has_data(self) -> np.ndarray:
        """(groups, H, W): SCL and all ten bands valid."""
        return ~np.isnan(self.values).any(axis=1)

    def naive_rank(self, g: int = 0) -> np.ndarray:
        """(H, W) rank of what a naive merge takes (the first item with a valid SCL); 3 where there is none."""
        rank = self.ranks[g]
        first = np.argmax(rank < 3, axis=0)
        return np.take_along_axis(rank, first[None], axis=0)[0]


def footprint_boxes(feature: dict, *, count: int, side_m: float, inset_m: float = 500.0) -> list[tuple]:
    """Lon/lat boxes of ``side_m`` centred on ``count`` points of the item's data edge (its footprint's boundary)
    inside its tile, at least ``inset_m`` from the tile's own edges: swath edges and nodata corners."""
    epsg = epsg_of(feature)
    tf, _ = _grid_of(feature, SCL)
    x0, y1 = tf.c, tf.f
    footprint = transform_geom("EPSG:4326", f"EPSG:{epsg}", feature["geometry"])
    rings = (
        [p[0] for p in footprint["coordinates"]]
        if footprint["type"] == "MultiPolygon"
        else [footprint["coordinates"][0]]
    )
    inner = []
    for ring in rings:
        for (xa, ya), (xb, yb) in zip(ring[:-1], ring[1:]):
            for t in np.linspace(0, 1, 50, endpoint=False):
                x, y = xa + t * (xb - xa), ya + t * (yb - ya)
                if min(x - x0, x0 + TILE_M - x, y1 - y, y - (y1 - TILE_M)) > inset_m:
                    inner.append((x, y))
    picks = [inner[i] for i in np.linspace(0, len(inner) - 1, count).round().astype(int)] if inner else []
    half = side_m / 2
    return [transform_bounds(f"EPSG:{epsg}", "EPSG:4326", x - half, y - half, x + half, y + half, densify_pts=21)
            for x, y in dict.fromkeys(picks)]


def reference(items: list[Local], grid, *, groups: list[list[str]], masked, tol: float = 0.2) -> Reference:
    """The brute-force merged cube on ``grid``: each group lists the ids of one overpass in time order.

    A pixel of a group comes from its first item where SCL and all ten bands are valid and SCL is not
    in ``masked``; else the first where all are valid; else the first where SCL is valid; else none.
    """
    from pyproj import Transformer

    h, w = grid.shape
    xs = grid.bounds[0] + (np.arange(w) + 0.5) * grid.resolution
    ys = grid.bounds[3] - (np.arange(h) + 0.5) * grid.resolution
    gx, gy = np.meshgrid(xs, ys)
    by_id = {it.id: it for it in items}
    out = {"values": [], "ambiguous": [], "source": [], "ranks": []}
    for ids in groups:
        obs = [_sample(by_id[i], gx, gy, grid.epsg, tol, Transformer) for i in ids]
        vals = np.stack([o[0] for o in obs])  # (n, 11, H, W)
        scl = vals[:, -1]
        complete = ~np.isnan(vals).any(axis=1)
        rank = np.where(np.isnan(scl), 3, np.where(~complete, 2, np.where(np.isin(scl, masked), 1, 0)))
        order = rank * len(ids) + np.arange(len(ids))[:, None, None]
        best = np.argmin(order, axis=0)
        none = rank.min(axis=0) == 3
        merged = np.take_along_axis(vals, best[None, None], axis=0)[0]
        merged[:, none] = np.nan
        out["values"].append(merged)
        out["ambiguous"].append(np.stack([o[1] for o in obs]).any(axis=0))
        out["source"].append(np.where(none, -1, best))
        out["ranks"].append(rank)
    return Reference(**{k: (tuple(v) if k == "ranks" else np.stack(v)) for k, v in out.items()})


def _sample(item: Local, gx, gy, grid_epsg: int, tol: float, transformer):
    """(11, H, W) harmonised values of ``item`` at the grid's pixel centres, and where that is ambiguous."""
    f = item.feature
    epsg = epsg_of(f)
    t = transformer.from_crs(f"EPSG:{grid_epsg}", f"EPSG:{epsg}", always_xy=True)
    sx, sy = t.transform(gx, gy)
    out = np.full((len(ALL_BANDS),) + gx.shape, np.nan, np.float32)
    amb = np.zeros(gx.shape, bool)
    tf, _ = _grid_of(f, SCL)
    if not ((sx > tf.c - 50) & (sx < tf.c + TILE_M + 50) & (sy < tf.f + 50) & (sy > tf.f - TILE_M - 50)).any():
        return out, amb  # the tile is nowhere near the grid
    for i, b in enumerate(ALL_BANDS):
        tf, (h, w) = _grid_of(f, b)
        col = (sx - tf.c) / tf.a
        row = (sy - tf.f) / tf.e
        with rasterio.open(f["assets"][band_key(f, b)]["href"]) as ds:
            pick = []
            for dc, dr in ((0, 0), (-tol, -tol), (-tol, tol), (tol, -tol), (tol, tol)):
                c, r = np.floor(col + dc).astype(np.int64), np.floor(row + dr).astype(np.int64)
                pick.append(_read_at(ds, r, c, h, w))
        v = pick[0].astype(np.float32)
        v[v == 0] = np.nan
        if b is not SCL:
            v -= item.offset
        out[i] = v
        amb |= np.any([p != pick[0] for p in pick[1:]], axis=0)
    return out, amb


def _read_at(ds, r: np.ndarray, c: np.ndarray, h: int, w: int) -> np.ndarray:
    """Source pixel values at rows ``r``, cols ``c`` (0 = nodata outside the raster)."""
    inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
    out = np.zeros(r.shape, np.int64)
    if not inside.any():
        return out
    r0, r1, c0, c1 = r[inside].min(), r[inside].max() + 1, c[inside].min(), c[inside].max() + 1
    block = ds.read(1, window=Window(c0, r0, c1 - c0, r1 - r0))
    out[inside] = block[r[inside] - r0, c[inside] - c0]
    return out


# --- crafted twins of real items -------------------------------------------------------------------


def antimeridian_pair(feature: dict) -> list[dict]:
    """Two twins of a real UTM-zone-60 item whose tiles cross 180°: one at the east end of zone 60, one at the
    west end of zone 1, both of the item's overpass, with W > E bboxes and footprints split at 180° (GeoJSON)."""
    y_top = _grid_of(feature, SCL)[0].f
    out = []
    for zone, x0, square in ((60, 600_000.0, "XK"), (1, 300_000.0, "CK")):
        f = _moved(feature, epsg=32600 + zone, x0=x0, y0=y_top, tile=f"{zone:02d}V{square}")
        w, s, e, n = transform_bounds(f"EPSG:{32600 + zone}", "EPSG:4326", x0, y_top - TILE_M, x0 + TILE_M, y_top,
                                      densify_pts=21)
        assert w > e, "a twin that does not cross 180°"
        f["bbox"] = [w, s, e, n]
        west = [[w, s], [180.0, s], [180.0, n], [w, n], [w, s]]
        east = [[-180.0, s], [e, s], [e, n], [-180.0, n], [-180.0, s]]
        f["geometry"] = {"type": "MultiPolygon", "coordinates": [[west], [east]]}
        out.append(f)
    return out


def _moved(feature: dict, *, epsg: int, x0: float, y0: float, tile: str) -> dict:
    """A copy of ``feature`` for another tile: id, MGRS tile, EPSG and every asset's grid origin changed."""
    f = copy.deepcopy(feature)
    old = f["properties"]["s2:mgrs_tile"]
    f["id"] = f["id"].replace(old, tile)
    f["properties"].update({"s2:mgrs_tile": tile, "proj:epsg": epsg})
    for asset in f["assets"].values():
        if "proj:transform" in asset:
            t = asset["proj:transform"]
            asset["proj:transform"] = [t[0], t[1], x0, t[3], t[4], y0, *t[6:]]
    return f


def three_d(feature: dict, zmin: float = -12.0, zmax: float = 2100.0) -> dict:
    """The item with a 6-number bbox (STAC allows heights: W, S, zmin, E, N, zmax)."""
    f = copy.deepcopy(feature)
    w, s, e, n = f["bbox"]
    f["bbox"] = [w, s, zmin, e, n, zmax]
    return f


def earth_search_v0(feature: dict) -> dict:
    """An Earth Search v1 item as Earth Search v0 published it: collection ``sentinel-s2-l2a-cogs``, band-name
    asset keys (``B02``, ``SCL``), ``sentinel:*`` properties, no processing baseline, datatake or raster offsets."""
    f = copy.deepcopy(feature)
    p = f["properties"]
    zone, band, square = p["mgrs:utm_zone"], p["mgrs:latitude_band"], p["mgrs:grid_square"]
    product = p["s2:product_uri"].removesuffix(".SAFE")
    f["properties"] = {
        "datetime": p["datetime"], "platform": p["platform"], "constellation": "sentinel-2", "instruments": ["msi"],
        "gsd": 10, "proj:epsg": p["proj:epsg"], "eo:cloud_cover": p["eo:cloud_cover"],
        "sentinel:utm_zone": zone, "sentinel:latitude_band": band, "sentinel:grid_square": square,
        "sentinel:sequence": "0", "sentinel:product_id": product, "sentinel:data_coverage": 52.0,
    }
    f["collection"] = "sentinel-s2-l2a-cogs"
    f["stac_version"] = "1.0.0"
    f["stac_extensions"] = [e for e in f["stac_extensions"] if "projection" in e or "/eo/" in e]
    f["id"] = f"S2B_{zone}{band}{square}_{p['datetime'][:10].replace('-', '')}_0_L2A"
    assets = {}
    for b in ALL_BANDS:
        a = {k: v for k, v in f["assets"][b.common].items() if k not in ("raster:bands", "eo:bands")}
        if b is not SCL:
            a["eo:bands"] = [{"name": b.name, "common_name": b.common}]
        assets[b.name] = a
    f["assets"] = assets
    f["links"] = [link for link in f["links"] if link["rel"] != "self"]
    return f


def other_collection(feature: dict, collection: str = "landsat-c2-l2") -> dict:
    """An item of another collection over the same place and day (what a mixed static catalog holds)."""
    f = copy.deepcopy(feature)
    f["id"] = f"LC09_{f['id']}"
    f["collection"] = collection
    f["assets"] = {"red": {**f["assets"]["red"], "href": "https://example.org/landsat/red.tif"}}
    return f


def reprocessed(feature: dict, *, collection: str, baseline: str) -> dict:
    """The same acquisition processed again (another collection and processing baseline, same datatake)."""
    f = copy.deepcopy(feature)
    p = f["properties"]
    f["id"] = f"{f['id']}_N{baseline.replace('.', '')}"
    f["collection"] = collection
    p["s2:processing_baseline"] = baseline
    p["s2:datatake_id"] = p["s2:datatake_id"].rsplit("_N", 1)[0] + f"_N{baseline}"
    return f
