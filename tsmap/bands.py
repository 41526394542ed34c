"""The one band table: canonical Sentinel-2 bands, their native resolution and asset names.

Every other module asks this table; nothing else spells band names. :func:`resolve_assets` maps the
assets of any Sentinel-2 L2A STAC item (Earth Search common names ``blue``, Planetary Computer band
names ``B02``, CDSE-style ``B02_10m``) to the canonical bands, reading the ``eo:bands`` / STAC 1.1
``bands`` metadata first and the asset keys only where an asset declares no band.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Dimension names used across tsmap.


@dataclass(frozen=True)
class Band:
    """One Sentinel-2 L2A band."""

    name: str  #: canonical name, e.g. "B02"
    common: str  #: Earth Search v1 asset key, e.g. "blue"
    resolution: int  #: native ground sampling distance in metres


#: The 10 reflectance bands in the order the TimeSenCLIP encoder expects.
SPECTRAL: tuple[Band, ...] = (
    Band("B02", "blue", 10),
    Band("B03", "green", 10),
    Band("B04", "red", 10),
    Band("B05", "rededge1", 20),
    Band("B06", "rededge2", 20),
    Band("B07", "rededge3", 20),
    Band("B08", "nir", 10),
    Band("B8A", "nir08", 20),
    Band("B11", "swir16", 20),
    Band("B12", "swir22", 20),
)

#: The scene classification layer used for cloud masking.
SCL = Band("SCL", "scl", 20)

SPECTRAL_NAMES: tuple[str, ...] = tuple(b.name for b in SPECTRAL)
ALL_BANDS: tuple[Band, ...] = SPECTRAL + (SCL,)
ALL_NAMES: tuple[str, ...] = tuple(b.name for b in ALL_BANDS)

#: L2A digital numbers from processing baseline 04.00 on carry this offset.
BOA_ADD_OFFSET_DN = 1000
#: Scale from digital numbers to reflectance.
REFLECTANCE_SCALE = 1e-4

_RASTER_TYPES = ("image/tiff", "image/x.geotiff", "image/vnd.stac.geotiff")


def band(name: str) -> Band:
    """The table entry for a canonical or alternative band name (``B8A``, ``B08A``, ``b2``, ``SCL``)."""
    canon = canonical_name(name)
    for b in ALL_BANDS:
        if b.name == canon:
            return b
    raise KeyError(name)


def canonical_name(name: str) -> str:
    """``B2``/``b02`` -> ``B02``, ``B08A`` -> ``B8A``; other names upper-cased."""
    m = re.fullmatch(r"B0*(\d{1,2})(A?)", str(name).strip().upper())
    if not m:
        return str(name).strip().upper()
    return f"B{int(m[1])}A" if m[2] else f"B{int(m[1]):02d}"


def resolve_assets(item) -> dict[str, str]:
    """Canonical band name -> asset key for every band of :data:`ALL_BANDS` that ``item`` has.

    ``item`` is a ``pystac.Item`` or an item dict. Bands an asset declares in ``eo:bands`` or
    ``bands`` are read from there (``name`` as a band id, ``B05``, or an alias, ``rededge1``; else
    ``common_name``); assets that declare none are matched by key (``blue``, ``B02``, ``b02``,
    ``B02_10m``, ``scl``). Among several candidates (Earth Search lists a JPEG2000 twin of
    each COG, CDSE one file per resolution) a GeoTIFF at the band's native resolution wins.
    """
    assets = item["assets"] if isinstance(item, dict) else {k: a.to_dict() for k, a in item.assets.items()}
    found: dict[str, str] = {}
    for b in ALL_BANDS:
        ranked = sorted((_rank(key, meta, b), key) for key, meta in assets.items() if _declares(key, meta, b))
        if ranked:
            found[b.name] = ranked[0][1]
    return found


def declared_bands(meta: dict) -> list[dict]:
    """The band objects an asset declares: ``eo:bands`` (STAC 1.0) or ``bands`` (STAC 1.1)."""
    return list(meta.get("eo:bands") or meta.get("bands") or [])


def _declares(key: str, meta: dict, b: Band) -> bool:
    bands = declared_bands(meta)
    if len(bands) > 1:  # multi-band assets (true colour) cannot be stacked band by band
        return False
    if bands:  # "name" may be a band id (B05) or a key-like alias (rededge1); common names can be vague (rededge)
        named = _named_band(bands[0].get("name"))
        if named is not None:
            return named == b
        return (bands[0].get("common_name") or bands[0].get("eo:common_name")) == b.common
    k = key.lower()
    return k in (b.common, b.name.lower()) or re.fullmatch(rf"{b.name.lower()}_\d+m", k) is not None


def _named_band(name) -> Band | None:
    if not name:
        return None
    canon = canonical_name(name)
    return next((b for b in ALL_BANDS if canon == b.name or str(name).lower() == b.common), None)


def _rank(key: str, meta: dict, b: Band) -> tuple:
    media = str(meta.get("type") or "")
    is_raster = any(media.startswith(t) for t in _RASTER_TYPES) or (not media and key.lower().endswith(("tif", "tiff")))
    res = _resolution(key, meta)
    roles = meta.get("roles") or []
    return (
        not is_raster and bool(media),  # GeoTIFF/COG first; JPEG2000 twins last
        res is not None and res != b.resolution,  # native resolution first
        res or 0,
        "data" not in roles and bool(roles),
        key,
    )


def _resolution(key: str, meta: dict) -> float | None:
    for rb in meta.get("raster:bands") or meta.get("bands") or []:
        for field in ("spatial_resolution", "raster:spatial_resolution"):
            if rb.get(field):
                return float(rb[field])
    if meta.get("gsd"):
        return float(meta["gsd"])
    if meta.get("proj:transform"):
        return abs(float(meta["proj:transform"][0]))
    m = re.search(r"_(\d+)m$", key)
    return float(m[1]) if m else None
