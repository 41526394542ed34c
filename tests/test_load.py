import datetime as dt
import json
import os

import numpy as np
import pystac
import pytest
import rasterio

from tsmap.bands import ALL_BANDS, ALL_NAMES
from tsmap.errors import DataError
from tsmap.geo import BBox, Grid
from tsmap.load import chunk_bytes, load_cube
from tsmap.catalog import Query, search

from .conftest import data_path
from .stac_factory import lonlat_box_in, make_item

UTC = dt.timezone.utc


def _items(scene):
    return search(Query.for_year(scene.grid.lonlat_bbox(), scene.year), stac=scene.catalog)


def test_cube_is_lazy_and_on_the_grid(demo_scene, no_compute):
    items = _items(demo_scene)
    cube = load_cube(items, demo_scene.grid, chunk=32)
    assert cube.dims == ("time", "band", "y", "x")
    assert list(cube.band.values) == [b.name for b in ALL_BANDS]
    assert cube.shape == (24, 11, *demo_scene.grid.shape)
    assert cube.chunks[2] == (32, 32) and cube.chunks[0] == (24,) and cube.chunks[1] == (11,)
    assert cube.data.blocks[0, 0, 0, 0].nbytes == chunk_bytes(24, 32)
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


def test_old_and_new_baselines_meet_in_one_convention(tmp_path):
    """A 2021 scene (baseline 03.00, no offset) and a 2023 one (+1000) of the same surface load equal."""
    box = (7.00, 50.00, 7.004, 50.003)
    bounds = lonlat_box_in(32632, box)
    old = make_item(tmp_path, item_id="old", when=dt.datetime(2021, 6, 1, tzinfo=UTC), epsg=32632, bounds=bounds,
                    baseline="03.00", offset=None)  # fmt: skip
    new = make_item(tmp_path, item_id="new", when=dt.datetime(2023, 6, 1, tzinfo=UTC), epsg=32632, bounds=bounds,
                    dn=lambda b, lon, lat: np.full(lon.shape, 2500.0))  # fmt: skip
    cube = load_cube([new, old], Grid(32632, bounds)).compute()
    assert list(cube.id.values) == ["old", "new"]  # sorted by time
    np.testing.assert_array_equal(cube.sel(band="B02").values[0], 1500)
    np.testing.assert_array_equal(cube.sel(band="B02").values[1], 1500)
    np.testing.assert_array_equal(cube.sel(band="SCL").values, 4)  # SCL is never shifted


def _field(band, lon, lat):
    """A smooth DN field of lon/lat: any misplaced pixel shows up as a large error."""
    return 1000 + 2000 + (lon - 5.99) * 20_000 + (lat - 49.99) * 10_000 + 10 * int(band[1:3].rstrip("A"))


def test_aoi_across_two_utm_zones_is_one_seamless_grid(tmp_path):
    """Items in EPSG:32631 and EPSG:32632 (same overpass) load into one grid without gaps or seams."""
    aoi = BBox(5.994, 50.000, 6.006, 50.004)  # straddles 6°E, the zone border
    when = dt.datetime(2023, 6, 1, 10, 30, tzinfo=UTC)
    west = make_item(
        tmp_path,
        item_id="T31",
        when=when,
        epsg=32631,
        bounds=lonlat_box_in(32631, (5.990, 49.998, 6.001, 50.006)),
        dn=_field,
    )
    east = make_item(
        tmp_path,
        item_id="T32",
        when=when,
        epsg=32632,
        bounds=lonlat_box_in(32632, (5.999, 49.998, 6.010, 50.006)),
        dn=_field,
    )
    grid = Grid.from_bbox(aoi)
    cube = load_cube([west, east], grid, chunk=32).compute()
    assert grid.epsg == 32632 and cube.sizes["time"] == 1  # one overpass -> one time step
    assert list(cube.id.values) == ["T31,T32"]
    values = cube.isel(time=0)
    assert not np.isnan(values.values).any()  # seamless: no gap at the zone border
    xs, ys = np.meshgrid(cube.x.values, cube.y.values)
    lon, lat = (
        np.asarray(v).reshape(xs.shape)
        for v in rasterio.warp.transform("EPSG:32632", "EPSG:4326", xs.ravel(), ys.ravel())
    )
    # every pixel (10 m and warped 20 m bands) carries the field value of where it is, to resampling accuracy
    for name, tol in (("B02", 5), ("B11", 9)):
        expected = _field(name, lon, lat) - 1000
        np.testing.assert_allclose(values.sel(band=name).values, expected, atol=tol)
    assert (lon < 6).any() and (lon > 6).any()


