"""What a worker does with one tile: imagery -> composites -> embeddings -> scores.

A :class:`TileTask` is a small picklable object, shipped once to each worker; calling it on a
:class:`~tsmap.tiles.Tile` returns that tile's map layers (and writes its embeddings to the
embedding store when one is given). The encoder comes from its :class:`EncoderSpec`, loaded once
per process. Reads are retried under the task's :class:`RetryPolicy`; an asset that still cannot
be read is left out of the tile and reported with its result (``skipped``), and a tile that cannot
be made without it (a month lost all its acquisitions) raises, and the runner records it in the
ledger. A tile's embeddings are the same bytes whatever the number of threads and workers
(:func:`encode_tile`).
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .bands import ALL_NAMES, SCL
from .composite import composite
from .encode import EncoderSpec
from .errors import DataError
from .gdal_config import read_pool
from .geo import Grid, intersects
from .items import prepare_item
from .load import load_cube
from .plausibility import check_tile, screen
from .retry import ReadFailure, read_leaving_out
from .store import RasterStore, dequantise, quantise, read_tile, write_embeddings
from .tiles import Tile

if TYPE_CHECKING:
    from .pipeline import Imagery

#: Largest dask chunk side used to read one tile: bounds a tile's imagery in memory at any moment.
READ_CHUNK = 256
#: Pixels per encoder call within a tile on the CPU: a fixed split, so that a tile's embeddings never
#: depend on how many threads, tiles in flight or workers there are.
ENCODE_PIECE = 4096


@dataclass(frozen=True)
class TileResult:
    tile: Tile
    layers: dict  #: layer name -> (y, x) array
    valid_pixels: int  #: pixels with at least one valid period
    seconds: dict  #: wall time per step: read (+ composite), encode, score
    skipped: tuple = ()  #: assets left out because they could not be read: (item id, band, error)
    implausible: int = 0  #: observations left out for impossible values (see :mod:`tsmap.plausibility`)
    implausible_items: tuple[str, ...] = ()  #: the items holding most of them


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
        clock, skipped, screened = {}, (), (0, ())
        if self.imagery is not None:
            emb32, valid, skipped, screened = self._embed(tile, clock)
            arrays = quantise(emb32, self.encoding)
            if self.embeddings:
                write_embeddings(RasterStore.open(self.embeddings, mode="r+"), tile, arrays, valid)
            emb = dequantise(arrays)
        else:
            start = time.perf_counter()
            try:
                emb, valid = read_tile(RasterStore.open(self.embeddings), tile)
            except DataError as exc:  # a hole in the store: this tile fails, the others go on
                raise ReadFailure(f"tile {tile.id}: {exc}") from None
            clock["read"] = time.perf_counter() - start
        layers, start = {}, time.perf_counter()
        with single_threaded_blas():
            for scorer in self.scorers:
                layers.update(scorer(emb))
        clock["score"] = time.perf_counter() - start
        seconds = {k: round(v, 3) for k, v in clock.items()}
        implausible, implausible_items = screened
        return TileResult(tile=tile, layers=layers, valid_pixels=int(np.count_nonzero(valid)), seconds=seconds,
                          skipped=skipped, implausible=implausible, implausible_items=implausible_items)

    def _embed(self, tile: Tile, clock: dict) -> tuple[np.ndarray, np.ndarray, tuple, tuple]:
        """float32 embeddings (embed, y, x), NaN without data, the valid-period count (y, x), the assets
        left out, and the impossible observations left out (count, items)."""
        import dask

        encoder = self.encoder.load()
        img, tgrid = self.imagery, tile.grid(self.grid)
        items = tile_items(img.items, tgrid)
        inside = img.aoi.inside(tgrid) if img.aoi is not None else None
        if not items or (inside is not None and not inside.any()):
            empty = np.full((encoder.out_dim, tile.height, tile.width), np.nan, np.float32)
            return empty, np.zeros((tile.height, tile.width), np.uint8), (), (0, ())
        acquisitions = Acquisitions.of(items, img.preprocessing.composite.periods)

        rule = img.preprocessing.composite

        def read(
            skip: frozenset, attempt: int
        ):  # each (time, band) asset by its own task, on the process's bounded read pool
            chunk = max(16, min(READ_CHUNK, max(tile.height, tile.width)))  # one read per asset and tile
            cube = load_cube(items, tgrid, chunk=chunk, harmonise=img.preprocessing.harmonise_offset, asset_tasks=True,
                             gdal_options=img.retry.gdal_options(attempt), skip_assets=acquisitions.unusable(skip),
                             masked=rule.masked)
            cube, counts = screen(cube)  # impossible values left out, and counted
            comp = composite(cube, rule)
            # A retry reads in this thread, as before this pool existed: its cache bypass is known to mend bad blocks.
            how = dict(scheduler="threads", pool=read_pool()) if attempt == 1 else dict(scheduler="sync")
            s2, valid, counts = dask.compute(comp["s2"].data, comp["valid_periods"].data, counts, **how)
            return s2, valid, check_tile(counts, [str(i) for i in cube["id"].values], what=f"tile {tile.id}")

        start = time.perf_counter()
        (s2, valid, screened), left_out = read_leaving_out(
            read, img.retry, what=f"tile {tile.id}", lost=acquisitions.lost
        )
        clock["read"] = time.perf_counter() - start
        if inside is not None:  # outside the AOI polygons: no data, so the encoder skips those pixels
            s2, valid = np.where(inside, s2, np.float32(np.nan)), np.where(inside, valid, 0)
        emb = encode_tile(
            encoder, np.ascontiguousarray(np.moveaxis(s2, (0, 1), (-2, -1)))
        )  # (y, x, month, band) -> (y, x, E)
        clock["encode"] = time.perf_counter() - clock["read"] - start
        return (
            np.ascontiguousarray(np.moveaxis(emb, -1, 0)),
            valid.astype(np.uint8),
            acquisitions.describe(left_out),
            screened,
        )


@dataclass(frozen=True)
class Acquisitions:
    """A tile's items: their band assets and composite periods, to tell what leaving assets out costs."""

    assets: dict  #: href -> (item id, band)
    bands: dict  #: item id -> {band: href}
    periods: dict  #: period name (e.g. "2023-06") -> item ids

    @classmethod
    def of(cls, items, periods: int) -> "Acquisitions":
        bands = {it.id: {b: a["href"] for b, a in prepare_item(it)["assets"].items()} for it in items}
        by_period: dict[str, list] = {}
        for it in items:
            by_period.setdefault(_period_name(it.datetime, periods), []).append(it.id)
        assets = {href: (item, band) for item, hrefs in bands.items() for band, href in hrefs.items()}
        return cls(assets, bands, by_period)

    def unusable(self, skip) -> frozenset:
        """``skip`` and every asset of an item whose SCL (its cloud mask) is in it: that item is not read at all."""
        dead = {self.assets[h][0] for h in skip if self.assets[h][1] == SCL.name}
        return frozenset(skip) | {h for item in dead for h in self.bands[item].values()}

    def lost(self, skipped: dict) -> str | None:
        """Why the tile cannot be made without the ``skipped`` assets (a period lost every acquisition of a band),
        or None."""
        gone = self.unusable(skipped)
        for name, ids in self.periods.items():
            for band in ALL_NAMES:
                if all(self.bands[i][band] in gone for i in ids):
                    why = next(
                        skipped[h] for i in ids for h in (self.bands[i][band], self.bands[i][SCL.name]) if h in skipped
                    )
                    return f"no readable acquisition of {name} is left for band {band} ({len(ids)} had it): {why}"
        return None

    def describe(self, skipped: dict) -> tuple:
        return tuple(sorted((*self.assets[h], error) for h, error in skipped.items()))


