import json

import pystac
import pytest

from tsmap.bands import ALL_NAMES, SPECTRAL_NAMES, band, canonical_name, resolve_assets

from .conftest import data_path


def _features(name):
    return json.loads(data_path("stac-items", name).read_text())["features"]


def test_band_order_is_the_encoders():
    assert SPECTRAL_NAMES == ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
    assert ALL_NAMES[-1] == "SCL"


@pytest.mark.parametrize(
    "text, canon", [("B2", "B02"), ("b02", "B02"), ("B08A", "B8A"), ("B8A", "B8A"), ("B11", "B11"), ("scl", "SCL")]
)
def test_canonical_names(text, canon):
    assert canonical_name(text) == canon
    assert band(text).name == canon


def test_real_earth_search_items_map_common_names():
    """Earth Search v1: common-name keys; rededge1..3 all say common_name 'rededge', so eo:bands name decides."""
    expected = {"B02": "blue", "B03": "green", "B04": "red", "B05": "rededge1", "B06": "rededge2", "B07": "rededge3",
                "B08": "nir", "B8A": "nir08", "B11": "swir16", "B12": "swir22", "SCL": "scl"}  # fmt: skip
    for f in _features("earth_search_v1_sentinel-2-l2a_items_extract.geojson"):
        assert resolve_assets(f) == expected  # the COG, never its JPEG2000 twin
        assert resolve_assets(pystac.Item.from_dict(f)) == expected


def test_real_planetary_computer_items_map_band_names():
    for f in _features("planetary_computer_sentinel-2-l2a_items_extract.geojson"):
        assert resolve_assets(f) == {name: name for name in ALL_NAMES}


def test_cdse_style_assets_pick_native_resolution_and_geotiff():
    """One asset per band and resolution (B02_10m, B02_20m, ...), STAC 1.1 ``bands``; a JPEG2000 twin."""
    def asset(name, res, media="image/tiff; application=geotiff; profile=cloud-optimized"):
        return {
            "href": f"s3://eodata/{name}_{res}m.tif",
            "type": media,
            "gsd": res,
            "bands": [{"name": name}],
            "roles": ["data"],
        }

    assets = {}
    for name in ALL_NAMES:
        for res in (10, 20, 60):
            assets[f"{name}_{res}m"] = asset(name, res)
        assets[f"{name}_jp2"] = asset(name, 10, media="image/jp2")
    assets["TCI_10m"] = {
        "href": "x",
        "type": "image/tiff",
        "bands": [{"name": "B04"}, {"name": "B03"}, {"name": "B02"}],
    }
    found = resolve_assets({"assets": assets})
    assert (
        found["B02"] == "B02_10m"
        and found["B05"] == "B05_20m"
        and found["B8A"] == "B8A_20m"
        and found["SCL"] == "SCL_20m"
    )


def test_key_only_assets_and_missing_bands():
    found = resolve_assets(
        {"assets": {"b04": {"href": "a.tif"}, "SCL_20m": {"href": "s.tif"}, "visual": {"href": "v.tif"}}}
    )
    assert found == {"B04": "b04", "SCL": "SCL_20m"}