def test_same_day_merge_can_be_switched_off(tmp_path):
    when = dt.datetime(2023, 6, 1, 10, 30, tzinfo=UTC)
    bounds = lonlat_box_in(32632, (7.0, 50.0, 7.003, 50.002))
    a = make_item(
        tmp_path, item_id="a", when=when, epsg=32632, bounds=bounds, dn=lambda b, lon, lat: np.full(lon.shape, 1200.0)
    )
    b = make_item(
        tmp_path, item_id="b", when=when, epsg=32632, bounds=bounds, dn=lambda b, lon, lat: np.full(lon.shape, 1900.0)
    )
    merged = load_cube([a, b], Grid(32632, bounds)).sel(band="B04").compute()
    assert merged.sizes["time"] == 1 and (merged.values == 200).all()  # first item wins where both have data
    both = load_cube([a, b], Grid(32632, bounds), merge_same_day=False).sel(band="B04").compute()
    assert both.sizes["time"] == 2 and set(np.unique(both.values)) == {200, 900}


def test_item_without_a_required_band_is_refused_before_any_read(tmp_path):
    bounds = lonlat_box_in(32632, (7.0, 50.0, 7.003, 50.002))
    item = make_item(
        tmp_path,
        item_id="noswir",
        when=dt.datetime(2023, 6, 1, tzinfo=UTC),
        epsg=32632,
        bounds=bounds,
        skip=("B11", "SCL"),
    )
    with pytest.raises(
        DataError, match=r"item 'noswir' has no asset for band\(s\) B11, SCL .*use a Sentinel-2 L2A collection"
    ):
        load_cube([item], Grid(32632, bounds))


def _real_dicts(name):
    return json.loads(data_path("stac-items", name).read_text())["features"]


def _real_items(name):
    return [pystac.Item.from_dict(f) for f in _real_dicts(name)]


def test_real_earth_search_and_planetary_computer_items_stack_lazily(no_compute):
    """Metadata only: real items stack onto a grid inside their tile, in their own UTM zone."""
    for name, epsg in (
        ("earth_search_v1_sentinel-2-l2a_items_extract.geojson", 32720),
        ("planetary_computer_sentinel-2-l2a_items_extract.geojson", 32660),
    ):
        item = _real_items(name)[0]
        x0, y0 = item.assets["B02" if "B02" in item.assets else "blue"].extra_fields["proj:transform"][2::3][:2]
        grid = Grid(epsg, (x0 + 10_000, y0 - 30_000, x0 + 15_120, y0 - 24_880))
        cube = load_cube([item], grid, chunk=256)
        assert cube.shape == (1, 11, 512, 512) and list(cube.band.values) == list(ALL_NAMES)
        assert cube.rio.crs.to_epsg() == epsg  # a CF spatial_ref since the cube carries its CRS


def test_real_item_with_proj_code_only_stacks(no_compute):
    """stackstac#262: an item whose projection is only ``proj:code`` still stacks (and in the right CRS)."""
    import stackstac

    from tsmap.items import prepare_item

    d = _real_dicts("earth_search_v1_sentinel-2-l2a_items_extract.geojson")[0]
    d["properties"]["proj:code"] = f"EPSG:{d['properties'].pop('proj:epsg')}"
    d["stac_extensions"] = [e.replace("projection/v1.1.0", "projection/v2.0.0") for e in d["stac_extensions"]]
    item = pystac.Item.from_dict(d)
    with pytest.raises(ValueError, match="Cannot pick a common CRS"):
        stackstac.stack([d], assets=["blue"])  # the upstream bug
    cube = stackstac.stack([prepare_item(item)], assets=["B02"])  # no epsg given: read from proj:code
    assert cube.attrs["crs"].upper() == "EPSG:32720" and cube.shape[-2:] == (10980, 10980)


def test_real_items_from_two_utm_zones_stack_into_one_grid(no_compute):
    """Real Planetary Computer items in zones 59 and 60 around 174°E: one lazy cube, no CRS conflict."""
    aoi = BBox(173.9, 57.9, 174.1, 58.0)
    catalog = str(data_path("stac-items", "planetary_computer_sentinel-2-l2a_items_extract.geojson"))
    hits = search(Query.for_dates(aoi, "2019-01-01", "2019-01-01"), stac=catalog)
    assert {h.properties["proj:code"] for h in hits} == {"EPSG:32659", "EPSG:32660"}
    grid = Grid.from_bbox(aoi)
    cube = load_cube(hits, grid, chunk=512)
    assert grid.epsg == 32660 and cube.rio.crs.to_epsg() == 32660
    assert cube.shape[1:] == (11, *grid.shape) and cube.sizes["time"] == 1  # one overpass, merged


def _const(dn: float):
    return lambda band, lon, lat: np.full(lon.shape, dn)


