"""``--dry-run``: what a run would do — items, pixels, tiles — and how long it should take here."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .encoder_spec import EncoderSpec
from .geo import Grid
from .tiles import default_tile, tile_grid

#: Pixels encoded to time the encoder (after a short warm-up).
PROBE_PIXELS = 512


@dataclass(frozen=True)
class Plan:
    n_items: int
    first: str  #: date of the first item
    last: str
    grid: Grid
    tile: int
    tiles: int
    px_per_s: float  #: measured encoder speed on this machine

    @property
    def pixels(self) -> int:
        return self.grid.shape[0] * self.grid.shape[1]

    @property
    def km2(self) -> float:
        return self.pixels * self.grid.resolution**2 / 1e6

    @property
    def seconds(self) -> float:
        return self.pixels / self.px_per_s if self.px_per_s > 0 else float("inf")

    def describe(self) -> str:
        h, w = self.grid.shape
        return "\n".join([
            f"items:  {self.n_items} scenes, {self.first} .. {self.last}",
            f"grid:   {w} x {h} px ({self.pixels:,} px, {self.km2:,.1f} km²) at {self.grid.resolution:g} m in EPSG:{self.grid.epsg}",
            f"tiles:  {self.tiles} of {self.tile} x {self.tile} px",
            f"time:   ~{_duration(self.seconds)} at {self.px_per_s:,.0f} px/s "
            "(encoder speed measured on this machine; imagery reads add to it)",
        ])


def plan(*, source, tile: int | None = None) -> Plan:
    """The plan for a :class:`~tsmap.pipeline.Source` (already searched) and tile size."""
    size = tile or default_tile(source.encoder.device)
    dates = sorted(it.datetime or _start(it) for it in source.items)
    return Plan(
        len(source.items), f"{dates[0]:%Y-%m-%d}", f"{dates[-1]:%Y-%m-%d}", source.grid, size,
        len(tile_grid(source.grid, size)), encoder_px_per_s(source.encoder),
    )


def encoder_px_per_s(spec: EncoderSpec) -> float:
    """Pixels per second of the encoder, timed on random 12-month inputs."""
    encoder = spec.load()
    rng = np.random.default_rng(0)
    months, bands = encoder.model.config.months, encoder.model.config.bands
    x = rng.uniform(200, 4000, size=(PROBE_PIXELS, months, bands)).astype(np.float32)
    encoder(x[:32])
    start = time.perf_counter()
    encoder(x)
    return PROBE_PIXELS / max(time.perf_counter() - start, 1e-9)


def _start(item):
    from pystac.utils import str_to_datetime

    return str_to_datetime(item.properties["start_datetime"])


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
