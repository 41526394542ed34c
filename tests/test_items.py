import json

import pystac
import pytest

from tsmap.bands import SPECTRAL_NAMES
from tsmap.errors import DataError
from tsmap.items import dn_offsets, item_epsg, prepare_item

from .conftest import data_path

ES = "earth_search_v1_sentinel-2-l2a_items_extract.geojson"
PC = "planetary_computer_sentinel-2-l2a_items_extract.geojson"


def _features(name):
    return json.loads(data_path("stac-items", name).read_text())["features"]


def test_offsets_on_real_items():
    """Earth Search v1 (baseline 05.xx, raster:bands offset -0.1 at 1e-4) vs Planetary Computer 2019 (02.12)."""
    for f in _features(ES):
        assert dn_offsets(f) == {b: 1000 for b in SPECTRAL_NAMES}
    for f in _features(PC):
        assert dn_offsets(f) == {b: 0 for b in SPECTRAL_NAMES}


def test_offset_sources_in_order():
    f = _features(PC)[0]
    f["properties"]["s2:processing_baseline"] = "04.00"  # PC gives no raster:bands: the baseline decides
    assert set(dn_offsets(f).values()) == {1000}
    del f["properties"]["s2:processing_baseline"]
    f["properties"]["processing:version"] = "05.10"
    assert set(dn_offsets(f).values()) == {1000}
    del f["properties"]["processing:version"]
    assert set(dn_offsets(f).values()) == {0}  # 2019-01-01: before 2022-01-25
    f["properties"]["datetime"] = "2022-03-01T10:00:00Z"
    assert set(dn_offsets(f).values()) == {1000}
    # metadata wins over the date: a reprocessed 2019 scene (Collection 1, baseline 05.00) with the offset in
    # raster metadata
    g = _features(ES)[0]
    g["properties"]["datetime"] = "2019-03-01T10:00:00Z"
    assert set(dn_offsets(g).values()) == {1000}
    g["assets"]["red"]["raster:bands"][0]["offset"] = 0.0
    assert dn_offsets(g)["B04"] == 0 and dn_offsets(g)["B03"] == 1000
    # STAC 1.1 style: raster:offset / raster:scale inside ``bands``
    g["assets"]["red"].pop("raster:bands")
    g["assets"]["red"]["bands"] = [{"name": "B04", "raster:scale": 0.0001, "raster:offset": -0.1}]
    g["assets"]["red"].pop("eo:bands")
    assert dn_offsets(g)["B04"] == 1000


def test_crs_of_real_items():
    assert {item_epsg(f) for f in _features(ES)} >= {32720}
    assert item_epsg(_features(PC)[0]) == 32660
    f = _features(ES)[0]
    f["properties"]["proj:code"] = f"EPSG:{f['properties'].pop('proj:epsg')}"
    assert item_epsg(f) == 32720


def test_prepare_item_canonical_keys_absolute_unsigned_hrefs(tmp_path):
    f = _features(PC)[0]
    f["assets"]["B04"]["href"] += "?st=2024-01-01T00%3A00%3A00Z&se=2024-01-01T01%3A00%3A00Z&sp=rl&sig=abc"
    d = prepare_item(f)
    assert sorted(d["assets"]) == sorted([*SPECTRAL_NAMES, "SCL"])
    assert "?" not in d["assets"]["B04"]["href"] and d["assets"]["B04"]["href"].endswith("B04_10m.tif")
    assert d["assets"]["B04"]["proj:epsg"] == 32660
    # relative hrefs of a self-contained catalog become absolute
    item = pystac.Item.from_dict(_features(ES)[0])
    item.set_self_href(str(tmp_path / "items" / "a.json"))
    item.assets["blue"].href = "./B02.tif"
    assert prepare_item(item)["assets"]["B02"]["href"] == str(tmp_path / "items" / "B02.tif")


def test_missing_band_names_the_item_and_the_fix():
    f = _features(ES)[0]
    del f["assets"]["scl"]
    with pytest.raises(
        DataError,
        match=r"item 'S2B_20EPT_20250731_0_L2A' has no asset for band\(s\) SCL \(its assets: .*\); use a Sentinel-2 "
              r"L2A",
    ):
        prepare_item(f)


def test_asset_hrefs_with_a_scheme_or_an_absolute_path_are_used_as_they_are():
    """A mirror keeps the service's https self link: only relative hrefs are joined onto it."""
    from tsmap.items import asset_href

    item = pystac.Item.from_dict(_features(PC)[0])
    assert item.get_self_href().startswith("https://planetarycomputer.microsoft.com/api/stac/v1/collections/")
    for href, expected in [
        ("/data/mirror/B02.tif", "/data/mirror/B02.tif"),
        ("file:///data/mirror/B02.tif", "file:///data/mirror/B02.tif"),
        ("s3://bucket/B02.tif", "s3://bucket/B02.tif"),
        ("https://example.org/B02.tif", "https://example.org/B02.tif"),
        ("../B02.tif", "https://planetarycomputer.microsoft.com/api/stac/v1/collections/sentinel-2-l2a/B02.tif"),
    ]:
        item.assets["B02"].href = href
        assert asset_href(item, "B02") == expected and prepare_item(item)["assets"]["B02"]["href"] == expected


def test_overpass_and_tile_of_real_items():
    from tsmap.items import acquisition, mgrs_tile, relative_orbit

    pc = _features(PC)
    assert {acquisition(f) for f in pc} == {"GS2A_20190101T000001_018417"}  # 33 tiles, 3 UTM zones: one overpass
    assert [mgrs_tile(f) for f in pc[:2]] == ["60VUK", "60VUJ"] and relative_orbit(pc[0]) == 116
    es = _features(ES)
    assert [mgrs_tile(f) for f in es] == ["20EPT", "24MUV", "24MVV", "24MWV", "24MXV", "24MUA", "13TDE"]  # grid:code
    assert len({acquisition(f) for f in es}) == 3 and relative_orbit(es[1]) == 95  # from s2:product_uri
    # the same datatake at another processing baseline is the same overpass
    f = _features(PC)[0]
    f["properties"]["s2:datatake_id"] = "GS2A_20190101T000001_018417_N05.00"
    assert acquisition(f) == acquisition(pc[0])
    # without a datatake: day, satellite and relative orbit (Earth Search v0 names the orbit only in the product id)
    f = _features(ES)[1]
    for key in ("s2:datatake_id", "s2:product_uri", "mgrs:utm_zone", "grid:code"):
        f["properties"].pop(key)
    f["properties"]["sentinel:product_id"] = "S2B_MSIL2A_20250731T130249_N0511_R095_T24MUV_20250731T132745"
    assert acquisition(f) == "2025-07-31/sentinel-2b/R095" and mgrs_tile(f) == "24MUV"
