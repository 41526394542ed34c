"""Command-line conventions: --aoi/--crs/--resolution, tsmap info, tsmap prompts, -v/-q, metavars, --dry-run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from tsmap.cli import main

from .pipeline_helpers import SMALL


def _bbox(scene) -> str:
    return ",".join(str(v) for v in scene.grid.lonlat_bbox().as_tuple())


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _polygon_east_half(scene, epsg: int | None = None):
    """A polygon over the east 60 % of the scene (lon/lat, or in ``epsg``), as shapely."""
    import shapely
    from rasterio.warp import transform_geom

    minx, miny, maxx, maxy = scene.grid.bounds
    x0 = minx + 0.4 * (maxx - minx)
    poly = {
        "type": "Polygon",
        "coordinates": [
            [(x0, miny + 35), (maxx - 25, miny + 35), (maxx - 25, maxy - 25), (x0 + 100, maxy - 25), (x0, miny + 35)]
        ],
    }
    geom = transform_geom(f"EPSG:{scene.grid.epsg}", f"EPSG:{epsg or 4326}", poly)
    return shapely.geometry.shape(geom)


@pytest.mark.parametrize("kind", ["geojson", "gpkg"])
def test_aoi_polygons_clip_the_maps_to_nodata_outside(demo_scene, tmp_path, kind):
    import pyogrio
    import shapely

    if kind == "geojson":
        poly = _polygon_east_half(demo_scene)
        aoi = tmp_path / "aoi.geojson"
        aoi.write_text(json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(poly)}]}))
    else:  # a GeoPackage in the map's own UTM CRS
        poly = _polygon_east_half(demo_scene, epsg=32632)
        aoi = tmp_path / "aoi.gpkg"
        pyogrio.raw.write(str(aoi), np.array([shapely.to_wkb(poly)], dtype=object), [], [], geometry_type="Polygon",
                          crs="EPSG:32632", driver="GPKG")
    out = tmp_path / "map.tif"
    res = _invoke("predict", "--aoi", aoi, "--year", 2023, "--stac", demo_scene.catalog, "--prompts", "land-cover",
                  "--out", out, "--clip-pretrained", "none", "--tile", 32, "-q")
    assert res.exit_code == 0, res.output
    with rasterio.open(out) as f:
        cls = f.read(1)
        rows, cols = np.indices(cls.shape)
        xs, ys = rasterio.transform.xy(f.transform, rows.ravel(), cols.ravel())
        crs = f.crs
    from rasterio.warp import transform as warp

    lon, lat = warp(crs, "EPSG:4326", xs, ys) if kind == "geojson" else (xs, ys)
    points = shapely.points(np.asarray(lon), np.asarray(lat))
    inside = shapely.contains(poly, points).reshape(cls.shape)  # independent of tsmap's masking
    clear = (shapely.distance(poly.boundary, points) > (1e-4 if kind == "geojson" else 5)).reshape(cls.shape)
    assert (inside & clear).sum() > 500 and (~inside & clear).sum() > 100
    assert (cls[~inside & clear] == 255).all() and (
        cls[inside & clear] < 254
    ).all()  # pixels by an edge may go either way
    with rasterio.open(tmp_path / "map_score.tif") as f:
        assert np.isnan(f.read(1)[~inside & clear]).all()


def test_crs_as_wkt_and_resolution(demo_scene, tmp_path):
    from pyproj import CRS

    out = tmp_path / "m.tif"
    wkt = CRS.from_epsg(32632).to_wkt()
    res = _invoke("predict", "--bbox", _bbox(demo_scene), "--year", 2023, "--stac", demo_scene.catalog, "--prompts",
                  "land-cover", "--out", out, "--clip-pretrained", "none", "--crs", wkt, "--resolution", 20, "--quiet")
    assert res.exit_code == 0, res.output
    with rasterio.open(out) as f:
        assert f.crs.to_epsg() == 32632 and f.res == (20.0, 20.0)
    bad = _invoke("predict", "--bbox", _bbox(demo_scene), "--year", 2023, "--prompts", "land-cover", "--out", out,
                  "--crs", "not a crs")
    assert bad.exit_code == 1 and "not valid" in bad.output and "Traceback" not in bad.output


def test_info_describes_maps_stores_and_checkpoints(demo_scene, tmp_path):
    import tsmap
    from tsmap.checkpoint import save_checkpoint
    from tsmap.model import EncoderConfig, build_encoder
    from tsmap.specs import AUTHORS

    res = tsmap.predict(
        prompts="land-cover",
        out=tmp_path / "m.tif",
        query=tsmap.Query.for_year(demo_scene.grid.lonlat_bbox(), 2023),
        grid=demo_scene.grid,
        stac=demo_scene.catalog,
        encoder=SMALL,
        clip_pretrained="none",
        tile=32,
        progress=False,
        keep_embeddings=str(tmp_path / "e.zarr"),
    )
    text = _invoke("info", res.class_map).output
    assert "64 x 64 px at 10 m, EPSG:32632" in text and "0 Artificial Land, 1 Cropland" in text
    assert "complete:    yes" in text and "24 scenes" in text and "RANDOM text tower" in text
    text = _invoke("info", tmp_path / "e.zarr").output
    assert "tiles:       4 of 32 px" in text and "512-d, float16" in text and "2023-01-01 .. 2023-12-31" in text
    ckpt = tmp_path / "c.safetensors"
    save_checkpoint(ckpt, build_encoder(EncoderConfig(dim=32, depth=1, heads=4, mlp_dim=16)), AUTHORS,
                    text_model="open_clip:ViT-B-32/openai", provenance={"training_data": "none, a test"})
    text = _invoke("info", ckpt).output
    assert "dim 32, depth 1, heads 4" in text and "monthly composites, rule authors" in text and "training_data" in text
    missing = _invoke("info", tmp_path / "nope.tif")
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_prompts_shows_texts_and_lists_scenic_sets():
    listing = _invoke("prompts").output
    assert "land-cover" in listing and "illustrative" in listing and "scenicness" in listing
    one = _invoke("prompts", "land-cover").output
    assert "- a street with houses and parked cars" in one
    scenic = _invoke("prompts", "illustrative").output
    assert "rated prompts" in scenic and len(scenic.splitlines()) > 10


def test_help_lists_required_options_first_with_metavars_and_v_q_on_commands():
    text = _invoke("predict", "--help").output
    options = [line.split()[0] for line in text.splitlines() if line.startswith("  -")]
    assert options[:2] == ["--prompts", "--out"]
    assert "--bbox W,S,E,N" in text and "--start YYYY-MM-DD" in text and "-q, --quiet" in text
    for cmd in ("classify", "scenic", "embed", "info", "prompts", "demo", "convert", "download"):
        assert "-v, --verbose" in _invoke(cmd, "--help").output, cmd


def test_no_items_error_hints_at_the_axis_order(demo_scene, tmp_path):
    res = _invoke("predict", "--bbox", "50.70,7.00,50.71,7.01", "--year", 2023, "--stac", demo_scene.catalog,
                  "--prompts", "land-cover", "--out", tmp_path / "m.tif", "--clip-pretrained", "none", "-q")
    assert res.exit_code == 1 and "W,S,E,N" in res.output and not (tmp_path / "m.tif").exists()


def test_dry_run_lists_scenes_per_month_and_bytes(demo_scene):
    res = _invoke("predict", "--bbox", _bbox(demo_scene), "--year", 2023, "--stac", demo_scene.catalog,
                  "--prompts", "land-cover", "--out", "x.tif", "--dry-run")
    assert res.exit_code == 0, res.output
    assert "2023-01: 2" in res.output and "2023-12: 2" in res.output and "MB of band windows" in res.output
    assert "reads ~" in res.output and "px/s per worker" in res.output


def test_tiles_shrink_so_every_worker_has_one():
    from tsmap.geo import Grid
    from tsmap.tiles import fit_tile, tile_grid

    grid = Grid(32632, (0, 0, 2000, 2000))  # 200 x 200 px
    assert fit_tile(grid, 256, 1) == 256 and fit_tile(grid, 256, 4) == 128 and fit_tile(grid, 256, 16) == 64
    assert len(tile_grid(grid, fit_tile(grid, 256, 9))) >= 9 and fit_tile(grid, 256, 1000) == 64
