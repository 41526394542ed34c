"""Areas of interest and output grids: lon/lat boxes, UTM zones, pixel-aligned grids."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from .errors import InputError

#: Largest AOI accepted without ``force=True`` (km²).
MAX_AOI_KM2 = 10_000.0
#: Widest box (degrees of longitude) read as crossing the antimeridian when W > E; wider ones are swapped W and E.
MAX_CROSSING_DEG = 180.0


@dataclass(frozen=True)
class BBox:
    """A lon/lat box in degrees (WGS84): west, south, east, north; W > E crosses the antimeridian (180°)."""

    west: float
    south: float
    east: float
    north: float

    def __post_init__(self) -> None:
        vals = (self.west, self.south, self.east, self.north)
        if not all(math.isfinite(v) for v in vals):
            raise InputError(f"bbox {vals} has a non-finite value; give four numbers W,S,E,N")
        if not (-180 <= self.west <= 180 and -180 <= self.east <= 180):
            raise InputError(
                f"bbox longitude out of range in {vals}; longitudes must lie in [-180, 180] (order is W,S,E,N)"
            )
        if not (-90 <= self.south <= 90 and -90 <= self.north <= 90):
            raise InputError(
                f"bbox latitude out of range in {vals}; latitudes must lie in [-90, 90] (order is W,S,E,N)"
            )
        if self.width == 0 or self.south >= self.north:
            raise InputError(
                f"bbox {vals} is inverted or has zero area; the order is W,S,E,N with W < E and S < N"
            )
        if self.crosses_antimeridian and self.width > MAX_CROSSING_DEG:
            raise InputError(
                f"bbox {vals} is inverted: W > E means crossing the antimeridian (180°), but this box would span "
                f"{self.width:g}° of longitude; the order is W,S,E,N, so swap W and E (or split a box this wide)"
            )

    @classmethod
    def parse(cls, text: str) -> "BBox":
        """Parse ``"W,S,E,N"``."""
        parts = [p for p in str(text).replace(" ", "").split(",") if p != ""]
        if len(parts) != 4:
            raise InputError(f"bbox {text!r} must be 4 comma-separated numbers W,S,E,N (lon/lat degrees)")
        try:
            nums = [float(p) for p in parts]
        except ValueError:
            raise InputError(f"bbox {text!r} must be 4 comma-separated numbers W,S,E,N (lon/lat degrees)") from None
        return cls(*nums)

    @property
    def crosses_antimeridian(self) -> bool:
        """True for W > E: the box runs east from W across 180° to E (the GeoJSON/STAC convention)."""
        return self.west > self.east

    @property
    def width(self) -> float:
        """Longitude span in degrees (across 180° when the box crosses it)."""
        return (self.east - self.west) % 360 if self.crosses_antimeridian else self.east - self.west

    @property
    def centre(self) -> tuple[float, float]:
        lon = self.west + self.width / 2
        return (lon - 360 if lon > 180 else lon), (self.south + self.north) / 2

    def parts(self) -> tuple["BBox", ...]:
        """The box split at the antimeridian: itself, or its parts west and east of 180°."""
        return tuple(BBox(*p) for p in lonlat_parts(self.as_tuple()))

    def geometry(self) -> dict:
        """The box as a GeoJSON geometry: a Polygon, or a MultiPolygon split at 180° (RFC 7946, 3.1.9)."""
        rings = [[[[w, s], [e, s], [e, n], [w, n], [w, s]]] for w, s, e, n in lonlat_parts(self.as_tuple())]
        if len(rings) == 1:
            return {"type": "Polygon", "coordinates": rings[0]}
        return {"type": "MultiPolygon", "coordinates": rings}

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.west, self.south, self.east, self.north)

    def area_km2(self) -> float:
        """Approximate area on the sphere."""
        r = 6371.0088
        dlon = math.radians(self.width)
        return r * r * dlon * abs(math.sin(math.radians(self.north)) - math.sin(math.radians(self.south)))


def lonlat_parts(bbox) -> list[tuple[float, float, float, float]]:
    """A STAC/GeoJSON bbox (4 numbers, or 6 with heights) as boxes with W < E: two when it crosses 180°."""
    b = [float(v) for v in bbox]
    if len(b) == 6:
        b = [b[0], b[1], b[3], b[4]]
    if len(b) != 4:
        raise ValueError(f"a bbox has 4 or 6 numbers, got {len(b)}")
    w, s, e, n = b
    if w > e:  # crossing, as GeoJSON writes it
        parts = [(w, s, 180.0, n), (-180.0, s, e, n)]
    elif e > 180:  # crossing, written past 180° by some catalogs
        parts = [(w, s, 180.0, n), (-180.0, s, e - 360, n)]
    else:
        parts = [(w, s, e, n)]
    return [p for p in parts if p[0] < p[2]]


def intersects(a, b) -> bool:
    """Whether two lon/lat bboxes overlap (each a :class:`BBox` or 4/6 numbers; W > E crosses 180°)."""
    a = a.as_tuple() if isinstance(a, BBox) else a
    b = b.as_tuple() if isinstance(b, BBox) else b
    return any(w1 < e2 and e1 > w2 and s1 < n2 and n1 > s2
               for w1, s1, e1, n1 in lonlat_parts(a) for w2, s2, e2, n2 in lonlat_parts(b))


def check_area(bbox: BBox, *, max_km2: float = MAX_AOI_KM2, force: bool = False) -> None:
    """Refuse an AOI above ``max_km2`` unless ``force``: a typo in a bbox should not start a continent-sized run."""
    area = bbox.area_km2()
    if area > max_km2 and not force:
        raise InputError(
            f"AOI is {area:,.0f} km², above the {max_km2:,.0f} km² limit; pass --force (force=True) to map it anyway, "
            "or raise the limit with --max-area"
        )


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS84 UTM zone containing a point (UPS north/south beyond 84°N/80°S)."""
    if lat > 84:
        return 32661
    if lat < -80:
        return 32761
    zone = min(int((lon + 180) // 6) + 1, 60)
    return (32600 if lat >= 0 else 32700) + zone


#: Output pixel size in a projected CRS when none is given (m): Sentinel-2's finest bands.
DEFAULT_RESOLUTION_M = 10.0


def check_resolution(epsg: int, resolution: float | None) -> float:
    """The pixel size to use on ``epsg``: validated against the CRS's units, 10 m by default when projected.

    A geographic CRS counts in degrees, where "10" would be a 10-degree pixel: it needs an explicit
    resolution in degrees below 1 (1e-4 degrees is about 11 m north-south); a projected CRS needs one of
    at least 1 unit (a value below 1 m looks like degrees given by mistake).
    """
    geographic = _is_geographic(int(epsg))
    if resolution is not None and (isinstance(resolution, bool) or not math.isfinite(resolution) or resolution <= 0):
        raise InputError(f"resolution must be a positive number, got {resolution!r}")
    if geographic and resolution is None:
        raise InputError(
            f"EPSG:{epsg} is a geographic CRS (degrees), so the 10 m default pixel does not apply; give a resolution "
            "in degrees (e.g. 0.0001, about 11 m) or a projected CRS such as the UTM zone (omit --epsg)"
        )
    if geographic and resolution >= 1:
        raise InputError(f"resolution {resolution:g} in geographic EPSG:{epsg} is in degrees "
                         f"(about {resolution * 111:,.0f} km); give it in degrees, e.g. 0.0001 for about 11 m")
    if not geographic and resolution is not None and resolution < 1:
        raise InputError(f"resolution {resolution:g} in projected EPSG:{epsg} is in metres (or feet); "
                         "give the pixel size in those units, e.g. 10")
    return DEFAULT_RESOLUTION_M if resolution is None else float(resolution)


@functools.lru_cache(maxsize=64)
def _is_geographic(epsg: int) -> bool:
    import rasterio
    from rasterio.crs import CRS
    from rasterio.errors import CRSError

    try:
        with rasterio.Env():  # GDAL's messages go to logging, not as stray lines to stderr
            return CRS.from_epsg(epsg).is_geographic
    except (CRSError, ValueError, OverflowError):
        raise InputError(f"EPSG:{epsg} is not a known CRS; give a projected EPSG code in metres (e.g. 32632) "
                         "or omit --epsg") from None


@dataclass(frozen=True)
class Grid:
    """A north-up pixel grid: CRS, outer bounds (minx, miny, maxx, maxy) and pixel size."""

    epsg: int
    bounds: tuple[float, float, float, float]
    resolution: float = 10.0

    def __post_init__(self) -> None:
        minx, miny, maxx, maxy = self.bounds
        if not math.isfinite(self.resolution) or self.resolution <= 0:
            raise InputError(f"grid resolution must be a positive number, got {self.resolution}")
        if maxx <= minx or maxy <= miny:
            raise InputError(f"grid bounds {self.bounds} are empty; give (minx, miny, maxx, maxy)")

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        minx, miny, maxx, maxy = self.bounds
        return round((maxy - miny) / self.resolution), round((maxx - minx) / self.resolution)

    @property
    def transform(self):
        from affine import Affine

        return Affine(self.resolution, 0.0, self.bounds[0], 0.0, -self.resolution, self.bounds[3])

    @classmethod
    def from_bbox(cls, bbox: BBox, *, epsg: int | None = None, resolution: float | None = None) -> "Grid":
        """The grid covering ``bbox`` in ``epsg`` (default: UTM zone of the box centre), snapped outwards.

        ``resolution`` is in the CRS's units: 10 (m) when omitted for a projected CRS; a geographic CRS
        (degrees) needs it given (see :func:`check_resolution`).
        """
        from rasterio.warp import transform_bounds

        epsg = epsg or utm_epsg(*bbox.centre)
        resolution = check_resolution(epsg, resolution)
        minx, miny, maxx, maxy = transform_bounds("EPSG:4326", f"EPSG:{epsg}", *bbox.as_tuple(), densify_pts=21)
        if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
            raise InputError(
                f"bbox {bbox.as_tuple()} cannot be projected to EPSG:{epsg}; choose a CRS that covers the AOI"
            )
        r = resolution
        snapped = (math.floor(minx / r) * r, math.floor(miny / r) * r, math.ceil(maxx / r) * r, math.ceil(maxy / r) * r)
        return cls(epsg=epsg, bounds=snapped, resolution=resolution)

    def buffered(self, pixels: int) -> "Grid":
        """This grid grown by ``pixels`` on every side (e.g. the context P x P neighbourhoods need)."""
        m = int(pixels) * self.resolution
        minx, miny, maxx, maxy = self.bounds
        return Grid(self.epsg, (minx - m, miny - m, maxx + m, maxy + m), self.resolution)

    def _repr_html_(self) -> str:
        h, w = self.shape
        return (f"<div><strong>Grid</strong> {w} x {h} px at {self.resolution:g} m, EPSG:{self.epsg}, "
                f"bounds {tuple(round(b, 2) for b in self.bounds)}</div>")

    def lonlat_bbox(self) -> BBox:
        """The lon/lat box enclosing this grid."""
        from rasterio.warp import transform_bounds

        w, s, e, n = transform_bounds(f"EPSG:{self.epsg}", "EPSG:4326", *self.bounds, densify_pts=21)
        if w > e and (e - w) % 360 > MAX_CROSSING_DEG:  # around a pole: every longitude
            w, e = -180.0, 180.0
        return BBox(w, s, e, n)


def epsg_of(crs: str | int) -> int:
    """The EPSG code of a CRS given as a code (``32632``, ``"EPSG:32632"``) or a WKT/PROJ string that has one."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    text = str(crs).strip()
    try:
        parsed = CRS.from_user_input(int(text) if text.isdigit() else text)
    except CRSError as exc:
        raise InputError(
            f"CRS {text[:80]!r} is not valid ({' '.join(str(exc).split())[:120]}); give an EPSG code such as 32632"
        ) from None
    code = parsed.to_epsg()
    if code is None:
        raise InputError(
            f"CRS {text[:80]!r} matches no EPSG code; tsmap grids are defined by one, so give it (e.g. --crs 32632)"
        )
    return int(code)
