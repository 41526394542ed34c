import json
import os

import numpy as np
import pystac
import rasterio

from tsmap.bands import ALL_BANDS
from tsmap.load import dn_offset, load_cube
from tsmap.search import Query, search

from .conftest import shared_path


def _items(scene):
    return search(Query.for_year(scene.grid.lonlat_bbox(), scene.year), stac=scene.catalog)


def test_cube_is_lazy_and_on_the_grid(demo_scene, no_compute):
    items = _items(demo_scene)
    cube = load_cube(items, demo_scene.grid, chunk=32)
    assert cube.dims == ("time", "band", "y", "x")
    assert list(cube.band.values) == [b.name for b in ALL_BANDS]
    assert cube.shape == (24, 11, *demo_scene.grid.shape)
    assert cube.chunks[2] == (32, 32) and cube.chunks[0] == (24,)
    minx, _, _, maxy = demo_scene.grid.bounds
    assert float(cube.x[0]) == minx + 5 and float(cube.y[0]) == maxy - 5  # pixel centres


def test_values_are_harmonised_dn(demo_scene):
    items = _items(demo_scene)
    cube = load_cube(items, demo_scene.grid).isel(time=3).compute()
    folder = os.path.join(os.path.dirname(demo_scene.catalog), "..", "imagery", items[3].id)
    with rasterio.open(os.path.join(folder, "B02.tif")) as f:
        blue = f.read(1).astype(np.float32)
    with rasterio.open(os.path.join(folder, "B11.tif")) as f:
        swir = f.read(1).astype(np.float32)
    strip = demo_scene.nodata_columns
    # 10 m band: DN minus the +1000 offset of baseline 05.09
    np.testing.assert_array_equal(cube.sel(band="B02").values[:, strip:], blue[:, strip:] - 1000)
    # 20 m band: nearest resampling onto the 10 m grid
    np.testing.assert_array_equal(cube.sel(band="B11").values[::2, strip::2], swir[:, strip // 2 :] - 1000)
    # nodata strip is NaN in every band
    assert np.isnan(cube.values[:, :, :strip]).all()
    assert not np.isnan(cube.values[:, :, strip:]).any()


def test_harmonise_off_keeps_raw_dn(demo_scene):
    items = _items(demo_scene)[:1]
    raw = load_cube(items, demo_scene.grid, harmonise=False).sel(band="B04").isel(time=0, y=10, x=20).values
    fixed = load_cube(items, demo_scene.grid).sel(band="B04").isel(time=0, y=10, x=20).values
    assert raw - fixed == 1000


def _real_items(name):
    path = shared_path("data", "stac-items", name)
    return [pystac.Item.from_dict(f) for f in json.loads(path.read_text())["features"]]


def test_offset_detected_on_real_items():
    es = _real_items("earth_search_v1_sentinel-2-l2a_items.geojson")
    pc = _real_items("planetary_computer_sentinel-2-l2a_items.geojson")
    assert {dn_offset(it) for it in es} == {1000}
    assert {dn_offset(it) for it in pc} == {0}
