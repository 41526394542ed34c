import datetime as dt

import pytest

from tsmap.errors import DataError, InputError
from tsmap.geo import BBox
from tsmap.catalog import Query, search


def test_static_catalog_search_filters(demo_scene):
    box = demo_scene.grid.lonlat_bbox()
    items = search(Query.for_year(box, demo_scene.year), stac=demo_scene.catalog)
    assert len(items) == 24
    assert [it.datetime for it in items] == sorted(it.datetime for it in items)
    clear = search(Query.for_year(box, demo_scene.year, max_cloud=0), stac=demo_scene.catalog)
    assert 0 < len(clear) < 24
    assert all(it.properties["eo:cloud_cover"] == 0 for it in clear)
    june = Query(box, dt.datetime(2023, 6, 1, tzinfo=dt.timezone.utc), dt.datetime(2023, 6, 30, tzinfo=dt.timezone.utc))
    assert len(search(june, stac=demo_scene.catalog)) == 2


def test_no_items_says_what_was_searched(demo_scene):
    far = BBox(20.0, 40.0, 20.1, 40.1)
    names = "'sentinel-2-l2a', 'sentinel-2-c1-l2a', 'sentinel-s2-l2a-cogs'"  # a static catalog: any L2A collection
    with pytest.raises(DataError, match=rf"no Sentinel-2 items found for collection {names}, 2023-01-01"):
        search(Query.for_year(far, 2023), stac=demo_scene.catalog)


def test_bad_catalog_paths(tmp_path):
    q = Query.for_year(BBox(7, 50, 7.1, 50.1), 2023)
    with pytest.raises(InputError, match="does not exist"):
        search(q, stac=str(tmp_path / "missing" / "catalog.json"))
    bogus = tmp_path / "catalog.json"
    bogus.write_text('{"hello": 1}')
    with pytest.raises(InputError, match="not a readable STAC catalog"):
        search(q, stac=str(bogus))


def test_query_validation():
    box = BBox(7, 50, 7.1, 50.1)
    with pytest.raises(InputError, match="Sentinel-2 era"):
        Query.for_year(box, 1999)
    with pytest.raises(InputError, match="before start"):
        Query(box, dt.datetime(2023, 2, 1), dt.datetime(2023, 1, 1))
    with pytest.raises(InputError, match="cloud"):
        Query.for_year(box, 2023, max_cloud=120)


def test_dated_query_and_its_errors():
    box = BBox(7, 50, 7.1, 50.1)
    q = Query.for_dates(box, "2023-03-01", "2023-10-31", max_cloud=20)
    assert q.start == dt.datetime(2023, 3, 1, tzinfo=dt.timezone.utc)
    assert q.end == dt.datetime(2023, 10, 31, 23, 59, 59, tzinfo=dt.timezone.utc)
    for start, end, fragment in [
        ("2023-13-01", "2023-12-01", r"start date '2023-13-01' is not a valid date; give it as YYYY-MM-DD"),
        ("2023-01-01", "31/12/2023", r"end date '31/12/2023' is not a valid date"),
        ("2023-06-01", "2023-05-01", r"end date 2023-05-01 is before start date 2023-06-01; swap them"),
        ("2022-01-01", "2023-06-30", r"dates span 545 days; .* <= 366 days"),
        ("2010-01-01", "2010-12-31", r"before Sentinel-2 data begin"),
    ]:
        with pytest.raises(InputError, match=fragment):
            Query.for_dates(box, start, end)
    with pytest.raises(InputError, match=r"year 'twenty' is not a whole number"):
        Query.for_year(box, "twenty")


