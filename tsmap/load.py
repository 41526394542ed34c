"""Load STAC items into a lazy Sentinel-2 cube (time, band, y, x) on one target grid.

Fixes applied to the item metadata before stacking (see stackstac#262, #74):
asset keys are mapped to canonical band names through the band table, relative hrefs are
made absolute, ``proj:code`` is turned into ``proj:epsg``, and every item is warped to the
one target grid, so AOIs that cross UTM zones stack into one seamless cube.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import xarray as xr

from .bands import ALL_BANDS, BAND, BOA_ADD_OFFSET_DN, SPECTRAL_NAMES, TIME, asset_key
from .errors import DataError
from .geo import Grid

#: Default spatial chunk side (pixels). Memory per chunk ≈ n_items × 11 bands × chunk² × 4 bytes.
DEFAULT_CHUNK = 256
_BASELINE_04_START = dt.datetime(2022, 1, 25, tzinfo=dt.timezone.utc)


def load_cube(items: list, grid: Grid, *, chunk: int = DEFAULT_CHUNK, harmonise: bool = True) -> xr.DataArray:
    """Stack ``items`` on ``grid`` as float32 digital numbers, lazily.

    Returns a DataArray (time, band, y, x) with bands B02..B12 then SCL, NaN where no data.
    With ``harmonise`` the +1000 DN offset of processing baseline >= 04.00 is removed, so every
    scene is in the pre-2022 convention the TimeSenCLIP model was trained on.
    """
    import stackstac

    if not items:
        raise DataError("no items to load; the search found nothing")
    prepared = [_prepare_item(it) for it in items]
    cube = stackstac.stack(
        prepared,
        assets=[b.name for b in ALL_BANDS],
        epsg=grid.epsg,
        bounds=grid.bounds,
        resolution=grid.resolution,
        dtype="float32",
        fill_value=np.float32(np.nan),
        rescale=False,
        xy_coords="center",
        chunksize=(-1, -1, chunk, chunk),
        snap_bounds=False,
        errors_as_nodata=(),
    )
    cube.attrs.pop("spec", None)
    cube = cube.drop_vars([c for c in cube.coords if c not in (TIME, BAND, "x", "y", "id")])
    if harmonise:
        cube = _remove_offset(cube, [dn_offset(it) for it in items])
    cube.name = "s2"
    return cube


def dn_offset(item) -> int:
    """The digital-number offset of an item: 1000 from processing baseline 04.00 on, else 0.

    Read from ``raster:bands`` (offset -0.1 at scale 1e-4) when present, else from
    ``s2:processing_baseline``, else from the acquisition date (2022-01-25 on).
    """
    for band_name in SPECTRAL_NAMES:
        try:
            asset = item.assets[asset_key(item.assets, _band(band_name))]
        except KeyError:
            continue
        rb = asset.extra_fields.get("raster:bands") or []
        if rb and "offset" in rb[0]:
            scale = rb[0].get("scale", 1e-4) or 1e-4
            return int(round(-rb[0]["offset"] / scale))
        break
    baseline = item.properties.get("s2:processing_baseline")
    if baseline:
        return BOA_ADD_OFFSET_DN if float(baseline) >= 4.0 else 0
    when = item.datetime if item.datetime.tzinfo else item.datetime.replace(tzinfo=dt.timezone.utc)
    return BOA_ADD_OFFSET_DN if when >= _BASELINE_04_START else 0


def _band(name: str):
    return next(b for b in ALL_BANDS if b.name == name)


def _prepare_item(item) -> dict:
    """Item as a dict with canonical asset keys, absolute hrefs and ``proj:epsg``."""
    d = item.to_dict(include_self_link=False, transform_hrefs=False)
    assets = {}
    for band in ALL_BANDS:
        try:
            key = asset_key(item.assets, band)
        except KeyError:
            raise DataError(
                f"item {item.id!r} has no asset for band {band.name} (looked for {band.common!r}, {band.name!r} "
                "and eo:bands); use a Sentinel-2 L2A collection"
            ) from None
        asset = dict(d["assets"][key])
        asset["href"] = item.assets[key].get_absolute_href()
        assets[band.name] = _with_epsg(asset, d["properties"])
    d["assets"] = assets
    d["properties"] = _with_epsg(dict(d["properties"]), {})
    return d


def _with_epsg(meta: dict, fallback: dict) -> dict:
    if "proj:epsg" not in meta or meta["proj:epsg"] is None:
        code = meta.get("proj:code") or fallback.get("proj:code")
        epsg = fallback.get("proj:epsg")
        if isinstance(code, str) and code.upper().startswith("EPSG:"):
            epsg = int(code.split(":")[1])
        if epsg is not None:
            meta["proj:epsg"] = epsg
    return meta


def _remove_offset(cube: xr.DataArray, offsets: list[int]) -> xr.DataArray:
    if not any(offsets):
        return cube
    per_band = np.zeros((len(offsets), cube.sizes[BAND]), dtype=np.float32)
    is_spectral = np.isin(cube[BAND].values, SPECTRAL_NAMES)
    per_band[:, is_spectral] = np.asarray(offsets, dtype=np.float32)[:, None]
    shift = xr.DataArray(per_band, dims=(TIME, BAND))
    return (cube - shift).assign_attrs(cube.attrs)