def _overlap_pair(tmp_path, *, first_scl, first_dn=None, second_scl=lambda lon, lat: np.full(lon.shape, 4)):
    """Two tiles of one overpass over the same place: 'a' (first in time) and 'b'."""
    when = dt.datetime(2023, 6, 1, 10, 30, tzinfo=UTC)
    bounds = lonlat_box_in(32632, (7.0, 50.0, 7.003, 50.002))
    props = dict(when=when, epsg=32632, bounds=bounds)
    a = make_item(tmp_path, item_id="a", scl=first_scl, dn=first_dn or _const(1200.0), **props)
    b = make_item(tmp_path, item_id="b", scl=second_scl, dn=_const(1900.0), when=when + dt.timedelta(seconds=3),
                  epsg=32632, bounds=bounds)
    a.properties["s2:datatake_id"] = b.properties["s2:datatake_id"] = "GS2A_20230601T103021_041234_N05.09"
    return a, b, Grid(32632, bounds)


def test_merge_takes_a_clear_pixel_over_a_cloudy_one(tmp_path):
    """The first tile is cloudy (SCL 9) in its west half where the second is clear: the clear one wins there."""
    west = lambda lon, lat: np.where(lon < 7.0015, 9, 4)  # noqa: E731
    a, b, grid = _overlap_pair(tmp_path, first_scl=west)
    cube = load_cube([a, b], grid, masked=(9, 10, 11)).compute()
    assert cube.sizes["time"] == 1 and list(cube.id.values) == ["a,b"]
    red, scl = cube.sel(band="B04").values[0], cube.sel(band="SCL").values[0]
    cloudy = load_cube([a], grid).compute().sel(band="SCL").values[0] == 9
    assert cloudy.any() and (~cloudy).any()
    np.testing.assert_array_equal(red, np.where(cloudy, 900, 200))  # b (1900 - 1000) under a's cloud, else a
    np.testing.assert_array_equal(scl, 4)
    # both cloudy: the first tile's pixel, as before
    both = load_cube([a, b], grid, masked=(4, 9)).compute().sel(band="B04").values[0]
    np.testing.assert_array_equal(both, 200)


def test_merge_takes_a_pixel_with_all_bands_over_one_with_only_scl(tmp_path):
    """At a swath edge a tile's 20 m SCL reaches pixels its 10 m bands do not: the neighbour's complete pixel wins."""
    ten_m = ("B02", "B03", "B04", "B08")
    edge = lambda band, lon, lat: np.where((lon < 7.001) & (band in ten_m), 0, 1200.0)  # noqa: E731
    a, b, grid = _overlap_pair(tmp_path, first_scl=lambda lon, lat: np.full(lon.shape, 4), first_dn=edge)
    cube = load_cube([a, b], grid).compute()
    red, swir = cube.sel(band="B04").values[0], cube.sel(band="B11").values[0]
    assert not np.isnan(cube.values).any()  # a naive merge left NaN in B02-B04, B08 there
    gap = np.isclose(red, 900)
    assert gap.any() and (~gap).any()
    np.testing.assert_array_equal(swir[gap], 900)  # the whole pixel comes from one tile
    np.testing.assert_array_equal(red[~gap], 200)
    # with no other tile, the partial pixel is kept as it is
    alone = load_cube([a], grid).compute().sel(band="B04").values[0]
    assert np.isnan(alone[gap]).all() and (alone[~gap] == 200).all()


def test_items_whose_footprint_misses_the_grid_are_left_out(tmp_path):
    """A tile's lon/lat box can touch an item whose projected footprint misses it: stackstac drops the item."""
    when = dt.datetime(2023, 6, 1, 10, 30, tzinfo=UTC)
    here = lonlat_box_in(32632, (7.0, 50.0, 7.003, 50.002))
    there = (here[0] + 2000, here[1], here[2] + 2000, here[3])
    a = make_item(tmp_path, item_id="a", when=when, epsg=32632, bounds=there)
    b = make_item(tmp_path, item_id="b", when=when, epsg=32632, bounds=here)
    c = make_item(tmp_path, item_id="c", when=when, epsg=32632, bounds=here, dn=_const(1900.0))
    cube = load_cube([a, b, c], Grid(32632, here)).compute()
    assert list(cube.id.values) == ["b,c"] and (cube.sel(band="B04").values == 500).all()  # b: 1500 - 1000
    empty = load_cube([a], Grid(32632, here))
    assert empty.sizes["time"] == 0 and list(empty.band.values) == list(ALL_NAMES)
    from tsmap.composite import composite

    comp = composite(empty).compute()
    assert np.isnan(comp["s2"].values).all() and (comp["valid_periods"].values == 0).all()
