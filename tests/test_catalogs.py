"""Real Sentinel-2 catalogs: tile edges, overlapping footprints, the antimeridian, 3-D bboxes, other
collections and local mirrors.

Items are the published metadata of real Planetary Computer and Earth Search items (and crafted twins
of them), with local imagery at their real grids (``tests/real_catalog.py``). Cubes are compared pixel
by pixel with a brute-force reference that warps the same files by hand.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pystac
import pytest
import rasterio
from click.testing import CliRunner

from tsmap.errors import DataError
from tsmap.geo import BBox, Grid
from tsmap.items import acquisition, mgrs_tile, prepare_item
from tsmap.load import load_cube
from tsmap.specs import Preprocessing
from tsmap.catalog import Query, search
from tsmap.tasks import tile_items
from tsmap.tiles import tile_grid

from . import real_catalog as rc
from .pipeline_helpers import SMALL

MASKED = Preprocessing().composite.masked  # the default encoder's cloud rule (authors: SCL 9, 10, 11)
#: One real Planetary Computer overpass (2019-01-01, R116): six overlapping tiles in UTM zones 59 and 60.
PC_STRIP = ("59VND", "59VNE", "59VPD", "59VPE", "60VUJ", "60VUK")
#: One real Earth Search overpass (2025-07-31) at a swath edge: four overlapping partial tiles in zone 24.
ES_STRIP = ("24MUV", "24MVV", "24MWV", "24MXV")
PC_DAY, ES_DAY = "2019-01-01", "2025-07-31"


def _pc(tiles=PC_STRIP) -> list[dict]:
    return [f for f in rc.real_features(rc.PC) if f["properties"]["s2:mgrs_tile"] in tiles]


def _es(tiles=ES_STRIP) -> list[dict]:
    return [f for f in rc.real_features(rc.ES) if mgrs_tile(pystac.Item.from_dict(f)) in tiles]


def _items(local) -> list:
    return [pystac.Item.from_dict(it.feature) for it in local]


def _check(cube, ref: rc.Reference, *, g: int = 0) -> int:
    """Assert the cube's time step ``g`` equals the reference where it is unambiguous; return the pixels checked."""
    ok = ~ref.ambiguous[g]
    got = cube.isel(time=g).values
    np.testing.assert_array_equal(np.where(ok, got, -1), np.where(ok, ref.values[g], -1))
    return int(ok.sum())


def _run_tiles(catalog, bbox: BBox, day: str, *, tile: int):
    """What a run reads, tile by tile: the AOI's search, each tile's items and merged cube, on the AOI grid."""
    grid = Grid.from_bbox(bbox)
    try:
        found = search(Query.for_dates(bbox, day, day), stac=catalog)
    except DataError:
        found = []
    mosaic = np.full((len(rc.ALL_BANDS), *grid.shape), np.nan, np.float32)
    dropped = 0
    for t in tile_grid(grid, tile):
        tgrid = t.grid(grid)
        items = tile_items(found, tgrid)
        if not items:
            continue
        cube = load_cube(items, tgrid, chunk=32, masked=MASKED)
        reached = sum(len(i.split(",")) for i in cube["id"].values)
        dropped += len(items) - reached
        if cube.sizes["time"]:
            assert cube.sizes["time"] == 1  # one overpass: one time step
            mosaic[(slice(None), *t.slices)] = cube.isel(time=0).values
    return grid, found, mosaic, dropped


@pytest.mark.parametrize("which", ["planetary-computer", "earth-search"])
def test_aois_along_every_tile_edge_read_exactly_the_reference(tmp_path, which):
    """AOIs straddling every edge of every tile of a real overpass (Planetary Computer) or every tile's
    data edge at a swath edge (Earth Search): no crash, no lost pixel, exact values.

    The AOIs reach items whose lon/lat bbox touches a run tile although their projected footprint
    misses it (stackstac drops those: Planetary Computer's tiles in zones 59 and 60), overlaps where the
    first tile has SCL but not all bands (20 m layers reach further at swath edges: Earth Search), and
    overlaps where the first tile is cloudy but its neighbour is clear (both).
    """
    if which == "planetary-computer":
        features, day = _pc(), PC_DAY
        boxes = [b for f in features for b in rc.edge_boxes(f, per_edge=1, side_m=500)]
    else:
        features, day = _es(), ES_DAY
        boxes = [b for f in features for b in rc.footprint_boxes(f, count=4, side_m=500)]
    local = rc.localise(features, tmp_path / "img", boxes)
    catalog = rc.save_collection(local, tmp_path / "items.geojson")
    ids = [it.id for it in sorted(local, key=lambda it: it.feature["properties"]["datetime"])]
    checked = dropped = naive_lost = clear_won = 0
    for box in boxes:
        grid, found, mosaic, n_dropped = _run_tiles(catalog, BBox(*box), day, tile=32)
        ref = rc.reference(local, grid, groups=[ids], masked=MASKED)
        ok = ~ref.ambiguous[0]
        np.testing.assert_array_equal(np.where(ok, mosaic, -1), np.where(ok, ref.values[0], -1))
        assert not (np.isnan(mosaic).any(axis=0) & ref.has_data[0] & ok).any()  # no NaN where any tile has data
        checked += int(ok.sum())
        dropped += n_dropped
        naive, best = ref.naive_rank(0), ref.ranks[0].min(axis=0)
        naive_lost += int((ok & (naive == 2) & (best < 2)).sum())  # naive merge: SCL but missing bands
        clear_won += int((ok & (naive == 1) & (best == 0)).sum())  # naive merge: cloud where a tile is clear
    total = sum(np.prod(Grid.from_bbox(BBox(*b)).shape) for b in boxes)
    assert checked > 0.8 * total, (checked, total)
    # the sweep meets the cases that broke: items dropped after selection, pixels a naive merge loses or takes cloudy
    assert clear_won > 0 and (dropped > 0 if which == "planetary-computer" else naive_lost > 0), (dropped, naive_lost)


