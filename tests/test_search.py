import datetime as dt

import pytest

from tsmap.errors import DataError, InputError
from tsmap.geo import BBox
from tsmap.search import Query, search


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
    with pytest.raises(DataError, match=r"no Sentinel-2 items found for collection 'sentinel-2-l2a', 2023-01-01"):
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
