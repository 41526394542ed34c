"""Areas of interest given as polygons (GeoJSON, GeoPackage, Shapefile): read, bound, and mask a grid.

The run covers the polygons' bounding box; pixels outside the polygons are never encoded and come
out as no data in every output (255 in class maps, NaN elsewhere).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .geo import BBox, Grid

#: Vector formats read through GDAL/OGR (pyogrio).
SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".fgb")


@dataclass(frozen=True)
class AOI:
    """Polygons in lon/lat (EPSG:4326) as a GeoJSON geometry (JSON text, so the object stays hashable)."""

    geometry: str
    source: str = ""

    def __post_init__(self) -> None:
        geom = json.loads(self.geometry)
        if geom.get("type") not in ("Polygon", "MultiPolygon"):
            raise InputError(f"AOI {self.source or ''} must be polygons, got {geom.get('type')}; give a polygon layer")

    @property
    def bbox(self) -> BBox:
        xy = np.array(_coords(json.loads(self.geometry)), dtype=float)
        return BBox(float(xy[:, 0].min()), float(xy[:, 1].min()), float(xy[:, 0].max()), float(xy[:, 1].max()))

    def inside(self, grid: Grid) -> np.ndarray:
        """(y, x) bool: pixel centres of ``grid`` inside the polygons (edges are straight in lon/lat, as in
        GeoJSON: they are densified to a fifth of a pixel before projecting onto the grid)."""
        from rasterio.features import geometry_mask
        from rasterio.warp import transform_geom

        step = grid.resolution / 5 / 111_320  # degrees; finer than a fifth of a pixel anywhere
        geom = transform_geom("EPSG:4326", f"EPSG:{grid.epsg}", _densify(json.loads(self.geometry), step))
        return geometry_mask([geom], out_shape=grid.shape, transform=grid.transform, invert=True)


def read_aoi(path: str | os.PathLike) -> AOI:
    """The union of every polygon in a vector file (any CRS; reprojected to lon/lat)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"AOI file {path!r} does not exist; give a GeoJSON, GeoPackage or Shapefile with polygons")
    if not path.lower().endswith(SUFFIXES):
        raise InputError(f"AOI file {path!r} is not a vector file tsmap reads ({', '.join(SUFFIXES)})")
    import pyogrio
    import shapely
    from rasterio.warp import transform_geom

    try:
        meta, _, wkb, _ = pyogrio.raw.read(path, read_geometry=True, columns=[])
    except Exception as exc:
        raise InputError(
            f"cannot read AOI file {path!r} ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
        ) from None
    geoms = [g for g in shapely.from_wkb(wkb) if g is not None and not g.is_empty]
    polygons = [g for g in geoms if g.geom_type in ("Polygon", "MultiPolygon")]
    if not polygons:
        raise InputError(f"AOI file {path!r} holds no polygons ({len(geoms)} other geometries); give a polygon layer")
    union = shapely.union_all(polygons)
    geometry = shapely.geometry.mapping(union)
    crs = meta.get("crs") or "EPSG:4326"
    if crs.upper() not in ("EPSG:4326", "OGC:CRS84"):  # keep the file's straight edges: densify before projecting
        minx, miny, maxx, maxy = union.bounds
        geometry = transform_geom(crs, "EPSG:4326", _densify(geometry, max(maxx - minx, maxy - miny) / 2000))
    return AOI(json.dumps(_plain(geometry)), source=path)


def _densify(geom: dict, step: float) -> dict:
    """``geom`` with extra vertices so no edge is longer than ``step`` (in its own units)."""
    import shapely

    return shapely.geometry.mapping(shapely.segmentize(shapely.geometry.shape(geom), max_segment_length=step))


def _coords(geom: dict) -> list:
    if geom["type"] == "Polygon":
        return [c for ring in geom["coordinates"] for c in ring]
    return [c for poly in geom["coordinates"] for ring in poly for c in ring]


def _plain(obj):
    """Tuples -> lists, so the JSON text is canonical."""
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return float(obj) if isinstance(obj, (float, np.floating)) else obj
