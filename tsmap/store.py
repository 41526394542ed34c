"""Tiled raster stores in Zarr v3: the embedding cube (``emb.zarr``) and the per-tile map parts.

A store is a Zarr group of arrays on one :class:`~tsmap.geo.Grid`, chunked by tile, so writing a
tile replaces exactly one chunk file per array (Zarr writes chunk files atomically). Every tile
written has its chunk files, nodata or not (``tsmap_every_chunk``), so a missing chunk is a hole, and
:func:`read_tile` says so, naming the tile, instead of reading it as nodata. The group
carries full georeferencing: ``x``/``y`` pixel-centre coordinates, a CF ``spatial_ref`` variable
(``crs_wkt``, ``GeoTransform``) that xarray and rioxarray understand, and the grid in ``attrs``.

Embeddings are stored L2-normalised as ``float16`` (default) or ``int8`` with a per-pixel float32
``scale`` (``embedding * scale`` restores them). The tile scorer always scores the dequantised
values, so re-scoring a store gives exactly the maps of the run that wrote it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .dims import EMBED, SPATIAL_REF, X, Y
from .errors import DataError, InputError
from .geo import Grid
from .tiles import Tile, tile_grid

ENCODINGS = ("float16", "int8")


@dataclass(frozen=True)
class Variable:
    """One array of a store: dtype, nodata fill and the names/sizes of leading (non-spatial) axes."""

    dtype: str
    fill: float | int
    lead: tuple[tuple[str, int], ...] = ()
    attrs: tuple[tuple[str, str], ...] = ()


class RasterStore:
    """A Zarr v3 group of tile-chunked rasters on one grid."""

    def __init__(self, path: str, group) -> None:
        self.path = path
        self.group = group
        meta = group.attrs["tsmap_grid"]
        self.grid = Grid(meta["epsg"], tuple(meta["bounds"]), meta["resolution"])
        self.tile_size = int(meta["tile"])

    @classmethod
    def create(
        cls, path: str | os.PathLike, *, grid: Grid, tile: int, variables: dict[str, Variable], attrs: dict
    ) -> "RasterStore":
        """A new, empty store at ``path`` (replacing whatever is there)."""
        import zarr
        from zarr.codecs import BloscCodec

        path = os.fspath(path)
        group = zarr.open_group(path, mode="w", zarr_format=3)
        grid_meta = {"epsg": grid.epsg, "bounds": list(grid.bounds), "resolution": grid.resolution, "tile": tile}
        group.attrs.update({**attrs, "tsmap_grid": grid_meta, "tsmap_every_chunk": True})
        height, width = grid.shape
        codec = BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")
        for name, var in variables.items():
            lead_names, lead_sizes = [n for n, _ in var.lead], [s for _, s in var.lead]
            group.create_array(
                name,
                shape=(*lead_sizes, height, width),
                chunks=(*lead_sizes, min(tile, height), min(tile, width)),
                dtype=var.dtype,
                fill_value=var.fill,
                compressors=codec,
                dimension_names=(*lead_names, Y, X),
                attributes={"grid_mapping": SPATIAL_REF, **dict(var.attrs)},
            )
        _write_georeferencing(group, grid)
        return cls(path, group)

    @classmethod
    def open(cls, path: str | os.PathLike, *, mode: str = "r") -> "RasterStore":
        import zarr

        path = os.fspath(path)
        if os.path.isfile(path):
            raise InputError(f"{path!r} is a file, not a store folder; give the .zarr folder `tsmap embed` wrote")
        if not os.path.isdir(path):
            raise InputError(
                f"store {path!r} does not exist; make one with `tsmap embed ... --out {os.path.basename(path)}`"
            )
        try:
            group = zarr.open_group(path, mode=mode, zarr_format=3)
            return cls(path, group)
        except Exception as exc:
            raise DataError(
                f"{path!r} is not a tsmap Zarr store ({type(exc).__name__}: {exc}); give the folder `tsmap embed` wrote"
            ) from None

    @property
    def tiles(self) -> list[Tile]:
        return tile_grid(self.grid, self.tile_size)

    @property
    def attrs(self) -> dict:
        return dict(self.group.attrs)

    def write(self, tile: Tile, name: str, data: np.ndarray) -> None:
        """Write one tile of array ``name`` (leading axes first, then y, x); its chunk file is written even
        when it holds only nodata."""
        arr = self.group[name].with_config({"write_empty_chunks": True})
        arr[(Ellipsis, *tile.slices)] = np.asarray(data, dtype=arr.dtype)

    def read(self, tile: Tile, name: str) -> np.ndarray:
        """One tile of array ``name``; a chunk that cannot be decoded is a :class:`DataError` naming the tile."""
        try:
            return self.group[name][(Ellipsis, *tile.slices)]
        except Exception as exc:
            text = " ".join(str(exc).split())[:200]
            raise DataError(
                f"store {self.path!r}: tile {tile.id} of array {name!r} cannot be decoded "
                f"({type(exc).__name__}: {text}); the store is damaged (a chunk was changed or cut short): rebuild it"
            ) from None

    def chunk_files(self, tile: Tile, names=None) -> list[str]:
        """The chunk files that hold ``tile`` in each array of ``names`` (default: all variables)."""
        out = []
        for name in names or self.variables():
            arr = self.group[name]
            key = arr.metadata.encode_chunk_key((0,) * (arr.ndim - 2) + (tile.row, tile.col))
            out.append(os.path.join(self.path, name, *key.split("/")))
        return out

    def holes(self, tile: Tile, names=None) -> list[str]:
        """Chunk files of ``tile`` that should be there and are not (none in a store from before
        ``tsmap_every_chunk``)."""
        if not self.group.attrs.get("tsmap_every_chunk") or tile.id in self.group.attrs.get("tsmap_missing_tiles", ()):
            return []
        return [f for f in self.chunk_files(tile, names) if not os.path.isfile(f)]

    def variables(self) -> list[str]:
        return sorted(k for k in self.group.array_keys() if k not in (X, Y, SPATIAL_REF))


def _write_georeferencing(group, grid: Grid) -> None:
    """CF georeferencing: ``x``/``y`` pixel centres with units and a ``spatial_ref`` grid mapping
    (``crs_wkt`` + the CF projection parameters), so ``xr.open_zarr(..., decode_coords="all")`` and
    rioxarray see the CRS without tsmap."""
    from pyproj import CRS

    height, width = grid.shape
    r = grid.resolution
    minx, _, _, maxy = grid.bounds
    crs = CRS.from_epsg(grid.epsg)
    units = "m" if crs.is_projected else "degrees"
    for name, values in ((X, minx + r * (np.arange(width) + 0.5)), (Y, maxy - r * (np.arange(height) + 0.5))):
        arr = group.create_array(
            name, shape=values.shape, chunks=values.shape, dtype="float64", dimension_names=(name,), fill_value=np.nan
        )
        arr[:] = values
        kind = "projection_x_coordinate" if name == X else "projection_y_coordinate"
        arr.attrs.update({"standard_name": kind if crs.is_projected else ("longitude" if name == X else "latitude"),
                          "long_name": f"{name} coordinate of pixel centres", "units": units, "axis": name.upper()})
    t = grid.transform
    wkt = crs.to_wkt()
    ref = group.create_array(SPATIAL_REF, shape=(), dtype="int32", fill_value=0, dimension_names=())
    ref.attrs.update({**_cf_grid_mapping(crs), "crs_wkt": wkt, "spatial_ref": wkt,
                      "GeoTransform": " ".join(str(v) for v in (t.c, t.a, t.b, t.f, t.d, t.e))})
    group.attrs.update({"Conventions": "CF-1.8", "title": "tsmap raster store"})


def _cf_grid_mapping(crs) -> dict:
    """CF grid-mapping attributes of ``crs`` (JSON-safe values only)."""
    cf = crs.to_cf()
    return {
        k: (float(v) if isinstance(v, (float, np.floating)) else v)
        for k, v in cf.items()
        if isinstance(v, (str, int, float))
    }


def is_consolidated(path: str | os.PathLike) -> bool:
    """Whether the store at ``path`` carries consolidated metadata (:func:`consolidate`)."""
    import json

    with open(os.path.join(os.fspath(path), "zarr.json"), encoding="utf-8") as f:
        return bool(json.load(f).get("consolidated_metadata"))


def consolidate(path: str | os.PathLike) -> None:
    """Write consolidated metadata (one read lists every array: fast ``xr.open_zarr`` on remote stores)."""
    import warnings

    import zarr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr notes that consolidated metadata is not yet in the v3 spec
        zarr.consolidate_metadata(os.fspath(path), zarr_format=3)


# --- the embedding cube -------------------------------------------------------------------------


def embedding_variables(dim: int, encoding: str) -> dict[str, Variable]:
    """Arrays of an embedding store: ``embedding`` (+ ``scale`` for int8) and ``valid_periods``."""
    if encoding not in ENCODINGS:
        raise InputError(f"embedding encoding {encoding!r} is not supported; choose one of {', '.join(ENCODINGS)}")
    note = (("normalisation", "L2"), ("encoding", encoding), ("long_name", "pixel embedding"), ("units", "1"))
    out = {
        "valid_periods": Variable("uint8", 0, attrs=(("long_name", "periods with a clear observation"), ("units", "1")))
    }
    if encoding == "float16":
        out["embedding"] = Variable("float16", np.nan, ((EMBED, dim),), note)
    else:
        out["embedding"] = Variable("int8", 0, ((EMBED, dim),), note + (("scale", "multiply by the 'scale' array"),))
        out["scale"] = Variable("float32", np.nan, attrs=(("long_name", "int8 embedding scale"), ("units", "1")))
    return out


def quantise(emb: np.ndarray, encoding: str) -> dict[str, np.ndarray]:
    """Arrays to store for float32 embeddings ``emb`` (embed, y, x); NaN marks pixels without data."""
    if encoding == "float16":
        return {"embedding": emb.astype(np.float16)}
    missing = np.isnan(emb).any(axis=0)
    clean = np.where(missing, np.float32(0), emb)
    peak = np.abs(clean).max(axis=0)
    nodata = missing | (peak == 0)
    scale = np.where(nodata, np.nan, peak / np.float32(127)).astype(np.float32)
    q = np.rint(clean / np.where(nodata, np.float32(1), scale)).astype(np.int8)
    return {"embedding": q, "scale": scale}


def dequantise(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """float32 embeddings (embed, y, x) from stored arrays; NaN where there is no data."""
    emb = arrays["embedding"]
    if "scale" in arrays:
        return (emb.astype(np.float32) * arrays["scale"][None]).astype(np.float32)
    return emb.astype(np.float32)


def read_tile(store: RasterStore, tile: Tile) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings (embed, y, x) and valid-period counts (y, x) of one tile, checked: a chunk file that is
    missing or cannot be decoded is a :class:`DataError` naming the tile and the file."""
    names = [n for n in ("embedding", "scale", "valid_periods") if n in store.group.array_keys()]
    holes = store.holes(tile, names)
    if holes:
        raise DataError(
            f"embedding store {store.path!r} has no chunk for tile {tile.id} ({os.path.relpath(holes[0], store.path)} "
            f"is missing); rebuild the store with `tsmap embed`, or pass --allow-missing to map nodata there"
        )
    try:
        return read_embeddings(store, tile), store.read(tile, "valid_periods")
    except Exception as exc:
        text = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        raise DataError(
            f"embedding store {store.path!r} has a damaged chunk in tile {tile.id} ({text}); rebuild the store "
            "with `tsmap embed`, or pass --allow-missing to map nodata there"
        ) from exc


