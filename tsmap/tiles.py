"""Tiles: the AOI grid cut into square pixel windows, the unit of work, storage and resumption."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import InputError
from .geo import BBox, Grid

#: Tile side (pixels) per device kind: CPU tiles keep a tile's imagery small; GPU tiles feed big batches.
DEFAULT_TILE = {"cpu": 256, "cuda": 512}


@dataclass(frozen=True, order=True)
class Tile:
    """One window of the output grid: row/column in the tile grid and its pixel extent."""

    row: int
    col: int
    y0: int  #: first pixel row
    x0: int  #: first pixel column
    height: int
    width: int

    @property
    def id(self) -> str:
        """Stable name used in the ledger and in error messages, e.g. ``r0002c0013``."""
        return f"r{self.row:04d}c{self.col:04d}"

    @property
    def pixels(self) -> int:
        return self.height * self.width

    @property
    def slices(self) -> tuple[slice, slice]:
        """(rows, cols) slices into the full grid."""
        return slice(self.y0, self.y0 + self.height), slice(self.x0, self.x0 + self.width)

    def grid(self, parent: Grid) -> Grid:
        """The sub-grid of ``parent`` this tile covers."""
        r = parent.resolution
        minx, _, _, maxy = parent.bounds
        left, top = minx + self.x0 * r, maxy - self.y0 * r
        return Grid(parent.epsg, (left, top - self.height * r, left + self.width * r, top), r)

    def lonlat_bbox(self, parent: Grid) -> BBox:
        return self.grid(parent).lonlat_bbox()


def tile_grid(grid: Grid, size: int) -> list[Tile]:
    """Cut ``grid`` into ``size`` x ``size`` tiles (smaller at the east and south edges), in Z-order.

    Z-order (Morton order of row and column) keeps every aligned 2^k x 2^k group of tiles together, so
    the tiles that share a source block (1024 px: 4 x 4 tiles of 256) are read one after the other
    and the block's bytes are fetched once and reused from GDAL's cache (:mod:`tsmap.gdal_config`).
    """
    if int(size) < 16:
        raise InputError(f"tile size must be at least 16 pixels, got {size}")
    height, width = grid.shape
    rows, cols = math.ceil(height / size), math.ceil(width / size)
    tiles = [
        Tile(r, c, r * size, c * size, min(size, height - r * size), min(size, width - c * size))
        for r in range(rows)
        for c in range(cols)
    ]
    return sorted(tiles, key=lambda t: _morton(t.row, t.col))


def _morton(row: int, col: int) -> int:
    """Interleave the bits of ``row`` and ``col`` (row bits in the odd places)."""
    code = 0
    for bit in range(32):
        code |= ((col >> bit) & 1) << (2 * bit) | ((row >> bit) & 1) << (2 * bit + 1)
    return code


def default_tile(device: str | None) -> int:
    """The default tile side for a torch device string (``None``: CUDA when available)."""
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    return DEFAULT_TILE["cuda" if str(device).startswith("cuda") else "cpu"]


#: Smallest tile :func:`fit_tile` shrinks to (smaller tiles cost more in per-tile overhead than they save).
MIN_AUTO_TILE = 64


def fit_tile(grid: Grid, size: int, workers: int) -> int:
    """``size``, halved while the grid has fewer tiles than ``workers`` (down to :data:`MIN_AUTO_TILE`), so every
    worker has a tile on small AOIs (a 200-px AOI as one 256-px tile ran on one core, 2.3x slower than 64-px tiles)."""
    while size // 2 >= MIN_AUTO_TILE and len(tile_grid(grid, size)) < max(1, workers):
        size //= 2
    return size
