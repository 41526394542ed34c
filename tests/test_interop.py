"""Interoperability: outputs other tools read (STAC schemas, GDAL categories, CF Zarr), results that keep
their CRS and class meaning through the Python API, quicklooks, and cheap imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import rasterio

import tsmap
from tsmap.legend import NODATA_RGB, UNKNOWN_RGB, Legend

from .pipeline_helpers import SMALL, TILE, predict_scene, scene_query

SCHEMAS = Path(__file__).parent / "stac_schemas"


@pytest.fixture(scope="module")
def run(demo_scene, tmp_path_factory):
    """One predict run (with quicklook and kept embeddings) on the demo scene, shared by these tests."""
    out = tmp_path_factory.mktemp("interop")
    res = predict_scene(demo_scene, out / "map.tif", quicklook=True, keep_embeddings=str(out / "emb.zarr"))
    return res, out


def _validator(schema_file: str):
    """A jsonschema validator whose references resolve to the vendored schemas only (no network)."""
    from jsonschema import Draft7Validator
    from referencing import Registry, Resource

    registry = Registry()
    base = "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/"
    for path in SCHEMAS.glob("*.json"):
        doc = json.loads(path.read_text())
        uris = {doc.get("$id", "").rstrip("#"), base + path.name}
        if path.name in ("Feature.json", "Geometry.json"):
            uris.add(f"https://geojson.org/schema/{path.name}")
        for uri in filter(None, uris):
            registry = registry.with_resource(uri, Resource.from_contents(doc, default_specification=_draft(doc)))
    schema = json.loads((SCHEMAS / schema_file).read_text())
    return Draft7Validator(schema, registry=registry)


def _draft(doc):
    from referencing.jsonschema import DRAFT7

    return DRAFT7


EXTENSION_FILES = {
    "https://stac-extensions.github.io/projection/v1.0.0/schema.json": "projection-v1.0.0.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json": "raster-v1.1.0.json",
    "https://stac-extensions.github.io/classification/v1.1.0/schema.json": "classification-v1.1.0.json",
    "https://stac-extensions.github.io/processing/v1.1.0/schema.json": "processing-v1.1.0.json",
}


def _assert_valid_stac(path):
    item = json.loads(Path(path).read_text())
    errors = [f"item.json: {e.message}" for e in _validator("item.json").iter_errors(item)]
    for ext in item["stac_extensions"]:
        assert ext in EXTENSION_FILES, f"{ext} is declared but its schema is not vendored"
        errors += [f"{ext}: {e.message}" for e in _validator(EXTENSION_FILES[ext]).iter_errors(item)]
    assert not errors, errors
    return item


def test_stac_items_validate_offline_against_their_declared_extensions(run):
    res, out = run
    item = _assert_valid_stac(out / "map_item.json")
    assert len(item["stac_extensions"]) == 4
    classes = item["assets"]["class"]["classification:classes"]
    assert all(
        __import__("re").fullmatch(r"[0-9A-Za-z_-]+", c["name"]) for c in classes
    )  # classification v2's rule too
    assert classes[0] == {
        "value": 0,
        "name": "Artificial_Land",
        "title": "Artificial Land",
        "description": "Artificial Land",
        "color_hint": "D7191C",
    }
    assert classes[-1]["value"] == 255 and classes[-1]["nodata"] is True
    props = item["properties"]
    assert isinstance(props["tsmap:items"], list) and len(props["tsmap:items"]) == 24
    assert isinstance(props["tsmap:tile_size"], int) and isinstance(props["tsmap:preprocessing"], dict)
    assert props["tsmap:missing_tiles"] == [] and props["proj:epsg"] == 32632
    derived = [link["href"] for link in item["links"] if link["rel"] == "derived_from"]
    assert len(derived) == 24
    for href in derived + [a["href"] for a in item["assets"].values()]:
        assert os.path.exists(out / href), href  # relative to the item's folder, and there
    store_item = _assert_valid_stac(out / "emb_item.json") if (out / "emb_item.json").exists() else None
    assert store_item is None  # predict keeps the store; `tsmap embed` writes its item (next test)


def test_embed_writes_a_valid_stac_item_and_a_cf_store_other_tools_open(demo_scene, tmp_path):
    import xarray as xr

    emb = tsmap.embed_area(out=tmp_path / "emb.zarr", query=scene_query(demo_scene), grid=demo_scene.grid,
                           stac=demo_scene.catalog, encoder=SMALL, tile=TILE, progress=False)
    item = _assert_valid_stac(emb.item)
    assert item["assets"]["embeddings"]["href"] == "emb.zarr" and item["properties"]["tsmap:encoding"] == "float16"
    ds = xr.open_zarr(emb.path, decode_coords="all")  # plain xarray: consolidated metadata, CF attributes
    assert ds.attrs["Conventions"] == "CF-1.8" and ds["embedding"].dtype == np.float16
    assert ds.rio.crs.to_epsg() == 32632 and ds.rio.transform() == demo_scene.grid.transform
    assert ds["x"].attrs["units"] == "m" and ds["spatial_ref"].attrs["grid_mapping_name"] == "transverse_mercator"
    assert tsmap.open_embeddings(emb.path)["embedding"].dtype == np.float16
    assert tsmap.open_embeddings(emb.path, dtype="float32")["embedding"].dtype == np.float32


def test_class_names_are_gdal_categories_and_json_tags(run):
    res, out = run
    names = json.loads(rasterio.open(res.class_map).tags()["classes"])
    assert names == tsmap.load_prompts("land-cover").names
    vrt = out / "read_back.vrt"  # GDAL (through rasterio) reads the categories and writes them into a VRT
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="FALSE"):  # sidecars are read unless GDAL is told to skip them
        rasterio.shutil.copy(res.class_map, vrt, driver="VRT")
    cats = [c.text or "" for c in ET.parse(vrt).getroot().iter("Category")]
    assert cats[: len(names)] == names and cats[254] == "unknown (none of these)" and cats[255] == "no data"
    with rasterio.open(res.class_map) as f:
        assert f.colormap(1)[254][:3] == UNKNOWN_RGB and f.colormap(1)[255][3] == 0


def test_api_stages_keep_crs_dates_and_class_meaning(demo_scene, tmp_path):
    items = tsmap.search(scene_query(demo_scene), stac=demo_scene.catalog)
    cube = tsmap.load_cube(items, demo_scene.grid, chunk=32)
    comp = tsmap.composite(cube, tsmap.AUTHORS.composite)
    assert cube.rio.crs.to_epsg() == comp.rio.crs.to_epsg() == 32632
    assert str(comp["month"].values[0])[:10] == "2023-01-01" and str(comp["month"].values[11])[:10] == "2023-12-01"
    emb = tsmap.embed(comp["s2"], SMALL.load())
    from tsmap.text import embed_prompts

    maps = tsmap.classify(emb, embed_prompts(tsmap.load_prompts("land-cover"), pretrained="none"))
    assert emb.rio.crs.to_epsg() == maps["class"].rio.crs.to_epsg() == 32632
    attrs = maps["class"].attrs
    assert attrs["flag_values"][:2] == [0, 1] and attrs["flag_values"][-1] == 254 and attrs["_FillValue"] == 255
    assert attrs["flag_meanings"].split()[0] == "Artificial_Land" and len(attrs["flag_colors"].split()) == 9
    maps["class"].rio.to_raster(tmp_path / "c.tif")  # what a notebook user does
    with rasterio.open(tmp_path / "c.tif") as f:
        assert f.crs.to_epsg() == 32632 and f.transform == demo_scene.grid.transform and f.nodata == 255


def test_open_and_plot_a_predict_result(run):
    res, _ = run
    ds = res.open()
    assert set(ds.data_vars) == {"class", "score", "probability", "margin"}
    assert ds.rio.crs.to_epsg() == 32632 and ds["class"].chunks is not None  # lazy
    legend = Legend.from_attrs(ds["class"].attrs)
    assert legend.names == tuple(res.classes) and legend.colors[0] == (0xD7, 0x19, 0x1C)
    assert ds.attrs["prompts_name"] == "land-cover" and ds.attrs["synthetic"] == "yes"
    ax = res.plot()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[-1] == "no data" and set(labels[:-1]) <= set(res.classes)
    assert "tsmap MapResult" in res._repr_html_() and "EPSG:32632" in res._repr_html_()


def test_quicklook_shows_nodata_and_unknown_distinctly_in_map_and_legend(run):
    import matplotlib.image

    res, out = run
    png = (matplotlib.image.imread(out / "map_quicklook.png")[..., :3] * 255).round().astype(int)
    nodata = (png == NODATA_RGB).all(-1)
    cols = np.flatnonzero(nodata.any(0))
    width = png.shape[1]
    assert cols.min() < width * 0.2 and cols.max() > width * 0.7  # the nodata strip (west) and its legend patch (east)


def test_unknown_and_nodata_are_drawn_distinctly_and_listed(tmp_path):
    import matplotlib.image
    import matplotlib.pyplot as plt

    from tsmap.quicklook import draw

    data = np.zeros((40, 40), np.uint8)
    data[:, :10], data[:, 10:20], data[:, 20:30] = 255, 254, 1
    legend = Legend(("Woodland", "A class whose name is long enough to need wrapping in the legend"))
    fig, ax = plt.subplots(figsize=(6, 4))
    draw(ax, data, legend=legend, title="t")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == "Woodland" and "\n" in labels[1] and labels[2:] == ["unknown (none of these)", "no data"]
    fig.savefig(tmp_path / "q.png", bbox_inches="tight")
    plt.close(fig)
    png = (matplotlib.image.imread(tmp_path / "q.png")[..., :3] * 255).round().astype(int)
    for rgb in (UNKNOWN_RGB, NODATA_RGB, legend.colors[1]):
        assert (png == rgb).all(-1).sum() > 1000, rgb  # a map band of 10 columns each, drawn in that colour


def test_demo_quicklook_legend_is_not_cut_and_names_a_synthetic_run(tmp_path):
    from tsmap.demo import run_demo

    demo = run_demo(str(tmp_path), size=64, train=False, progress=False)
    assert demo.predict.class_map and os.path.exists(tmp_path / "map_quicklook.png")
    with rasterio.open(demo.scene.truth) as f:
        assert f.colormap(1)[2][:3] == (0x1A, 0x7F, 0x37)  # Woodland's colour from the land-cover prompt set


def test_scenic_quicklook_colour_bar_is_fixed_to_1_10(run, tmp_path):
    import matplotlib.pyplot as plt

    from tsmap.quicklook import draw

    fig, ax = plt.subplots()
    draw(ax, np.full((4, 4), 5.0, np.float32), scenic=True)
    bar = fig.axes[-1]
    assert bar.get_ylim() == (1.0, 10.0) and "scenicness" in bar.get_ylabel()
    plt.close(fig)


def test_import_tsmap_model_does_not_import_xarray_and_help_is_cheap():
    code = ("import sys, tsmap.model, tsmap.cli; assert 'xarray' not in sys.modules and 'rasterio' not in sys.modules, "
            "sorted(m for m in sys.modules if m.split('.')[0] in ('xarray', 'rasterio'))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0
    code = "import sys; from tsmap.cli import main; assert 'torch' not in sys.modules and 'xarray' not in sys.modules"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert tsmap.Grid is tsmap.geo.Grid and "predict" in dir(tsmap)