def read_embeddings(store: RasterStore, tile: Tile) -> np.ndarray:
    names = ["embedding", "scale"] if "scale" in store.group.array_keys() else ["embedding"]
    return dequantise({n: store.read(tile, n) for n in names})


def write_embeddings(store: RasterStore, tile: Tile, arrays: dict[str, np.ndarray], valid_periods: np.ndarray) -> None:
    for name, data in arrays.items():
        store.write(tile, name, data)
    store.write(tile, "valid_periods", valid_periods)


def open_embeddings(path: str | os.PathLike, *, dtype: str | None = None):
    """The embedding store as a lazy xarray Dataset (dask arrays) with its CRS (``.rio.crs``).

    float16 embeddings stay float16 (half the memory; scoring upcasts per chunk) unless ``dtype`` is
    given; int8 ones are dequantised (``embedding * scale``) to float32.
    """
    import xarray as xr

    from .georef import keep_crs  # imports rioxarray: the store itself needs neither it nor xarray

    store = RasterStore.open(path)
    ds = xr.open_zarr(store.path, consolidated=is_consolidated(store.path), zarr_format=3, decode_coords="all")
    emb = ds["embedding"]
    if "scale" in ds:
        emb = (emb.astype(np.float32) * ds["scale"]).assign_attrs(emb.attrs)
    if dtype is not None:
        emb = emb.astype(dtype)
    return ds.assign(embedding=keep_crs(emb.transpose(EMBED, Y, X), ds))
