"""``--dry-run``: what a run would do — items, pixels, tiles — and how long it should take here."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import numpy as np

from .bands import ALL_BANDS
from .composite import composite
from .encode import EncoderSpec
from .geo import Grid, intersects
from .items import acquisition, mgrs_tile, relative_orbit
from .load import load_cube
from .results import result_html
from .tiles import Tile, default_tile, tile_grid

#: Pixels encoded to time the encoder (after a short warm-up).
PROBE_PIXELS = 512


@dataclass(frozen=True)
class Overpass:
    """The items of one overpass (merged into one time step) and what they cover."""

    date: str
    platform: str
    orbit: int | None  #: relative orbit
    collections: tuple[str, ...]
    mgrs_tiles: tuple[str, ...]  #: Sentinel-2 tiles, one per item
    run_tiles: int  #: tiles of this run whose area the overpass's items reach (lon/lat boxes)

    def describe(self) -> str:
        orbit = f" R{self.orbit:03d}" if self.orbit is not None else ""
        n = len(self.mgrs_tiles)
        return (f"{self.date} {self.platform}{orbit} [{', '.join(self.collections)}]: {n} item{'s' * (n != 1)}, "
                f"tiles {' '.join(self.mgrs_tiles)}; reaches {self.run_tiles} run tile{'s' * (self.run_tiles != 1)}")


@dataclass(frozen=True)
class Plan:
    n_items: int
    first: str  #: date of the first item
    last: str
    grid: Grid
    tile: int
    tiles: int
    px_per_s: float  #: measured encoder speed on this machine
    per_month: tuple[tuple[str, int], ...] = ()  #: ("YYYY-MM", scenes) for every month with scenes
    read_bytes: int = 0  #: uncompressed bytes of the AOI's windows of every band of every scene
    read_px_per_s: float = 0.0  #: reading + compositing speed of one worker, timed on a probe window (0: not timed)
    workers: int = 1
    collections: tuple[tuple[str, int], ...] = ()  #: (collection, number of items)
    overpasses: tuple[Overpass, ...] = ()

    @property
    def pixels(self) -> int:
        return self.grid.shape[0] * self.grid.shape[1]

    @property
    def km2(self) -> float:
        return self.pixels * self.grid.resolution**2 / 1e6

    @property
    def seconds(self) -> float:
        """Reading, compositing and encoding each tile, as one worker does, spread over the workers that have tiles."""
        if self.px_per_s <= 0:
            return float("inf")
        per_px = 1 / self.px_per_s + (1 / self.read_px_per_s if self.read_px_per_s > 0 else 0.0)
        return self.pixels * per_px / max(1, min(self.workers, self.tiles))

    def describe(self) -> str:
        h, w = self.grid.shape
        months = "  ".join(f"{m}: {n}" for m, n in self.per_month)
        reads = (f"reads ~{self.read_px_per_s:,.0f} px/s per worker (timed on a probe window)" if self.read_px_per_s > 0
                 else "imagery reads not timed")
        return "\n".join(
            [
                f"items:  {self.n_items} scenes, {self.first} .. {self.last}",
                f"months: {months}",
                f"collections: {', '.join(f'{name} ({n} items)' for name, n in self.collections)}",
                f"overpasses: {len(self.overpasses)} (the items of one overpass make one time step)",
                *(f"  {o.describe()}" for o in self.overpasses),
                f"grid:   {w} x {h} px ({self.pixels:,} px, {self.km2:,.1f} km²) at {self.grid.resolution:g} m in "
                f"EPSG:{self.grid.epsg}",
                f"reads:  {_size(self.read_bytes)} of band windows (uncompressed; COGs are read in compressed blocks)",
                f"tiles:  {self.tiles} of {self.tile} x {self.tile} px on {min(self.workers, self.tiles)} workers",
                f"time:   ~{_duration(self.seconds)}: encoder {self.px_per_s:,.0f} px/s per worker, {reads}",
            ]
        )

    def _repr_html_(self) -> str:
        return result_html("tsmap Plan", [tuple(line.split(":", 1)) for line in self.describe().splitlines()])


def plan(*, source, tile: int | None = None, workers: int | None = None, probe: bool = True) -> Plan:
    """The plan for a :class:`~tsmap.pipeline.Source` (already searched) and tile size.

    With ``probe`` one small window (:data:`PROBE_SIDE` px) of the AOI is read and composited, to time reads.
    """
    import os

    size = tile or default_tile(source.encoder.device)
    dates = sorted(it.datetime or _start(it) for it in source.items)
    months = Counter(f"{d:%Y-%m}" for d in dates)
    workers = int(workers or os.cpu_count() or 1)
    threads = 1  # every encoder call of a tile runs on one torch thread (tsmap.tasks.encode_tile)
    tiles = tile_grid(source.grid, size)
    collections = Counter(_collection(it) for it in source.items)
    return Plan(
        n_items=len(source.items), first=f"{dates[0]:%Y-%m-%d}", last=f"{dates[-1]:%Y-%m-%d}", grid=source.grid,
        tile=size, tiles=len(tiles), px_per_s=encoder_px_per_s(source.encoder, threads=threads),
        per_month=tuple(sorted(months.items())), read_bytes=read_bytes(source.items, source.grid),
        read_px_per_s=read_px_per_s(source) if probe else 0.0, workers=workers,
        collections=tuple(sorted(collections.items())),
        overpasses=overpasses(source.items, [t.lonlat_bbox(source.grid) for t in tiles]),
    )


def overpasses(items, tile_boxes: list) -> tuple[Overpass, ...]:
    """The items grouped by overpass (:func:`tsmap.items.acquisition`), in time order, with the run tiles they reach."""
    groups: dict[str, list] = {}
    for it in sorted(items, key=lambda it: it.datetime or _start(it)):
        groups.setdefault(acquisition(it), []).append(it)
    out = []
    for members in groups.values():
        first = members[0]
        reached = sum(any(not it.bbox or intersects(it.bbox, box) for it in members) for box in tile_boxes)
        out.append(Overpass(
            date=f"{first.datetime or _start(first):%Y-%m-%d}", platform=str(first.properties.get("platform", "?")),
            orbit=relative_orbit(first), collections=tuple(dict.fromkeys(_collection(it) for it in members)),
            mgrs_tiles=tuple(sorted(mgrs_tile(it) for it in members)), run_tiles=reached,
        ))
    return tuple(out)


def _collection(item) -> str:
    return item.collection_id or "(no collection)"


#: Side of the window read to time reading and compositing.
PROBE_SIDE = 64


def read_bytes(items, grid: Grid) -> int:
    """Uncompressed bytes of the grid's window in every band asset of every item (at each band's resolution)."""
    area = grid.shape[0] * grid.shape[1] * grid.resolution**2
    per_item = sum(area / b.resolution**2 * (1 if b.name == "SCL" else 2) for b in ALL_BANDS)
    return int(per_item * len(items))


def read_px_per_s(source) -> float:
    """Pixels per second of reading + compositing a :data:`PROBE_SIDE` window at the grid's centre (0 on failure)."""
    import dask

    h, w = source.grid.shape
    side_y, side_x = min(PROBE_SIDE, h), min(PROBE_SIDE, w)
    window = Tile(0, 0, (h - side_y) // 2, (w - side_x) // 2, side_y, side_x).grid(source.grid)
    prep = source.imagery.preprocessing
    start = time.perf_counter()
    try:
        comp = composite(load_cube(list(source.items), window, harmonise=prep.harmonise_offset), prep.composite)
        dask.compute(comp["s2"].data, scheduler="sync")
    except Exception:  # the run itself reports read problems; the plan just does not time them
        return 0.0
    return side_y * side_x / max(time.perf_counter() - start, 1e-9)


def encoder_px_per_s(spec: EncoderSpec, *, threads: int | None = None, repeats: int = 2) -> float:
    """Pixels per second of the encoder on ``threads`` torch threads (as one tile worker runs it), timed on
    random 12-month inputs: a full-size warm-up call, then the best of ``repeats`` timed calls."""
    import torch

    encoder = spec.load()
    rng = np.random.default_rng(0)
    months, bands = encoder.model.config.months, encoder.model.config.bands
    x = rng.uniform(200, 4000, size=(PROBE_PIXELS, months, bands)).astype(np.float32)
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        encoder(x)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            encoder(x)
            best = min(best, time.perf_counter() - start)
    finally:
        torch.set_num_threads(before)
    return PROBE_PIXELS / max(best, 1e-9)


def _start(item):
    from pystac.utils import str_to_datetime

    return str_to_datetime(item.properties["start_datetime"])


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
