"""Load STAC items into a lazy Sentinel-2 cube (time, band, y, x) on one target grid.

Every item is warped onto the one target grid (its own UTM zone or not), so AOIs that cross UTM
zones stack into one seamless cube (stackstac#74 never arises: the CRS is always given). Item
metadata is fixed up first by :func:`tsmap.items.prepare_item` (canonical band keys, absolute
hrefs, ``proj:code`` -> ``proj:epsg``). Nothing is read until a chunk is computed.

Memory: the cube is chunked in space only (time and band whole per chunk, as the compositor and the
encoder need), so one chunk holds ``n_times x 11 bands x chunk² x 4 bytes`` (:func:`chunk_bytes`):
e.g. 73 acquisitions at ``chunk=256`` are 210 MB. Compositing a chunk needs about twice that, per
dask thread, plus GDAL's caches, bounded in :mod:`tsmap.gdal_config` (where all of GDAL's settings for
reading live).
"""

from __future__ import annotations

import functools

import numpy as np
import xarray as xr

from .bands import ALL_NAMES, SCL
from .dims import BAND, TIME
from .specs import RULE_MASKS
from .errors import DataError, InputError
from .gdal_config import gdal_env
from .geo import Grid
from .georef import with_crs
from .items import acquisition, as_item, dn_offsets, prepare_item
from .reader import AssetReader
from .signing import Signer, needs_signing

#: Default spatial chunk side (pixels).
DEFAULT_CHUNK = 256


def load_cube(
    items: list,
    grid: Grid,
    *,
    chunk: int = DEFAULT_CHUNK,
    harmonise: bool = True,
    merge_same_day: bool = True,
    masked: tuple[int, ...] = RULE_MASKS["clean"],
    signer: Signer | str | None = "auto",
    asset_tasks: bool = False,
    gdal_options: dict | None = None,
    skip_assets: frozenset[str] = frozenset(),
) -> xr.DataArray:
    """Stack ``items`` on ``grid`` as float32 digital numbers, lazily.

    Returns a DataArray (time, band, y, x) with bands B02..B12 then SCL, NaN where there is no data,
    sorted by time. With ``harmonise`` the +1000 DN offset of processing baseline >= 04.00 is
    removed band by band, so every scene is in the pre-2022 convention the TimeSenCLIP model was
    trained on. With ``merge_same_day`` items of one overpass (same datatake, or same satellite, day
    and relative orbit: neighbouring tiles, e.g. on both sides of a UTM zone border) become one time
    step. Where their footprints overlap, each pixel comes from the first item (in time order) whose
    SCL and ten bands are all valid there and whose SCL class is not in ``masked`` (pass the cloud
    rule's classes, ``CompositeSpec.masked``): the tiles of one overpass should agree, and when their
    cloud masks do not, a clear pixel beats a masked one. Failing that, the first item with all bands
    valid, then the first with a valid SCL (a pixel missing some bands, as at swath edges, only when
    no tile has it whole). Nothing counts twice. Items whose projected footprint misses ``grid`` are
    left out; if none reaches it, the cube has no time steps.
    ``signer``: ``"auto"`` signs Planetary Computer hrefs at read time (re-signing when tokens
    expire), None never signs, or give a :class:`tsmap.signing.Signer`. With ``asset_tasks`` every
    (time, band) asset is read by its own dask task, so a threaded scheduler reads them concurrently
    (the chunks are then joined to whole time and band again). ``gdal_options`` are GDAL settings for
    every open and read, in whichever thread does it (e.g. a retry policy's timeouts).
    Assets whose href is in ``skip_assets`` are left out (NaN there, as for an item without that band).
    """
    import stackstac

    if not items:
        raise DataError("no items to load; the search found nothing")
    if int(chunk) < 16:
        raise InputError(f"chunk size {chunk} is too small; use at least 16 pixels (default {DEFAULT_CHUNK})")
    items = sorted((as_item(it) for it in items), key=lambda it: it.datetime)
    prepared = [prepare_item(it) for it in items]
    offsets = _offsets_by_href(items, prepared) if harmonise else {}
    for d in prepared if skip_assets else ():
        d["assets"] = {k: a for k, a in d["assets"].items() if a["href"] not in skip_assets}
    cube = stackstac.stack(
        prepared,
        assets=list(ALL_NAMES),
        epsg=grid.epsg,
        bounds=grid.bounds,
        resolution=grid.resolution,
        dtype="float32",
        fill_value=np.float32(np.nan),
        rescale=False,
        sortby_date=False,
        xy_coords="center",
        chunksize=(1 if asset_tasks else -1, 1 if asset_tasks else -1, int(chunk), int(chunk)),
        snap_bounds=False,
        errors_as_nodata=(),
        gdal_env=gdal_env(len(items) * len(ALL_NAMES), gdal_options),
        reader=functools.partial(AssetReader, signer=_signer(signer, prepared), offsets=offsets),
    )
    cube.attrs.pop("spec", None)
    cube = cube.drop_vars([c for c in cube.coords if c not in (TIME, BAND, "x", "y", "id")])
    if cube.sizes[TIME] == 0:  # stackstac drops items whose footprint misses the grid: here, all of them
        cube = _no_acquisitions(cube, grid, int(chunk))
    elif asset_tasks:
        cube = cube.chunk({TIME: -1, BAND: -1})
    if merge_same_day and cube.sizes[TIME]:
        overpass = {it.id: acquisition(it) for it in items}
        cube = _merge_same_day(cube, [overpass[i] for i in cube["id"].values], masked=tuple(masked))
    cube.name = "s2"
    return with_crs(cube, grid.epsg)


