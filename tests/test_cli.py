"""The command line, end to end on the synthetic scene, offline."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rio_cogeo.cogeo import cog_validate

from tsmap.cli import main
from tsmap.ledger import DONE, Ledger

from .conftest import DEMO_SIZE


def _tsmap(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tsmap", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_demo_writes_valid_cogs_on_the_demo_grid(tmp_path):
    from tsmap.synthetic import make_scene

    out = tmp_path / "demo"
    res = CliRunner().invoke(main, ["demo", "--out", str(out), "--size", str(DEMO_SIZE), "--no-train"])
    assert res.exit_code == 0, res.output
    assert "SYNTHETIC" in res.output and "RANDOM" in res.output
    grid = make_scene(str(tmp_path / "again"), size=DEMO_SIZE).grid
    for name in ("map.tif", "map_score.tif"):
        valid, errors, _ = cog_validate(str(out / name))
        assert valid, errors
        with rasterio.open(out / name) as f:
            assert f.crs.to_epsg() == grid.epsg and f.transform == grid.transform and f.shape == grid.shape
            band = f.read(1)
            strip = max(2, DEMO_SIZE // 16)
            if name == "map.tif":
                assert f.nodata == 255 and (band[:, :strip] == 255).all() and (band[:, strip:] < 8).all()
                assert json.loads(f.tags()["classes"])[:2] == ["Artificial Land", "Cropland"]
            else:
                assert np.isnan(band[:, :strip]).all() and np.isfinite(band[:, strip:]).all()


def test_predict_on_static_catalog(demo_scene, tmp_path):
    box = demo_scene.grid.lonlat_bbox()
    prompts = tmp_path / "lc.yaml"
    prompts.write_text("classes:\n  - name: water\n    prompts: [a lake]\n  - name: forest\n  - name: field\n")
    out = tmp_path / "map.tif"
    res = CliRunner().invoke(
        main,
        ["predict", "--bbox", f"{box.west},{box.south},{box.east},{box.north}", "--year", "2023",
         "--prompts", str(prompts), "--out", str(out), "--stac", demo_scene.catalog, "--clip-pretrained", "none"],
    )
    assert res.exit_code == 0, res.output
    assert cog_validate(str(out))[0] and cog_validate(str(tmp_path / "map_score.tif"))[0]
    with rasterio.open(out) as f:
        assert f.crs.to_epsg() == 32632 and f.res == (10.0, 10.0)
        cls = f.read(1)
        b = f.bounds
        # the output covers the scene; inside it every pixel east of the strip is classified
        sx0, sy0, sx1, sy1 = demo_scene.grid.bounds
        assert b.left <= sx0 and b.bottom <= sy0 and b.right >= sx1 and b.top >= sy1
        row, col = f.index(sx1 - 15, sy1 - 15)
        assert cls[row, col] < 3
        row, col = f.index(sx0 + 5, sy1 - 15)
        assert cls[row, col] == 255  # nodata strip
        assert json.loads(f.tags()["classes"]) == ["water", "forest", "field"]


@pytest.mark.parametrize(
    "bbox, fragment",
    [
        ("7.1,50.6,7.0,50.7", "inverted"),
        ("7.0,50.6,200,50.7", "out of range"),
        ("7.0,50.6,7.1", "4 comma-separated"),
    ],
)
def test_bad_bbox_one_line_no_traceback_no_file(tmp_path, bbox, fragment):
    out = tmp_path / "map.tif"
    res = _tsmap("predict", "--bbox", bbox, "--year", "2023", "--prompts", "land-cover", "--out", str(out))
    assert res.returncode != 0
    assert fragment in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not out.exists() and os.listdir(tmp_path) == []


def test_missing_prompts_file(tmp_path):
    out = tmp_path / "map.tif"
    res = _tsmap(
        "predict",
        "--bbox",
        "7.0,50.6,7.1,50.7",
        "--year",
        "2023",
        "--prompts",
        str(tmp_path / "no.yaml"),
        "--out",
        str(out),
    )
    assert res.returncode != 0
    assert "prompts file" in res.stderr and "does not exist" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert os.listdir(tmp_path) == []


def _feature_collection(tmp_path, *, skip=(), remove=None):
    """A static item collection (.geojson) of one small real-GeoTIFF item near Bonn."""
    import datetime as dt

    import pystac

    from .stac_factory import lonlat_box_in, make_item

    bounds = lonlat_box_in(32632, (7.0, 50.0, 7.003, 50.002))
    item = make_item(tmp_path / "img", item_id="one", when=dt.datetime(2023, 6, 1, tzinfo=dt.timezone.utc), epsg=32632,
                     bounds=bounds, skip=skip)  # fmt: skip
    if remove:
        os.remove(tmp_path / "img" / "one" / f"{remove}.tif")
    path = tmp_path / "items.geojson"
    pystac.ItemCollection([item]).save_object(dest_href=str(path))
    return str(path)


@pytest.mark.parametrize(
    "case, extra, fragment",
    [
        ("too big", ["--bbox", "0,0,2,2", "--year", "2023"], "above the 10,000 km² limit; pass --force"),
        (
            "own limit",
            ["--bbox", "7.0,50.0,7.003,50.002", "--year", "2023", "--max-area", "0.01"],
            "above the 0 km² limit",
        ),
        (
            "bad date",
            ["--bbox", "7.0,50.0,7.003,50.002", "--start", "2023-02-30", "--end", "2023-06-01"],
            "start date '2023-02-30' is not a valid date",
        ),
        (
            "both",
            ["--bbox", "7.0,50.0,7.003,50.002", "--year", "2023", "--start", "2023-01-01"],
            "give either --year, or both --start and --end",
        ),
        (
            "no items",
            ["--bbox", "7.0,50.0,7.003,50.002", "--start", "2024-01-01", "--end", "2024-03-31"],
            "no Sentinel-2 items found for collection 'sentinel-2-l2a', 'sentinel-2-c1-l2a', 'sentinel-s2-l2a-cogs', "
            "2024-01-01..2024-03-31, bbox (7.0, 50.0, 7.003, 50.002), cloud cover <= 100%",
        ),
        (
            "missing band",
            ["--bbox", "7.0,50.0,7.003,50.002", "--year", "2023"],
            "item 'one' has no asset for band(s) B8A",
        ),
        ("unreadable", ["--bbox", "7.0,50.0,7.003,50.002", "--year", "2023"], "cannot read asset"),
        (
            "no catalog",
            ["--bbox", "7.0,50.0,7.003,50.002", "--year", "2023"],
            "does not exist; give the path of a catalog.json",
        ),
    ],
)
def test_data_layer_errors_are_one_line_and_write_nothing(tmp_path, case, extra, fragment):
    catalog = _feature_collection(
        tmp_path, skip=("B8A",) if case == "missing band" else (), remove="B12" if case == "unreadable" else None
    )
    stac = str(tmp_path / "nowhere" / "catalog.json") if case == "no catalog" else catalog
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    args = [
        "predict",
        *extra,
        "--prompts",
        "land-cover",
        "--out",
        str(out_dir / "map.tif"),
        "--stac",
        stac,
        "--clip-pretrained",
        "none",
    ]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1, res.output
    last = res.output.strip().splitlines()[-1]  # earlier lines, if any, are the progress bar (\r-separated)
    assert fragment in last and last.startswith("Error: ") and "Traceback" not in res.output, res.output
    left = os.listdir(out_dir)
    if case == "unreadable":  # the only trace: the ledger naming the tile that could not be read
        assert left == ["map.tif.ledger.jsonl"] and Ledger.load(out_dir / left[0]).tiles_with("failed") == [
            "r0000c0000"
        ]
    else:
        assert left == []


def test_predict_with_dates_on_a_static_item_collection(tmp_path):
    catalog = _feature_collection(tmp_path)
    out = tmp_path / "map.tif"
    args = ["predict", "--bbox", "7.0,50.0,7.003,50.002", "--start", "2023-05-01", "--end", "2023-06-30",
            "--prompts", "land-cover", "--out", str(out), "--stac", catalog, "--clip-pretrained", "none"]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "1 scenes" in res.output and out.exists()


def _box(scene) -> str:
    b = scene.grid.lonlat_bbox()
    return f"{b.west},{b.south},{b.east},{b.north}"


def test_embed_then_classify_commands(demo_scene, tmp_path):
    emb, out = tmp_path / "emb.zarr", tmp_path / "map.tif"
    res = CliRunner().invoke(main, ["embed", "--bbox", _box(demo_scene), "--year", "2023", "--stac", demo_scene.catalog,
                                    "--out", str(emb), "--tile", "64", "--encoding", "int8", "--quiet"])
    assert res.exit_code == 0, res.output
    assert emb.is_dir() and (tmp_path / "emb.zarr.ledger.jsonl").exists()
    res = CliRunner().invoke(main, ["classify", "--embeddings", str(emb), "--prompts", "land-cover", "--out", str(out),
                                    "--clip-pretrained", "none", "--quicklook", "--quiet"])
    assert res.exit_code == 0, res.output
    for name in ("map.tif", "map_score.tif", "map_item.json", "map_quicklook.png"):
        assert (tmp_path / name).exists(), name
    assert cog_validate(str(out))[0]
    res = CliRunner().invoke(main, ["scenic", "--embeddings", str(emb), "--out", str(tmp_path / "scenic.tif"),
                                    "--method", "late", "--min-prompts", "1", "--clip-pretrained", "none", "--quiet"])
    assert res.exit_code == 0, res.output
    with rasterio.open(tmp_path / "scenic.tif") as f:
        values = f.read(1)
        assert (
            f.dtypes[0] == "float32"
            and np.nanmin(values) >= 1
            and np.nanmax(values) <= 10
            and f.tags()["scenic_method"].startswith("late")
        )
    res = CliRunner().invoke(
        main, ["classify", "--embeddings", str(tmp_path / "nope.zarr"), "--prompts", "land-cover", "--out", str(out)]
    )
    assert res.exit_code == 1 and "does not exist" in res.output and "Traceback" not in res.output


def test_dry_run_prints_the_plan_and_writes_nothing(demo_scene, tmp_path):
    out = tmp_path / "map.tif"
    res = CliRunner().invoke(main, ["predict", "--bbox", _box(demo_scene), "--year", "2023", "--prompts", "land-cover",
                                    "--out", str(out), "--stac", demo_scene.catalog, "--tile", "32", "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "24 scenes, 2023-01-05 .. 2023-12-20" in res.output and "tiles:  9 of 32 x 32 px" in res.output
    assert "px/s" in res.output and os.listdir(tmp_path) == []


@pytest.mark.slow
def test_kill_9_then_the_same_command_resumes_to_identical_files(demo_scene, tmp_path):
    import signal
    import time

    (tmp_path / "ref").mkdir(), (tmp_path / "run").mkdir()
    args = [
        "predict",
        "--bbox",
        _box(demo_scene),
        "--year",
        "2023",
        "--prompts",
        "land-cover",
        "--stac",
        demo_scene.catalog,
        "--clip-pretrained",
        "none",
        "--tile",
        "16",
        "--workers",
        "1",
        "--quiet",
    ]
    ref = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "ref" / "map.tif")])
    assert ref.exit_code == 0, ref.output
    out = tmp_path / "run" / "map.tif"
    ledger = tmp_path / "run" / "map.tif.ledger.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tsmap", *args, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 240
    while time.time() < deadline and (not ledger.exists() or ledger.read_text().count('"done"') < 3):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    done = len(Ledger.load(ledger).tiles_with(DONE))
    assert 3 <= done < 25 and not out.exists(), "the run was not killed mid-way"
    res = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert f"resumed: {done} tiles from the earlier run, {25 - done} computed now" in res.output
    for name in ("map.tif", "map_score.tif", "map_item.json"):
        assert (tmp_path / "ref" / name).read_bytes() == (tmp_path / "run" / name).read_bytes(), name


@pytest.mark.parametrize("extra, fragment", [
    (["--retries", "0"], "Invalid value for '--retries': 0 is not in the range x>=1"),
    (["--timeout", "0"], "Invalid value for '--timeout': '0' is not a positive, finite number of seconds"),
])
def test_bad_run_options_are_one_line_errors(tmp_path, extra, fragment):
    res = CliRunner().invoke(
        main, ["embed", "--bbox", "7.0,50.0,7.003,50.002", "--year", "2023", "--out", str(tmp_path / "e.zarr"), *extra]
    )
    assert res.exit_code == 2 and fragment in res.output and "Traceback" not in res.output
    assert res.stderr.strip().count("\n") == 0
    assert os.listdir(tmp_path) == []
