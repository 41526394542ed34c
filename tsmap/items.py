"""What a Sentinel-2 STAC item's metadata says: its band assets, CRS and digital-number offset.

Everything here reads metadata only (no pixels). :func:`prepare_item` turns an item into the dict
stackstac needs, working around its known gaps: asset keys are mapped to canonical band names through
the band table, relative hrefs are made absolute, and ``proj:code`` (projection extension v2) is
turned into the ``proj:epsg`` stackstac reads (stackstac#262).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from urllib.parse import urlsplit

from .bands import ALL_BANDS, BOA_ADD_OFFSET_DN, REFLECTANCE_SCALE, SPECTRAL, declared_bands, resolve_assets
from .errors import DataError
from .signing import unsigned

#: URL schemes an asset href may have in a remote catalog: HTTP and the object stores GDAL reads.
REMOTE_SCHEMES = ("http", "https", "s3", "gs", "az", "oss")

#: First acquisition day of processing baseline 04.00, which added +1000 to L2A digital numbers.
BASELINE_04_START = dt.datetime(2022, 1, 25, tzinfo=dt.timezone.utc)


def as_item(obj):
    """A ``pystac.Item`` from an item or an item dict."""
    import pystac

    return obj if isinstance(obj, pystac.Item) else pystac.Item.from_dict(obj)


def band_assets(item) -> dict[str, str]:
    """Canonical band -> asset key for all 10 spectral bands and SCL; :class:`DataError` if one is missing."""
    found = resolve_assets(item)
    missing = [b.name for b in ALL_BANDS if b.name not in found]
    if missing:
        raise DataError(
            f"item {item.id!r} has no asset for band(s) {', '.join(missing)} (its assets: "
            f"{', '.join(sorted(item.assets))}); "
            "use a Sentinel-2 L2A collection such as 'sentinel-2-l2a', or drop that item"
        )
    return found


def prepare_item(item) -> dict:
    """The item as a dict for stackstac: canonical band keys, absolute unsigned hrefs, ``proj:epsg`` set."""
    item = as_item(item)
    keys = band_assets(item)
    d = item.to_dict(include_self_link=False, transform_hrefs=False)
    props = _with_epsg(dict(d["properties"]), {})
    assets = {}
    for name, key in keys.items():
        asset = dict(d["assets"][key])
        asset["href"] = unsigned(asset_href(item, key))
        assets[name] = _with_epsg(asset, props)
    d["assets"], d["properties"] = assets, props
    return d


def asset_href(item, key: str) -> str:
    """Where to read asset ``key`` of ``item``: the one place hrefs are resolved.

    URLs with a scheme (``https://``, ``s3://``, ``file://``) and absolute local paths are used as they
    are (a local mirror that rewrote hrefs but kept the service's https ``self`` link reads its own
    files); only relative hrefs are joined onto the item's ``self`` link.
    """
    href = item.assets[key].href
    if "://" in href or os.path.isabs(href):
        return href
    return item.assets[key].get_absolute_href() or href


def acquisition(item) -> str:
    """The overpass an item belongs to: tiles of one overpass (neighbours, or one place in two UTM zones) share it.

    The datatake (without its processing-baseline suffix, so one overpass processed twice stays one),
    else satellite, day and relative orbit (two orbits of a day stay apart).
    """
    item = as_item(item)
    p = item.properties
    datatake = p.get("s2:datatake_id")
    if datatake:
        return re.sub(r"_N\d{2}\.\d{2}$", "", str(datatake))
    when = item.datetime or _start(item)
    orbit = relative_orbit(item)
    return f"{when:%Y-%m-%d}/{str(p.get('platform', '')).lower()}/R{'?' if orbit is None else f'{orbit:03d}'}"


def relative_orbit(item) -> int | None:
    """The relative orbit: ``sat:relative_orbit``, else the ``_R123_`` of the product name (Earth Search v0)."""
    p = as_item(item).properties
    if p.get("sat:relative_orbit") is not None:
        return int(p["sat:relative_orbit"])
    for name in (p.get("s2:product_uri"), p.get("sentinel:product_id"), as_item(item).id):
        m = re.search(r"_R(\d{3})_", str(name or ""))
        if m:
            return int(m[1])
    return None


def mgrs_tile(item) -> str:
    """The Sentinel-2 tile (MGRS square) of an item, e.g. ``59VPE``; ``?`` when its metadata do not say."""
    item = as_item(item)
    p = item.properties
    if p.get("s2:mgrs_tile"):
        return str(p["s2:mgrs_tile"])
    if str(p.get("grid:code", "")).startswith("MGRS-"):
        return str(p["grid:code"])[5:]
    for prefix in ("mgrs:", "sentinel:"):
        zone, band, square = (p.get(f"{prefix}{k}") for k in ("utm_zone", "latitude_band", "grid_square"))
        if zone and band and square:
            return f"{int(zone):02d}{band}{square}"
    m = re.search(r"_T?(\d{2}[C-X][A-Z]{2})_", f"_{item.id}_")
    return m[1] if m else "?"


def item_epsg(item) -> int | None:
    """EPSG code of an item's grid from ``proj:epsg`` or ``proj:code``; None if it gives neither."""
    return _with_epsg(dict(as_item(item).properties), {}).get("proj:epsg")


def dn_offsets(item) -> dict[str, int]:
    """Digital-number offset of each spectral band: 1000 from processing baseline 04.00 on, else 0.

    Read, in this order, from the band asset's raster metadata (``raster:bands`` offset -0.1 at scale
    1e-4 means DN = 10000 x reflectance + 1000), from ``s2:processing_baseline`` or
    ``processing:version``, and only when the item says neither, from the acquisition date.
    """
    item = as_item(item)
    keys = band_assets(item)
    fallback = _offset_from_properties(item)
    out = {}
    for b in SPECTRAL:
        from_raster = _offset_from_raster(item.assets[keys[b.name]].to_dict())
        out[b.name] = fallback if from_raster is None else from_raster
    return out


def _offset_from_raster(meta: dict) -> int | None:
    for entry in (meta.get("raster:bands") or [None])[:1] + declared_bands(meta)[:1] + [meta]:
        if not entry:
            continue
        offset = entry.get("offset", entry.get("raster:offset"))
        if offset is not None:
            scale = entry.get("scale", entry.get("raster:scale")) or REFLECTANCE_SCALE
            return int(round(-float(offset) / float(scale)))
    return None


def _offset_from_properties(item) -> int:
    baseline = item.properties.get("s2:processing_baseline") or item.properties.get("processing:version")
    if baseline:
        try:
            return BOA_ADD_OFFSET_DN if float(baseline) >= 4.0 else 0
        except ValueError:
            pass
    when = item.datetime or _start(item)
    when = when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)
    return BOA_ADD_OFFSET_DN if when >= BASELINE_04_START else 0