def chunk_bytes(n_times: int, chunk: int = DEFAULT_CHUNK) -> int:
    """Bytes of one cube chunk: ``n_times`` x 11 bands x ``chunk``² float32."""
    return int(n_times) * len(ALL_NAMES) * int(chunk) ** 2 * 4


def _signer(signer, prepared: list[dict]) -> Signer | None:
    if signer != "auto":
        return signer
    hrefs = (a["href"] for d in prepared for a in d["assets"].values())
    return Signer() if any(needs_signing(h) for h in hrefs) else None


def _offsets_by_href(items, prepared: list[dict]) -> dict[str, int]:
    """href -> DN offset to subtract, for every spectral asset that carries one (applied by the reader)."""
    out = {}
    for item, d in zip(items, prepared):
        for name, offset in dn_offsets(item).items():
            if offset:
                out[d["assets"][name]["href"]] = offset
    return out


def _merge_same_day(cube: xr.DataArray, keys: list[str], *, masked: tuple[int, ...]) -> xr.DataArray:
    """One time step per overpass; ``keys`` holds each time step's overpass (from the items that reached the cube)."""
    groups = list(dict.fromkeys(keys))
    if len(groups) == len(keys):
        return cube
    index = np.array([groups.index(k) for k in keys])
    first = [int(np.flatnonzero(index == g)[0]) for g in range(len(groups))]
    ids = [",".join(str(i) for i in cube["id"].values[index == g]) for g in range(len(groups))]
    scl = list(cube[BAND].values).index(SCL.name)
    data = cube.data.map_blocks(
        _best_valid, index=index, n=len(groups), scl=scl, masked=masked,
        chunks=((len(groups),),) + cube.data.chunks[1:], dtype=cube.dtype,
    )
    coords = {TIME: cube[TIME].values[first], "id": (TIME, ids), BAND: cube[BAND], "y": cube.y, "x": cube.x}
    return xr.DataArray(data, dims=cube.dims, coords=coords, attrs=cube.attrs)


def _best_valid(block: np.ndarray, *, index: np.ndarray, n: int, scl: int, masked: tuple[int, ...]) -> np.ndarray:
    """(time, band, y, x) -> (n, band, y, x): per group, each pixel from its best item there (see ``load_cube``).

    Rank of an observation: 0 all valid and clear, 1 all valid but masked, 2 SCL valid but a band
    missing, 3 no data; the lowest rank wins, the first item among equals.
    """
    out = np.full((n,) + block.shape[1:], np.nan, dtype=block.dtype)
    best = np.full((n,) + block.shape[2:], 3, dtype=np.int8)
    for t, g in enumerate(index):
        obs = block[t]
        complete = ~np.isnan(obs).any(axis=0)
        rank = np.where(complete, np.isin(obs[scl], masked).astype(np.int8), np.int8(2))
        rank[np.isnan(obs[scl])] = 3
        take = rank < best[g]
        out[g][:, take] = obs[:, take]
        best[g][take] = rank[take]
    return out


def _no_acquisitions(cube: xr.DataArray, grid: Grid, chunk: int) -> xr.DataArray:
    """The cube of a grid no item reaches: every band, no time steps."""
    import dask.array as da

    h, w = grid.shape
    data = da.full((0, len(ALL_NAMES), h, w), np.nan, dtype=np.float32, chunks=(-1, -1, chunk, chunk))
    coords = {TIME: np.array([], dtype="datetime64[ns]"), "id": (TIME, np.array([], dtype=object)),
              BAND: list(ALL_NAMES), "y": cube.y, "x": cube.x}
    return xr.DataArray(data, dims=(TIME, BAND, "y", "x"), coords=coords, attrs=cube.attrs)
