"""Flaky and broken imagery servers: a loopback HTTP server (range requests, as GDAL reads COGs)
injects 503s, stalls and truncated bodies into the demo scene's COGs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rasterio
from click.testing import CliRunner

from tsmap.errors import DataError
from tsmap.geo import Grid
from tsmap.ledger import DONE, FAILED, MISSING, Ledger
from tsmap.retry import RetryPolicy, is_read_error, with_retries
from tsmap.catalog import search

from .pipeline_helpers import TILE, predict_scene, read, same_maps, scene_query

ROOT = Path(__file__).resolve().parents[1]
EAST = ["r0000c0001", "r0001c0001"]
WEST = ["r0000c0000", "r0001c0000"]


class Server:
    def __init__(self, root: Path, tmp: Path) -> None:
        self.plan, self.log, port = tmp / "plan.json", tmp / "requests.log", tmp / "port"
        self.set([])
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.http_faults", str(root), str(self.plan), str(port), str(self.log)], cwd=ROOT
        )
        deadline = time.time() + 30
        while not port.exists():
            if time.time() > deadline or self.proc.poll() is not None:
                self.proc.kill()
                raise RuntimeError("test HTTP server did not start")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{port.read_text()}"

    def set(self, rules: list[dict]) -> None:
        self.plan.write_text(json.dumps(rules))

    def faults_served(self) -> set[str]:
        return (
            {line.split()[3] for line in self.log.read_text().splitlines()} - {"None"} if self.log.exists() else set()
        )


@pytest.fixture()
def server(demo_scene, tmp_path):
    srv = Server(Path(demo_scene.catalog).parents[1], tmp_path)
    yield srv
    srv.proc.kill()
    srv.proc.wait(timeout=10)


def catalog(scene, folder: Path, url: str | None = None, *, broken_east: bool = False) -> str:
    """Every fourth item of the scene (6, to keep reads few), with asset hrefs on the server at ``url``
    (or local absolute paths); optionally one more item over the east half whose every read is
    refused (marked ``?broken=1``)."""
    import pystac

    root = Path(scene.catalog).parents[1]
    url = url or root.as_uri().removeprefix("file://")
    cat = pystac.Catalog("scene-subset", "demo scene subset")
    items = search(scene_query(scene), stac=scene.catalog)
    for item in items[::4]:
        cat.add_item(_moved(item, item.id, url, root, ""))
    if broken_east:
        x0, y0, x1, y1 = scene.grid.bounds
        east = Grid(scene.grid.epsg, (x0 + (x1 - x0) / 2 + 80, y0, x1, y1)).lonlat_bbox()
        extra = _moved(items[10], "S2X_BROKEN_EAST", url, root, "?broken=1")
        extra.bbox = list(east.as_tuple())
        w, s, e, n = extra.bbox
        extra.geometry = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
        cat.add_item(extra)
    cat.normalize_hrefs(str(folder))
    cat.save(pystac.CatalogType.SELF_CONTAINED)
    return str(folder / "catalog.json")


def _moved(item, new_id: str, url: str, root: Path, suffix: str):
    clone = item.clone()
    clone.id = new_id
    clone.clear_links()
    for key, asset in clone.assets.items():
        asset.href = f"{url}/{os.path.relpath(item.assets[key].get_absolute_href(), root)}{suffix}"
    return clone


@pytest.mark.parametrize("gdal_retries", [0, 3])  # 0: every fault reaches our retries; 3: GDAL retries 503s itself
def test_transient_faults_are_retried_to_the_same_maps(demo_scene, server, tmp_path, gdal_retries):
    reference = predict_scene(demo_scene, tmp_path / "ref.tif", stac=catalog(demo_scene, tmp_path / "local"))
    server.set([
        {"match": "B04.tif", "fault": "503", "times": 2},
        {"match": "B08.tif", "fault": "stall", "times": 1},
        {"match": "SCL.tif", "fault": "truncate", "times": 1},
    ])
    stac = catalog(demo_scene, tmp_path / "http", server.url)
    retry = RetryPolicy(attempts=4, backoff_s=0.2, timeout_s=1, http_retries=gdal_retries)
    result = predict_scene(demo_scene, tmp_path / "map.tif", stac=stac, retry=retry, workers=2)
    assert server.faults_served() == {"503", "stall", "truncate"}
    assert same_maps(result.class_map, reference.class_map) and same_maps(result.score_map, reference.score_map)
    ledger = Ledger.load(tmp_path / "map.tif.ledger.jsonl")
    assert ledger.complete and ledger.tiles_with(DONE) == sorted(WEST + EAST)


def test_persistent_faults_fail_naming_the_tiles_and_write_no_map(demo_scene, server, tmp_path):
    server.set([{"match": "broken=1", "fault": "503", "times": -1}])
    stac = catalog(demo_scene, tmp_path / "http", server.url, broken_east=True)
    retry = RetryPolicy(attempts=2, backoff_s=0.1, timeout_s=2, http_retries=0)
    out = tmp_path / "map.tif"
    with pytest.raises(DataError) as err:
        predict_scene(demo_scene, out, stac=stac, retry=retry)
    message = str(err.value)
    assert all(t in message for t in EAST) and not any(t in message for t in WEST) and "--allow-missing" in message
    ledger = Ledger.load(f"{out}.ledger.jsonl")
    assert ledger.tiles_with(FAILED) == EAST and ledger.tiles_with(DONE) == WEST and not ledger.complete
    for tile in EAST:  # each failed tile's error names the tile, the asset that failed and where to look
        error = ledger.errors[tile]
        assert re.match(rf"tile {tile}: no readable acquisition of 2023-\d\d is left for band B\w\w \(1 had it\): "
                        rf"cannot read asset http://127\.0\.0\.1:\d+/imagery/\S+\.tif\?broken=1 \(", error), error
        assert error.endswith("check that it exists and is reachable (path, network, credentials or token)"), error
    assert not [p for p in os.listdir(tmp_path) if p.startswith("map") and p.endswith((".tif", ".json", ".png"))]

    # the same call with allow_missing retries only the failed tiles, then writes nodata there and says so
    result = predict_scene(demo_scene, out, stac=stac, retry=retry, allow_missing=True)
    assert result.summary.computed == 2 and result.summary.missing == tuple(EAST)
    classes = read(out)[0]
    assert (classes[:, TILE:] == 255).all() and (classes[:, 8:TILE] < 255).all()
    with rasterio.open(out) as f:
        assert f.tags()["complete"].startswith("no") and json.loads(f.tags()["missing_tiles"]) == list(EAST)
    assert Ledger.load(f"{out}.ledger.jsonl").tiles_with(MISSING) == EAST


def test_cli_exits_non_zero_on_persistent_faults(demo_scene, server, tmp_path):
    from tsmap.cli import main

    stac = catalog(demo_scene, tmp_path / "http", f"{server.url}/gone")  # every asset answers 404
    box = demo_scene.grid.lonlat_bbox()
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
            stac,
            "--clip-pretrained",
            "none",
            "--tile",
            "48",
            "--retries",
            "2",
            "--timeout",
            "2",
            "--quiet",
        ],
    )
    assert res.exit_code == 1 and "Traceback" not in res.output
    ledger = Ledger.load(f"{out}.ledger.jsonl")
    assert len(ledger.tiles_with(FAILED)) == 4 and all(t in res.output for t in ledger.tiles_with(FAILED)[:4])
    assert not out.exists() and not (tmp_path / "map_score.tif").exists()


def test_read_errors_are_recognised_through_the_chain():
    from rasterio.errors import RasterioIOError

    try:
        try:
            raise RasterioIOError("HTTP 503")
        except RasterioIOError as exc:
            raise RuntimeError("Error reading window") from exc
    except RuntimeError as wrapped:
        assert is_read_error(wrapped)
    assert not is_read_error(ValueError("bug"))


def test_with_retries_backs_off_then_gives_up():
    calls = []

    def flaky():
        calls.append(time.perf_counter())
        raise OSError("connection reset")

    with pytest.raises(DataError, match="after 3 attempts"):
        with_retries(flaky, RetryPolicy(attempts=3, backoff_s=0.05), what="tile r0000c0000")
    assert len(calls) == 3 and calls[2] - calls[1] >= 0.09  # the second wait is doubled

    bugs = []

    def buggy():
        bugs.append(1)
        raise ValueError("bug")

    with pytest.raises(ValueError, match="^bug$"):  # not a read error: raised as it is, without a retry
        with_retries(buggy, RetryPolicy(attempts=3), what="x")
    assert len(bugs) == 1
