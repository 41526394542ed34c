import os

import numpy as np
import pytest
import rioxarray  # noqa: F401

from tsmap.errors import InputError
from tsmap.geo import Grid
from tsmap.store import (
    RasterStore,
    Variable,
    dequantise,
    embedding_variables,
    open_embeddings,
    quantise,
    read_embeddings,
    write_embeddings,
)
from tsmap.tiles import tile_grid

GRID = Grid(32632, (356_000.0, 5_623_000.0, 356_700.0, 5_623_500.0))  # 70 x 50 px


def _embeddings(rng, shape):
    e = rng.normal(size=(16, *shape)).astype(np.float32)
    e /= np.linalg.norm(e, axis=0)
    e[:, 0, :3] = np.nan  # no data
    return e


@pytest.mark.parametrize("encoding, atol", [("float16", 1e-3), ("int8", None)])
def test_quantise_round_trip(encoding, atol):
    e = _embeddings(np.random.default_rng(0), (5, 7))
    arrays = quantise(e, encoding)
    back = dequantise(arrays)
    assert back.dtype == np.float32 and np.isnan(back[:, 0, :3]).all() and np.isfinite(back[:, 1:]).all()
    if encoding == "int8":
        assert arrays["embedding"].dtype == np.int8 and np.abs(arrays["embedding"]).max() == 127
        atol = np.nanmax(arrays["scale"]) / 2 + 1e-7  # half a quantisation step
    np.testing.assert_allclose(back[:, 1:], e[:, 1:], atol=atol)
    with pytest.raises(InputError, match="encoding"):
        embedding_variables(16, "bf16")


def test_tiles_are_chunks_and_the_store_is_georeferenced(tmp_path):
    rng = np.random.default_rng(1)
    store = RasterStore.create(
        tmp_path / "emb.zarr", grid=GRID, tile=32, variables=embedding_variables(16, "float16"), attrs={"a": 1}
    )
    tiles = tile_grid(GRID, 32)
    assert [t.id for t in tiles][:3] == ["r0000c0000", "r0000c0001", "r0001c0000"] and len(tiles) == 6  # Z-order
    written = {}
    for t in tiles[:-1]:  # the last tile is left unwritten: it must read back as nodata
        written[t] = _embeddings(rng, (t.height, t.width))
        write_embeddings(store, t, quantise(written[t], "float16"), np.full((t.height, t.width), 12, np.uint8))
    chunks = [f for _, _, fs in os.walk(tmp_path / "emb.zarr" / "embedding") for f in fs if f != "zarr.json"]
    assert len(chunks) == 5  # one chunk file per tile written
    again = RasterStore.open(tmp_path / "emb.zarr")
    assert again.grid == GRID and again.tile_size == 32 and again.attrs["a"] == 1
    for t, e in written.items():
        np.testing.assert_array_equal(read_embeddings(again, t), e.astype(np.float16).astype(np.float32))
    assert np.isnan(read_embeddings(again, tiles[-1])).all() and (again.read(tiles[-1], "valid_periods") == 0).all()
    ds = open_embeddings(tmp_path / "emb.zarr")
    assert ds["embedding"].dims == ("embed", "y", "x") and ds["embedding"].shape == (16, 50, 70)
    assert ds.rio.crs.to_epsg() == 32632 and ds.rio.transform() == GRID.transform
    assert float(ds.x[0]) == 356_005.0 and float(ds.y[0]) == 5_623_495.0  # pixel centres


def test_open_refuses_what_is_not_a_store(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        RasterStore.open(tmp_path / "missing.zarr")
    (tmp_path / "junk.zarr").mkdir()
    with pytest.raises(Exception, match="not a tsmap Zarr store"):
        RasterStore.open(tmp_path / "junk.zarr")
    s = RasterStore.create(
        tmp_path / "maps.zarr", grid=GRID, tile=64, variables={"class": Variable("uint8", 255)}, attrs={}
    )
    assert s.variables() == ["class"] and (s.read(tile_grid(GRID, 64)[0], "class") == 255).all()
