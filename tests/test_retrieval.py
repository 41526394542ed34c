import json

import numpy as np
import pytest
import xarray as xr
from rasterio.warp import transform

from tsmap.errors import InputError
from tsmap.geo import Grid
from tsmap.zeroshot import l2_normalise
from tsmap.retrieval import search_text
from tsmap.text import encode_texts

GRID = Grid(epsg=32632, bounds=(500000.0, 5000000.0, 500080.0, 5000060.0), resolution=10.0)  # 6 x 8 px


def scene(dim=64, seed=0):
    """Random unit embeddings with the query planted at known pixels, best first; one nodata row."""
    rng = np.random.default_rng(seed)
    q = l2_normalise(rng.normal(size=dim))
    emb = l2_normalise(rng.normal(size=(6, 8, dim)))
    planted = [((2, 5), 1.0), ((4, 1), 0.9), ((0, 7), 0.8), ((5, 3), 0.7)]
    for (r, c), cos in planted:
        other = l2_normalise(emb[r, c] - (emb[r, c] @ q) * q)
        emb[r, c] = cos * q + np.sqrt(1 - cos**2) * other
    emb[3] = np.nan
    return q, emb, planted


def as_cube(emb, coords=False):
    da = xr.DataArray(np.moveaxis(emb, -1, 0), dims=("embed", "y", "x")).chunk({"y": 4, "x": 3})
    if coords:
        xs = GRID.bounds[0] + 5 + 10 * np.arange(8)
        ys = GRID.bounds[3] - 5 - 10 * np.arange(6)
        da = da.assign_coords(x=xs, y=ys)
    return da


def test_top_pixels_are_found_across_chunks_with_lonlat():
    q, emb, planted = scene()
    fc = search_text(as_cube(emb), q, grid=GRID, top=4)
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 4
    props = [f["properties"] for f in fc["features"]]
    assert [(p["row"], p["col"]) for p in props] == [rc for rc, _ in planted]
    np.testing.assert_allclose([p["score"] for p in props], [cos for _, cos in planted], atol=1e-5)
    assert [p["rank"] for p in props] == [1, 2, 3, 4]
    xs = [GRID.bounds[0] + 10 * p["col"] + 5 for p in props]
    ys = [GRID.bounds[3] - 10 * p["row"] - 5 for p in props]
    assert [p["x"] for p in props] == xs and [p["y"] for p in props] == ys
    lon, lat = transform("EPSG:32632", "EPSG:4326", xs, ys)
    got = np.array([f["geometry"]["coordinates"] for f in fc["features"]])
    np.testing.assert_allclose(got, np.c_[lon, lat], atol=1e-9)
    assert 8.99 < got[0, 0] < 9.01 and 45.1 < got[0, 1] < 45.2  # 500 km east in zone 32 = 9 deg E
    json.dumps(fc)  # plain JSON


def test_matches_brute_force_ranking_and_skips_nodata():
    q, emb, _ = scene(seed=3)
    fc = search_text(as_cube(emb), q, grid=GRID, top=40)  # the 40 valid pixels, all of them
    s = np.nan_to_num(emb @ q, nan=-np.inf).ravel()
    order = np.argsort(-s, kind="stable")[:40]
    assert [(f["properties"]["row"], f["properties"]["col"]) for f in fc["features"]] == [
        divmod(int(i), 8) for i in order
    ]
    assert all(f["properties"]["row"] != 3 for f in fc["features"])
    assert len(search_text(as_cube(emb), q, grid=GRID, top=100)["features"]) == 40


def test_ties_go_to_the_first_pixel_and_coords_are_used():
    q, emb, _ = scene()
    emb[1, 6] = emb[2, 5]  # same embedding as the best pixel, earlier in row-major order
    fc = search_text(as_cube(emb), q, grid=GRID, top=2)
    assert [(f["properties"]["row"], f["properties"]["col"]) for f in fc["features"]] == [(1, 6), (2, 5)]
    window = as_cube(emb, coords=True).isel(y=slice(2, 6), x=slice(2, 8))  # pixel (2, 5) is (0, 3) here
    fc = search_text(window, q, grid=GRID, top=1)
    (best,) = fc["features"]
    assert (best["properties"]["row"], best["properties"]["col"]) == (0, 3)
    assert (best["properties"]["x"], best["properties"]["y"]) == (500055.0, 5000035.0)


def test_text_query_is_encoded_with_the_text_tower(tmp_path):
    rng = np.random.default_rng(0)
    emb = l2_normalise(rng.normal(size=(6, 8, 512)))
    q = encode_texts(["olive groves on dry terraced hills"], pretrained="none", cache_dir=tmp_path)[0]
    emb[4, 4] = q
    fc = search_text(
        as_cube(emb), "olive groves on dry terraced hills", grid=GRID, top=3, clip_pretrained="none", cache_dir=tmp_path
    )
    assert fc["properties"]["query"] == "olive groves on dry terraced hills"
    assert fc["properties"]["text_model"] == "open_clip:ViT-B-32-quickgelu/none" and fc["properties"]["epsg"] == 32632
    by_vector = search_text(as_cube(emb), q, grid=GRID, top=3)
    assert fc["features"] == by_vector["features"] and fc["features"][0]["properties"]["row"] == 4


def test_bad_queries():
    q, emb, _ = scene()
    with pytest.raises(InputError, match="top must be a positive"):
        search_text(as_cube(emb), q, grid=GRID, top=0)
    with pytest.raises(InputError, match="does not fit pixel embeddings"):
        search_text(as_cube(emb), q[:10], grid=GRID)
    with pytest.raises(InputError, match="text query is empty"):
        search_text(as_cube(emb), "  ", grid=GRID)
    with pytest.raises(InputError, match="pass the grid they were made on"):
        search_text(as_cube(emb).isel(x=slice(0, 4)), q, grid=GRID)
