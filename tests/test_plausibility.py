"""Corrupt imagery never maps silently: impossible values are counted, recorded, left out; decode errors fail tiles."""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from tsmap.cli import main
from tsmap.errors import DataError
from tsmap.ledger import FAILED, Ledger
from tsmap.plausibility import DN_MAX, DN_MIN, ImplausibleImagery, check_tile, impossible, screen
from tsmap.retry import RetryPolicy
from tsmap.synthetic import make_scene

from .pipeline_helpers import predict_scene

#: The scene's band files carry the +1000 offset (baseline 05.09): this raw DN is the first impossible one.
RAW_LIMIT = DN_MAX + 1000


def test_impossible_observations_are_spectral_dn_out_of_range_or_scl_beyond_11():
    block = np.full((5, 11, 1, 1), 500.0, np.float32)  # 5 dates, 10 bands + SCL (last), one pixel
    block[:, -1] = 4
    block[1, 3] = DN_MAX + 1  # too bright
    block[2, 0] = DN_MIN - 1  # below the offset's floor
    block[3, -1] = 12  # no such SCL class
    block[4, 2] = np.nan  # missing, not impossible
    assert impossible(block, 10)[:, 0, 0].tolist() == [False, True, True, True, False]
    block[0, -1] = 2.5  # SCL classes are integers
    assert impossible(block, 10)[0, 0, 0]


def test_screen_drops_whole_observations_and_counts_them_per_date(no_compute):
    import xarray as xr

    data = np.full((3, 11, 4, 4), 800.0, np.float32)
    data[:, -1] = 5
    data[1, 4, :2, :] = 60_000  # date 1: 8 of 16 pixels garbage in one band
    data[2, :, 0, 0] = np.nan  # date 2: one pixel without data
    bands = [f"B{i}" for i in range(10)] + ["SCL"]
    cube = xr.DataArray(data, dims=("time", "band", "y", "x"), coords={"band": bands, "id": ("time", ["a", "b", "c"])})
    cube = cube.chunk({"time": -1, "band": -1, "y": 2, "x": 2})
    screened, counts = screen(cube)  # lazy: the no_compute scheduler would fail here
    import dask

    with dask.config.set(scheduler="sync"):
        out, counts = dask.compute(screened.data, counts)
    assert counts.tolist() == [[0, 16], [8, 16], [0, 15]]
    assert np.isnan(out[1, :, :2, :]).all() and not np.isnan(out[1, :, 2:, :]).any()  # all bands of those observations
    assert check_tile(counts, ["a", "b", "c"], what="tile t") == (8, ("b",))
    with pytest.raises(ImplausibleImagery, match="tile t: 40 of 47 observations .* most in b"):
        check_tile(counts + [[0, 0], [32, 0], [0, 0]], ["a", "b", "c"], what="tile t")


# --- the case: a deflate COG with random bytes written over its compressed data ------------


def _first_block(path: str) -> tuple[int, int]:
    with rasterio.open(path) as f:
        return int(f.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1)), int(
            f.get_tag_item("BLOCK_SIZE_0_0", "TIFF", bidx=1)
        )