def _period_name(when, periods: int) -> str:
    p = (when.month - 1) * periods // 12
    return {12: f"{when:%Y-%m}", 4: f"{when.year} quarter {p + 1}", 1: f"{when.year}"}[periods]


def encode_tile(encoder, pixels: np.ndarray) -> np.ndarray:
    """Embeddings (y, x, E) of a tile's composites (y, x, month, band).

    On the CPU the tile is cut into fixed pieces of :data:`ENCODE_PIECE` pixels, and each piece is
    encoded by a single-threaded torch call on this process's encoder threads. A matmul's blocking and
    a reduction's order change with torch's intra-op thread count, and with them the last bits of an
    embedding; one thread per call and a split that depends only on the tile make a tile's result
    the same bytes whether it runs alone (a resume), with one worker or with many, while a tile alone
    still uses every core. On a GPU the whole tile goes to the device in one call.
    """
    if encoder.device.type != "cpu":
        return encoder(pixels)
    flat = pixels.reshape(-1, *pixels.shape[2:])
    pieces = [flat[i : i + ENCODE_PIECE] for i in range(0, len(flat), ENCODE_PIECE)]
    return np.concatenate(list(_encoder_threads().map(encoder, pieces))).reshape(*pixels.shape[:2], -1)


_POOL: cf.ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _encoder_threads() -> cf.ThreadPoolExecutor:
    """This process's encoder threads (one per core, or per thread of its Dask worker), each with one torch thread."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = cf.ThreadPoolExecutor(_cores(), thread_name_prefix="tsmap-encode", initializer=_one_torch_thread)
        return _POOL


def _one_torch_thread() -> None:
    import torch
    from threadpoolctl import threadpool_limits

    torch.get_num_threads()  # initialises this thread's OpenMP team size from torch's setting ...
    threadpool_limits(1, user_api="openmp")  # ... then one thread, for this thread only
    if torch.get_num_threads() != 1:  # a torch without OpenMP: the setting is process-wide
        torch.set_num_threads(1)


def _cores() -> int:
    if "distributed" in sys.modules:  # in a Dask worker: its threads, not the machine's cores
        from distributed import get_worker

        try:
            return max(1, int(get_worker().state.nthreads))
        except ValueError:
            pass
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def tile_items(items, grid: Grid) -> list:
    """The items whose lon/lat bbox reaches ``grid`` (bboxes across 180° and with heights included).

    Lon/lat boxes enclose more than the projected footprints, so some of these may still miss the
    grid; :func:`tsmap.load.load_cube` leaves those out.
    """
    box = grid.lonlat_bbox()
    return [it for it in items if not it.bbox or intersects(it.bbox, box)]


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