def _one_overpass_cube(local, bbox: BBox, **kw):
    grid = Grid.from_bbox(bbox)
    items = tile_items(_items(local), grid)
    return grid, load_cube(items, grid, chunk=64, masked=MASKED, **kw).compute()


def test_antimeridian_items_are_found_and_read_on_both_sides(tmp_path):
    """Twins of a real zone-60 item whose tiles cross 180° (zone 60 and zone 1, bboxes W > E, split
    footprints): AOIs west of, east of and across 180° find both and read exactly the reference."""
    pair = rc.antimeridian_pair(_pc(("60VUK",))[0])
    lat = 58.2
    boxes = {"west": (179.96, lat, 179.99, lat + 0.01), "east": (-179.99, lat, -179.96, lat + 0.01),
             "across": (179.985, lat, -179.985, lat + 0.01)}
    local = rc.localise(pair, tmp_path / "img", list(boxes.values()))
    catalog = rc.save_collection(local, tmp_path / "items.geojson")
    for side, box in boxes.items():
        bbox = BBox(*box)
        found = search(Query.for_dates(bbox, PC_DAY, PC_DAY), stac=catalog)
        assert sorted(it.id for it in found) == sorted(it.id for it in local), side
        grid = Grid.from_bbox(bbox)
        assert grid.epsg in (32601, 32660) and grid.shape[1] < 250  # one narrow grid, not one around the globe
        cube = load_cube(tile_items(found, grid), grid, chunk=64, masked=MASKED).compute()
        assert cube.sizes["time"] == 1 and sorted(cube["id"].item().split(",")) == sorted(it.id for it in local)
        ref = rc.reference(local, grid, groups=[[it.id for it in local]], masked=MASKED)
        assert ref.has_data.all() and _check(cube, ref) > 0.9 * ref.has_data.size
    assert BBox(*boxes["across"]).crosses_antimeridian and Grid.from_bbox(BBox(*boxes["across"])).epsg == 32660


def test_an_aoi_across_180_maps_end_to_end(tmp_path):
    """``predict`` on a W > E box: one map in the UTM zone of the centre, data wherever the reference has it."""
    from tsmap.pipeline import predict

    pair = rc.antimeridian_pair(_pc(("60VUK",))[0])
    box = (179.99, 58.20, -179.99, 58.206)
    local = rc.localise(pair, tmp_path / "img", [box])
    catalog = rc.save_collection(local, tmp_path / "items.geojson")
    out = tmp_path / "map.tif"
    res = predict(prompts="land-cover", out=str(out), query=Query.for_dates(BBox(*box), PC_DAY, PC_DAY), stac=catalog,
                  encoder=SMALL, clip_pretrained="none", tile=64, progress=False)
    assert res.summary.missing == () and res.summary.computed == res.summary.tiles
    ref = rc.reference(local, res.grid, groups=[[it.id for it in local]], masked=MASKED)
    with rasterio.open(out) as f:
        assert f.crs.to_epsg() == 32660 and f.shape == res.grid.shape
        cls = f.read(1)
    ok = ~ref.ambiguous[0]
    assert ((cls != 255) == ref.has_data[0])[ok].all() and (cls != 255).all()
    described = json.loads((tmp_path / "map_item.json").read_text())  # GeoJSON's rule: W > E, split geometry
    assert described["bbox"][0] > described["bbox"][2] and described["geometry"]["type"] == "MultiPolygon"