def _corrupt(path: str, *, want: str) -> int:
    """Overwrite a run of the first tile's compressed bytes with random ones, trying seeds until GDAL
    ``want``s it: "silent" (decodes without error, with impossible values among the garbage) or "error"."""
    original = open(path, "rb").read()
    with rasterio.open(path) as f:
        before = f.read(1)
    offset, size = _first_block(path)
    for seed in range(200):
        rng = np.random.default_rng(seed)
        start, n = offset + int(rng.integers(16, size - 80)), int(rng.integers(8, 64))
        data = bytearray(original)
        data[start : start + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        with open(path, "wb") as f:
            f.write(bytes(data))
        try:
            with rasterio.open(path) as f:
                after = f.read(1)
        except rasterio.errors.RasterioIOError:
            if want == "error":
                return seed
            continue
        if want == "silent" and (after != before).any() and (after > RAW_LIMIT).any():
            return seed
    raise AssertionError(f"no seed made a {want} corruption")


@pytest.fixture()
def scene(tmp_path):
    return make_scene(str(tmp_path / "scene"), size=64)


def _asset(scene, band: str, index: int = 5) -> str:
    folder = os.path.dirname(os.path.dirname(scene.catalog))
    return sorted(glob.glob(os.path.join(folder, "imagery", "*", f"{band}.tif")))[index]


def test_garbage_that_decodes_silently_is_flagged_in_ledger_provenance_and_a_warning(scene, tmp_path):
    cog = _asset(scene, "B04")
    _corrupt(cog, want="silent")
    box = scene.grid.lonlat_bbox()
    out = tmp_path / "map.tif"
    res = CliRunner().invoke(
        main,
        [
            "predict",
            "--bbox",
            f"{box.west},{box.south},{box.east},{box.north}",
            "--year",
            "2023",
            "--prompts",
            "land-cover",
            "--out",
            str(out),
            "--stac",
            scene.catalog,
            "--clip-pretrained",
            "none",
            "--tile",
            "128",
            "--retries",
            "1",
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    warning = [line for line in res.stderr.splitlines() if line.startswith("WARNING:") and "left out" in line]
    assert warning and "r0000c0000" in warning[0], res.stderr
    ledger = Ledger.load(f"{out}.ledger.jsonl")
    ((tile, n),) = ledger.implausible_tiles()
    assert tile == "r0000c0000" and n > 0
    item = os.path.basename(os.path.dirname(cog))
    event = [json.loads(line) for line in open(f"{out}.ledger.jsonl") if '"implausible"' in line][0]
    assert event["implausible_items"][0] == item
    for cog_out in (out, tmp_path / "map_score.tif"):
        with rasterio.open(cog_out) as f:
            assert json.loads(f.tags()["implausible_observations"]) == {"r0000c0000": n}
    with open(tmp_path / "map_item.json") as f:
        assert json.load(f)["properties"]["tsmap:implausible_observations"] == {"r0000c0000": n}  # typed in the item


def test_garbage_the_decoder_notices_is_never_data_the_asset_is_left_out_and_recorded(scene, tmp_path):
    """A decode error is a read error: the damaged asset is left out (faults' rule: it costs that acquisition's
    band) and recorded in the ledger and the outputs' skipped_assets, not read as data."""
    cog = _asset(scene, "B04")
    _corrupt(cog, want="error")
    out = tmp_path / "map.tif"
    result = predict_scene(scene, out, tile=128, retry=RetryPolicy(attempts=2, backoff_s=0))
    item = os.path.basename(os.path.dirname(cog))
    (skipped,) = result.summary.skipped
    assert (skipped["item"], skipped["band"]) == (item, "B04") and "Read failed" in skipped["error"]
    with rasterio.open(out) as f:
        assert [(a["item"], a["band"]) for a in json.loads(f.tags()["skipped_assets"])] == [(item, "B04")]


def test_a_tile_dominated_by_impossible_values_fails_like_an_unreadable_one(scene, tmp_path):
    """Every SCL file holds class 200 (a valid file with impossible content): all observations are impossible."""
    folder = os.path.dirname(os.path.dirname(scene.catalog))
    for path in glob.glob(os.path.join(folder, "imagery", "*", "SCL.tif")):
        with rasterio.open(path, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as f:
            f.write(np.full((1, f.height, f.width), 200, f.dtypes[0]))
    out = tmp_path / "map.tif"
    with pytest.raises(DataError, match="observations hold values no Sentinel-2 L2A product has"):
        predict_scene(scene, out, tile=64, retry=RetryPolicy(attempts=1))
    assert Ledger.load(f"{out}.ledger.jsonl").tiles_with(FAILED) == ["r0000c0000"] and not out.exists()
    res = predict_scene(scene, tmp_path / "holes.tif", tile=64, retry=RetryPolicy(attempts=1), allow_missing=True)
    assert res.summary.missing == ("r0000c0000",)
