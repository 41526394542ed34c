"""What a worker does with one tile: imagery -> composites -> embeddings -> scores.

A :class:`TileTask` is a small picklable object, shipped once to each worker; calling it on a
:class:`~tsmap.tiles.Tile` returns that tile's map layers (and writes its embeddings to the
embedding store when one is given). The encoder comes from its :class:`EncoderSpec`, loaded once
per process. Reads are retried under the task's :class:`RetryPolicy`; a tile whose reads still
fail raises, and the runner records it in the ledger.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from .encoder_spec import EncoderSpec
from .gdal_config import read_pool
from .geo import BBox, Grid
from .preprocess import Preprocessing
from .retry import RetryPolicy, with_retries
from .store import RasterStore, dequantise, quantise, read_embeddings, write_embeddings
from .tiles import Tile

#: Largest dask chunk side used to read one tile: bounds a tile's imagery in memory at any moment.
READ_CHUNK = 256


@dataclass(frozen=True)
class Imagery:
    """Everything needed to read and composite any tile of the AOI."""

    items: tuple  #: pystac Items found for the AOI
    grid: Grid  #: the whole output grid
    preprocessing: Preprocessing
    retry: RetryPolicy = RetryPolicy()
    aoi: object = None  #: a :class:`tsmap.aoi.AOI`: pixels outside its polygons are no data (never encoded)


@dataclass(frozen=True)
class TileResult:
    tile: Tile
    layers: dict  #: layer name -> (y, x) array
    valid_pixels: int  #: pixels with at least one valid period
    seconds: dict  #: wall time per step: read (+ composite), encode, score


@dataclass(frozen=True, eq=False)
class TileTask:
    """Embeddings of a tile from ``imagery`` (or read from the store at ``embeddings``), then scored."""

    grid: Grid
    imagery: Imagery | None = None  #: None: read embeddings from the store instead
    encoder: EncoderSpec | None = None
    embeddings: str | None = None  #: store to write (with imagery) or read (without)
    encoding: str = "float16"
    scorers: tuple = ()

    def __call__(self, tile: Tile) -> TileResult:
        clock = {}
        if self.imagery is not None:
            emb32, valid = self._embed(tile, clock)
            arrays = quantise(emb32, self.encoding)
            if self.embeddings:
                write_embeddings(RasterStore.open(self.embeddings, mode="r+"), tile, arrays, valid)
            emb = dequantise(arrays)
        else:
            start = time.perf_counter()
            store = RasterStore.open(self.embeddings)
            emb, valid = read_embeddings(store, tile), store.read(tile, "valid_periods")
            clock["read"] = time.perf_counter() - start
        layers, start = {}, time.perf_counter()
        with single_threaded_blas():
            for scorer in self.scorers:
                layers.update(scorer(emb))
        clock["score"] = time.perf_counter() - start
        return TileResult(tile, layers, int(np.count_nonzero(valid)), {k: round(v, 3) for k, v in clock.items()})

    def _embed(self, tile: Tile, clock: dict) -> tuple[np.ndarray, np.ndarray]:
        """float32 embeddings (embed, y, x), NaN without data, and the valid-period count (y, x)."""
        import dask

        from .composite import composite
        from .load import load_cube

        encoder = self.encoder.load()
        img, tgrid = self.imagery, tile.grid(self.grid)
        box = tgrid.lonlat_bbox()
        items = [it for it in img.items if _overlaps(it.bbox, box)]
        inside = img.aoi.inside(tgrid) if img.aoi is not None else None
        if not items or (inside is not None and not inside.any()):
            return np.full((encoder.out_dim, tile.height, tile.width), np.nan, np.float32), np.zeros((tile.height, tile.width), np.uint8)

        attempts = []

        def read():  # each (time, band) asset by its own task, on the process's bounded read pool
            attempts.append(1)
            chunk = max(16, min(READ_CHUNK, max(tile.height, tile.width)))  # one read per asset and tile
            cube = load_cube(items, tgrid, chunk=chunk, harmonise=img.preprocessing.harmonise_offset, asset_tasks=True,
                             gdal_options=img.retry.gdal_options(len(attempts)))
            comp = composite(cube, img.preprocessing.composite)
            # A retry reads in this thread, as before this pool existed: its cache bypass is known to mend bad blocks.
            how = dict(scheduler="threads", pool=read_pool()) if len(attempts) == 1 else dict(scheduler="sync")
            return dask.compute(comp["s2"].data, comp["valid_periods"].data, **how)

        start = time.perf_counter()
        s2, valid = with_retries(read, img.retry, what=f"tile {tile.id}")
        clock["read"] = time.perf_counter() - start
        if inside is not None:  # outside the AOI polygons: no data, so the encoder skips those pixels
            s2, valid = np.where(inside, s2, np.float32(np.nan)), np.where(inside, valid, 0)
        emb = encoder(np.ascontiguousarray(np.moveaxis(s2, (0, 1), (-2, -1))))  # (y, x, month, band) -> (y, x, E)
        clock["encode"] = time.perf_counter() - clock["read"] - start
        return np.ascontiguousarray(np.moveaxis(emb, -1, 0)), valid.astype(np.uint8)


def _overlaps(item_bbox, box: BBox) -> bool:
    if not item_bbox:
        return True
    w, s, e, n = item_bbox
    return w < box.east and e > box.west and s < box.north and n > box.south


class single_threaded_blas:
    """BLAS on one thread while any tile is being scored in this process.

    Scores must not depend on the scheduler: a BLAS matmul's rounding changes with its thread count,
    and Dask workers run BLAS single-threaded. Reference-counted, so concurrent tiles in one process
    cannot undo each other's limit; the previous setting returns when the last one finishes.
    """

    _lock = threading.Lock()
    _depth = 0
    _limiter = None

    def __enter__(self):
        from threadpoolctl import threadpool_limits

        cls = type(self)
        with cls._lock:
            if cls._depth == 0:
                cls._limiter = threadpool_limits(limits=1, user_api="blas")
            cls._depth += 1
        return self

    def __exit__(self, *exc):
        cls = type(self)
        with cls._lock:
            cls._depth -= 1
            if cls._depth == 0:
                cls._limiter.restore_original_limits()
                cls._limiter = None