def test_3d_bboxes_select_and_map(tmp_path):
    """A real Earth Search item with a 6-number bbox (W, S, zmin, E, N, zmax): found, selected per tile, mapped."""
    from tsmap.pipeline import predict

    f = rc.three_d(_es(("24MWV",))[0])
    box = (-38.62, -4.62, -38.61, -4.61)
    local = rc.localise([f], tmp_path / "img", [box])
    catalog = rc.save_collection(local, tmp_path / "items.geojson")
    bbox = BBox(*box)
    found = search(Query.for_dates(bbox, ES_DAY, ES_DAY), stac=catalog)
    assert len(found[0].bbox) == 6 and tile_items(found, Grid.from_bbox(bbox)) == found
    out = tmp_path / "map.tif"
    res = predict(prompts="land-cover", out=str(out), query=Query.for_dates(bbox, ES_DAY, ES_DAY), stac=catalog,
                  encoder=SMALL, clip_pretrained="none", tile=48, progress=False)
    ref = rc.reference(local, res.grid, groups=[[local[0].id]], masked=MASKED)
    with rasterio.open(out) as src:
        cls = src.read(1)
    ok = ~ref.ambiguous[0]
    assert ref.has_data[0].mean() > 0.5 and ((cls != 255) == ref.has_data[0])[ok].all()


def test_earth_search_v0_items_are_searched_and_other_collections_are_counted(tmp_path, caplog):
    """A static catalog mixing an Earth Search v0 item (``sentinel-s2-l2a-cogs``) and a Landsat item."""
    v0 = rc.earth_search_v0(_es(("24MWV",))[0])
    box = (-38.62, -4.62, -38.61, -4.61)
    local = rc.localise([v0], tmp_path / "img", [box])
    landsat = rc.other_collection(_es(("24MWV",))[0])
    path = tmp_path / "mixed.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [local[0].feature, landsat]}))
    q = Query.for_dates(BBox(*box), ES_DAY, ES_DAY)
    with caplog.at_level(logging.WARNING, logger="tsmap"):
        found = search(q, stac=str(path))
    assert [it.id for it in found] == [v0["id"]] and found[0].collection_id == "sentinel-s2-l2a-cogs"
    assert "skipped 1 item(s) of other collections (landsat-c2-l2: 1)" in caplog.text
    with pytest.raises(DataError, match=r"skipped 2 item\(s\) of other collections \(landsat-c2-l2: 1, "
                                        r"sentinel-s2-l2a-cogs: 1\): only sentinel-2-l2a are searched.*--collection"):
        search(Query.for_dates(BBox(*box), ES_DAY, ES_DAY, collection="sentinel-2-l2a"), stac=str(path))
    # v0 items name no datatake and no baseline: the overpass comes from the product id, the +1000 offset from the date
    assert acquisition(found[0]) == "2025-07-31/sentinel-2b/R095"
    grid, cube = _one_overpass_cube(local, BBox(*box))
    ref = rc.reference(local, grid, groups=[[v0["id"]]], masked=MASKED)
    assert ref.has_data[0].any() and _check(cube, ref) > 0.9 * ref.has_data[0].size


def test_local_mirror_reads_its_own_files(tmp_path):
    """A mirror rewrote the hrefs to absolute local paths but kept the service's https ``self`` link."""
    box = (-38.62, -4.62, -38.61, -4.61)
    local = rc.localise(_es(("24MWV",)), tmp_path / "img", [box], keep_self=True)
    item = _items(local)[0]
    assert item.get_self_href().startswith("https://earth-search.aws.element84.com/")
    href = prepare_item(item)["assets"]["B02"]["href"]
    assert href == str(tmp_path / "img" / item.id / "B02.tif")
    grid, cube = _one_overpass_cube(local, BBox(*box))
    ref = rc.reference(local, grid, groups=[[item.id]], masked=MASKED)
    assert ref.has_data[0].any() and _check(cube, ref) > 0.9 * ref.has_data[0].size


def test_dry_run_reports_items_per_collection_and_overpass_with_their_tiles(tmp_path):
    from tsmap.cli import main

    features = _pc(("59VPE", "60VUK"))
    again = rc.reprocessed(features[1], collection="sentinel-2-c1-l2a", baseline="05.00")  # 59VPE again
    box = (174.1, 58.05, 174.2, 58.08)  # its east half lies beyond both tiles
    local = rc.localise([*features, again], tmp_path / "img", [box])
    catalog = rc.save_collection(local, tmp_path / "items.geojson")
    args = ["predict", "--bbox", ",".join(map(str, box)), "--start", "2019-01-01", "--end", "2019-12-31", "--prompts",
            "land-cover", "--out", str(tmp_path / "map.tif"), "--stac", catalog, "--tile", "64", "--dry-run"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "collections: sentinel-2-c1-l2a (1 items), sentinel-2-l2a (2 items)" in res.output
    assert "overpasses: 1 " in res.output  # the reprocessed copy is the same overpass
    assert ("2019-01-01 Sentinel-2A R116 [sentinel-2-l2a, sentinel-2-c1-l2a]: 3 items, tiles 59VPE 59VPE 60VUK; "
            "reaches 30 run tiles") in res.output and "tiles:  60 of 64 x 64 px" in res.output, res.output
    res = CliRunner().invoke(main, [*args, "--collection", "sentinel-2-l2a"])
    assert res.exit_code == 0 and "collections: sentinel-2-l2a (2 items)" in res.output
    res = CliRunner().invoke(main, [*args, "--collection", "landsat-c2-l2"])
    assert res.exit_code == 1 and "skipped 3 item(s) of other collections" in res.output
