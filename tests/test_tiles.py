import pytest

from tsmap.errors import InputError
from tsmap.geo import Grid
from tsmap.tiles import default_tile, tile_grid

GRID = Grid(32632, (356_000.0, 5_623_000.0, 356_700.0, 5_623_500.0))  # 70 x 50 px


def test_tiles_cover_the_grid_exactly_once():
    tiles = tile_grid(GRID, 32)
    assert len(tiles) == 6 and sum(t.pixels for t in tiles) == 70 * 50
    last = tiles[-1]
    assert (last.row, last.col, last.y0, last.x0, last.height, last.width) == (1, 2, 32, 64, 18, 6)
    sub = last.grid(GRID)
    assert sub.shape == (18, 6) and sub.bounds == (356_640.0, 5_623_000.0, 356_700.0, 5_623_180.0)
    assert last.slices == (slice(32, 50), slice(64, 70))


def test_bad_tile_size_and_defaults():
    with pytest.raises(InputError, match="at least 16"):
        tile_grid(GRID, 8)
    assert default_tile("cpu") == 256 and default_tile("cuda:0") == 512


def test_tiles_sharing_a_source_block_run_one_after_the_other():
    grid = Grid(32724, (0.0, 0.0, 20_480.0, 10_240.0))  # 8 x 4 tiles of 256 px = two 1024 px blocks side by side
    tiles = tile_grid(grid, 256)
    assert sorted((t.row, t.col) for t in tiles) == [(r, c) for r in range(4) for c in range(8)]
    blocks = [(t.y0 // 1024, t.x0 // 1024) for t in tiles]
    assert blocks == [(0, 0)] * 16 + [(0, 1)] * 16  # row-major order would alternate between the blocks 4 times