def test_search_real_item_collections_offline():
    """The shared real items as a static item collection: bbox, date and cloud filters apply."""
    from tsmap.items import item_epsg

    from .conftest import data_path

    es = str(data_path("stac-items", "earth_search_v1_sentinel-2-l2a_items_extract.geojson"))
    pc = str(data_path("stac-items", "planetary_computer_sentinel-2-l2a_items_extract.geojson"))
    box = BBox(-60.0, -60.6, -59.0, -60.3)  # tile 20EPT (2025-07-31, 26 % cloud)
    items = search(Query.for_year(box, 2025), stac=es)
    assert [it.id for it in items] == ["S2B_20EPT_20250731_0_L2A"]
    with pytest.raises(DataError, match=r"cloud cover <= 20% in .*earth_search"):
        search(Query.for_year(box, 2025, max_cloud=20), stac=es)
    pc_items = search(Query.for_dates(BBox(173.5, 57.5, 174.5, 58.5), "2019-01-01", "2019-01-01"), stac=pc)
    # pystac migrates proj:epsg to projection v2's proj:code on reading: what stackstac#262 trips over
    assert pc_items and {it.properties.get("proj:code") for it in pc_items} == {"EPSG:32659", "EPSG:32660"}
    assert {item_epsg(it) for it in pc_items} == {32659, 32660}  # this box straddles 174°E


def test_catalog_folder_and_source_names(demo_scene, tmp_path):
    import os

    from tsmap.catalog import SOURCES, is_static

    box = demo_scene.grid.lonlat_bbox()
    folder = os.path.dirname(demo_scene.catalog)
    assert len(search(Query.for_year(box, demo_scene.year), stac=folder)) == 24
    with pytest.raises(InputError, match="holds no catalog.json"):
        search(Query.for_year(box, 2023), stac=str(tmp_path))
    assert not is_static(SOURCES["planetary-computer"]) and is_static("https://example.org/catalog.json")
    assert is_static("relative/folder")


def test_api_search_splits_an_aoi_across_180_and_uses_the_collections(monkeypatch):
    """A STAC API is asked once per side of 180° (servers differ on W > E boxes), for the service's L2A collection."""
    import json

    import pystac
    import pystac_client

    from .conftest import data_path

    path = data_path("stac-items", "planetary_computer_sentinel-2-l2a_items_extract.geojson")
    features = json.loads(path.read_text())["features"]
    calls = []

    class Result:
        def __init__(self, items):
            self._items = items

        def items(self):
            return iter(self._items)

    class Client:
        def search(self, **kw):
            calls.append(kw)
            west = kw["bbox"][0] > 0
            return Result([pystac.Item.from_dict(features[0 if west else 1]), pystac.Item.from_dict(features[2])])

    monkeypatch.setattr(pystac_client.Client, "open", staticmethod(lambda url: Client()))
    for f in features[:3]:  # an overpass at 180°: make their bboxes reach it
        f["bbox"] = [179.5, 57.0, -179.5, 59.0]
    box = BBox(179.9, 58.0, -179.9, 58.1)
    found = search(Query.for_dates(box, "2019-01-01", "2019-01-01"), stac="planetary-computer")
    assert [c["bbox"] for c in calls] == [(179.9, 58.0, 180.0, 58.1), (-180.0, 58.0, -179.9, 58.1)]
    assert all(c["collections"] == ["sentinel-2-l2a"] for c in calls)
    assert sorted(it.id for it in found) == sorted(f["id"] for f in features[:3])  # one of each, no duplicate
    calls.clear()
    both = Query.for_dates(box, "2019-01-01", "2019-01-01", collection="sentinel-2-c1-l2a, sentinel-2-l2a")
    search(both, stac="earth-search")
    assert calls[0]["collections"] == ["sentinel-2-c1-l2a", "sentinel-2-l2a"]


def test_collection_names_are_checked():
    box = BBox(7, 50, 7.1, 50.1)
    assert Query.for_year(box, 2023).collection is None
    assert Query.for_year(box, 2023, collection="a,b").collection == ("a", "b")
    assert Query.for_year(box, 2023).for_stac("earth-search").collection == ("sentinel-2-l2a",)
    static = Query.for_year(box, 2023).for_stac("catalog.json")
    assert static.collection == ("sentinel-2-l2a", "sentinel-2-c1-l2a", "sentinel-s2-l2a-cogs")
    with pytest.raises(InputError, match="names no collection"):
        Query.for_year(box, 2023, collection=" , ")