def _start(item) -> dt.datetime:
    return dt.datetime.fromisoformat(str(item.properties.get("start_datetime")).replace("Z", "+00:00"))


def _with_epsg(meta: dict, fallback: dict) -> dict:
    if meta.get("proj:epsg") is None:
        epsg = fallback.get("proj:epsg")
        code = meta.get("proj:code")
        if isinstance(code, str) and code.upper().startswith("EPSG:"):
            epsg = int(code.split(":", 1)[1])
        if epsg is not None:
            meta["proj:epsg"] = int(epsg)
    return meta


def check_href(href: str, *, item_id: str, band: str, catalog: str, local_ok: bool) -> None:
    """Refuse an asset href that would make GDAL read what the catalog must not choose.

    GDAL virtual paths (``/vsicurl/...``, ``/vsizip/...``: requests to any host, archives, ...) and
    chained schemes (``zip+https://``) are refused everywhere; a local path or ``file://`` URL only
    when ``local_ok`` (a local catalog, or the user's explicit opt-in); otherwise http(s) and
    object-store URLs (:data:`REMOTE_SCHEMES`).
    """
    parts = urlsplit(href)
    scheme = parts.scheme.lower() if len(parts.scheme) > 1 else ""  # "C:" is a drive, not a scheme
    path = parts.path if scheme == "file" else href
    where = f"item {item_id!r} of {catalog} gives band {band} as {href!r}"
    if scheme in ("", "file") and path.startswith("/vsi"):
        raise DataError(f"{where}, a GDAL virtual path; tsmap reads only plain paths and http(s) or object-store URLs")
    if scheme in ("", "file"):
        if not local_ok:
            raise DataError(
                f"{where}, a local file, but that catalog is remote: a remote catalog may point only at http(s) "
                "or object-store URLs (pass --allow-local-assets if you trust it)"
            )
    elif scheme not in REMOTE_SCHEMES:
        raise DataError(f"{where}; tsmap reads only paths and {', '.join(REMOTE_SCHEMES)} URLs")
