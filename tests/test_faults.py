"""Faults on the demo scene: broken assets, thread counts, changed inputs, store holes, full disks,
concurrent runs, user data beside the output, hostile catalogs and Ctrl-C / SIGTERM.

Each case is checked against an uninterrupted run (bytes or pixels), the ledger, the outputs'
provenance and the message. The subprocess cases (real signals, ``ulimit -f``, a tmpfs, two runs at
once) are marked slow.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio

from tsmap.errors import DataError, InputError, Interrupted
from tsmap.geo import BBox, Grid
from tsmap.ledger import DONE, FAILED, MISSING, Ledger
from tsmap.lock import OutputLock, OutputLocked
from tsmap.retry import RetryPolicy
from tsmap.catalog import search
from tsmap.space import DiskFull
from tsmap.store import RasterStore

from .pipeline_helpers import SMALL, predict_scene, read, scene_query

ROOT = Path(__file__).resolve().parents[1]
TILES = ["r0000c0000", "r0000c0001", "r0001c0000", "r0001c0001"]
MAY_JUNE = [f"S2X_32ULB_2023{day}_0_L2A" for day in ("0505", "0520", "0605", "0620")]
JUNE_5, JUNE_20 = MAY_JUNE[2:]
QUICK = RetryPolicy(attempts=3, backoff_s=0.1, timeout_s=5, http_retries=0)


# --- helpers ------------------------------------------------------------------------------------


def copy_scene(scene, dest: Path) -> tuple[str, Path]:
    """May and June of the demo scene (4 items, 2 a month) copied to ``dest``: its catalog and imagery folder."""
    root = Path(scene.catalog).parents[1]
    for item in MAY_JUNE:
        shutil.copytree(root / "imagery" / item, dest / "imagery" / item)
    return _subset_catalog(scene, dest / "stac", None, dest), dest / "imagery"


def blank(path: Path) -> None:
    """Rewrite a band COG as all nodata: what reading it must give when it is left out."""
    with rasterio.open(path) as f:
        profile, shape = f.profile, f.shape
    with rasterio.open(path, "w", **profile) as f:
        f.write(np.zeros(shape, profile["dtype"]), 1)


def brighter(path: Path) -> None:
    """Regenerate a band COG under the same name with other values (a re-processed asset)."""
    with rasterio.open(path) as f:
        profile, data = f.profile, f.read(1)
    with rasterio.open(path, "w", **profile) as f:
        f.write(np.where(data > 0, np.minimum(data.astype(np.int64) * 3 // 2, 65535), 0).astype(data.dtype), 1)


def same_pixels(a, b) -> bool:
    return np.array_equal(read(a), read(b), equal_nan=True)


def same_bytes(
    folder_a: Path, folder_b: Path, names=("map.tif", "map_score.tif"), item: str | None = "map_item.json"
) -> bool:
    """The same COG bytes, and the same STAC item but for its links (relative to each folder)."""
    same = all((folder_a / n).read_bytes() == (folder_b / n).read_bytes() for n in names)
    if item is None:
        return same
    a, b = (json.loads((f / item).read_text()) for f in (folder_a, folder_b))
    return same and {**a, "links": None} == {**b, "links": None} and len(a["links"]) == len(b["links"])


def interrupt_after(monkeypatch, done: int) -> None:
    """Ctrl-C in the main thread right after the ``done``-th tile was recorded as done."""
    original, count = Ledger.record, []

    def record(self, tile_id, status, **info):
        original(self, tile_id, status, **info)
        count.append(status == DONE)
        if sum(count) == done:
            raise KeyboardInterrupt

    monkeypatch.setattr(Ledger, "record", record)


def no_sleeping(monkeypatch) -> list:
    waits = []
    monkeypatch.setattr("tsmap.retry.time.sleep", waits.append)
    return waits


@pytest.fixture(scope="module")
def reference(demo_scene, tmp_path_factory) -> Path:
    """An uninterrupted run on the clean scene (two workers)."""
    out = tmp_path_factory.mktemp("reference")
    predict_scene(demo_scene, out / "map.tif", workers=2)
    return out


@pytest.fixture(scope="module")
def may_june(demo_scene, tmp_path_factory) -> tuple[str, Path]:
    """May and June of the scene (its catalog) and the folder of an uninterrupted run on them."""
    root = tmp_path_factory.mktemp("may-june")
    stac, _ = copy_scene(demo_scene, root / "scene")
    (root / "ref").mkdir()
    predict_scene(demo_scene, root / "ref" / "map.tif", stac=stac)
    return stac, root / "ref"


@pytest.fixture(scope="module")
def june5_b04_blank(demo_scene, tmp_path_factory) -> Path:
    """A run on a scene whose 5 June B04 holds only nodata: what leaving that asset out must give."""
    root = tmp_path_factory.mktemp("blank")
    stac, imagery = copy_scene(demo_scene, root / "scene")
    blank(imagery / JUNE_5 / "B04.tif")
    predict_scene(demo_scene, root / "map.tif", stac=stac)
    return root / "map.tif"


# --- 1. a broken asset costs one acquisition --------------------------------------------------------


@pytest.mark.parametrize("damage", ["truncated", "deleted"])
def test_a_broken_local_asset_is_left_out_of_its_tiles_and_recorded(
    demo_scene, tmp_path, june5_b04_blank, monkeypatch, damage
):
    stac, imagery = copy_scene(demo_scene, tmp_path / "scene")
    band = imagery / JUNE_5 / "B04.tif"
    if damage == "truncated":
        with open(band, "r+b") as f:
            f.truncate(band.stat().st_size // 2)
    else:
        band.unlink()
    waits = no_sleeping(monkeypatch)
    res = predict_scene(demo_scene, tmp_path / "map.tif", stac=stac, retry=RetryPolicy(attempts=4, backoff_s=30))
    assert waits == []  # a local file is not retried
    assert same_pixels(res.class_map, str(june5_b04_blank)) and same_pixels(
        res.score_map, june5_b04_blank.parent / "map_score.tif"
    )
    (entry,) = res.summary.skipped
    assert (entry["item"], entry["band"], entry["tiles"]) == (JUNE_5, "B04", TILES) and "cannot read asset" in entry[
        "error"
    ]
    ledger = Ledger.load(tmp_path / "map.tif.ledger.jsonl")
    assert ledger.complete and ledger.tiles_with(DONE) == TILES and ledger.skipped_assets() == [entry]
    with rasterio.open(res.class_map) as f:
        assert json.loads(f.tags()["skipped_assets"]) == [entry] and f.tags()["complete"] == "yes"
    item = json.loads((tmp_path / "map_item.json").read_text())
    assert item["properties"]["tsmap:skipped_assets"] == [entry]


def test_a_tile_fails_only_when_a_month_loses_every_acquisition(demo_scene, tmp_path):
    stac, imagery = copy_scene(demo_scene, tmp_path / "scene")
    for item in (JUNE_5, JUNE_20):
        (imagery / item / "B04.tif").unlink()
    with pytest.raises(DataError) as err:
        predict_scene(demo_scene, tmp_path / "map.tif", stac=stac)
    assert "4 of 4 tiles could not be read" in str(
        err.value
    ) and "no readable acquisition of 2023-06 is left for band B04" in str(err.value)
    ledger = Ledger.load(tmp_path / "map.tif.ledger.jsonl")
    assert ledger.tiles_with(FAILED) == TILES and "cannot read asset" in ledger.errors[TILES[0]]
    assert not (tmp_path / "map.tif").exists()


def test_more_skipped_assets_than_the_threshold_stop_the_run(demo_scene, tmp_path):
    stac, imagery = copy_scene(demo_scene, tmp_path / "scene")
    (imagery / JUNE_5 / "B04.tif").unlink()
    with pytest.raises(
        DataError, match=f"1 assets could not be read and were left out \\({JUNE_5}/B04; .*more than --max-skipped 0"
    ):
        predict_scene(demo_scene, tmp_path / "map.tif", stac=stac, max_skipped=0, workers=1)
    assert Ledger.load(tmp_path / "map.tif.ledger.jsonl").tiles_with(DONE) == TILES[:1]  # kept for a rerun


def test_a_broken_remote_asset_is_retried_with_backoff_then_left_out(demo_scene, tmp_path, monkeypatch):
    from .test_retry import Server

    root = Path(demo_scene.catalog).parents[1]
    server = Server(root, tmp_path)
    try:
        server.set([{"match": f"{JUNE_5}/B04.tif", "fault": "503", "times": -1}])
        remote = _subset_catalog(demo_scene, tmp_path / "http", server.url)
        waits = no_sleeping(monkeypatch)
        res = predict_scene(demo_scene, tmp_path / "map.tif", stac=remote, retry=QUICK, workers=1)
        gets = [ln for ln in server.log.read_text().splitlines() if ln.startswith("GET") and f"{JUNE_5}/B04.tif" in ln]
    finally:
        server.proc.kill()
    assert waits == [0.1, 0.2] * 4  # per tile: two retries with backoff, then the asset is left out
    assert len(gets) >= 3 * 4 and [(a["item"], a["band"]) for a in res.summary.skipped] == [(JUNE_5, "B04")]
    stac, imagery = copy_scene(demo_scene, tmp_path / "scene")
    blank(imagery / JUNE_5 / "B04.tif")
    expected = predict_scene(demo_scene, tmp_path / "expected.tif", stac=stac)
    assert same_pixels(res.class_map, expected.class_map) and same_pixels(res.score_map, expected.score_map)


def _subset_catalog(scene, folder: Path, url: str | None, root: Path | None = None) -> str:
    """May and June (4 items) of the scene, with hrefs on the server at ``url`` or under ``root``."""
    import pystac

    from .test_retry import _moved

    scene_root = Path(scene.catalog).parents[1]
    base = url or str(root or scene_root)
    cat = pystac.Catalog("may-june", "May and June of the demo scene")
    for item in search(scene_query(scene), stac=scene.catalog)[8:12]:
        cat.add_item(_moved(item, item.id, base, scene_root, ""))
    cat.normalize_hrefs(str(folder))
    cat.save(pystac.CatalogType.SELF_CONTAINED)
    return str(folder / "catalog.json")


# --- 2. a tile's bytes do not depend on threads or workers ----------------------------------------------


def test_one_worker_two_workers_and_a_resumed_last_tile_give_the_same_bytes(
    demo_scene, tmp_path, reference, monkeypatch
):
    (tmp_path / "one").mkdir(), (tmp_path / "resumed").mkdir()
    predict_scene(demo_scene, tmp_path / "one" / "map.tif", workers=1)
    assert same_bytes(tmp_path / "one", reference)
    out = tmp_path / "resumed" / "map.tif"
    interrupt_after(monkeypatch, done=3)
    with pytest.raises(
        Interrupted,
        match=f"interrupted: 3 of 4 tiles are done and kept \\(ledger {out}.ledger.jsonl\\): run the same command "
              "again to resume",
    ):
        predict_scene(demo_scene, out, workers=1)
    monkeypatch.undo()
    res = predict_scene(demo_scene, out)  # the last tile alone, on as many threads as there are cores
    assert res.summary.computed == 1 and same_bytes(tmp_path / "resumed", reference)


def test_the_encoder_runs_single_threaded_pieces_whatever_torch_is_set_to():
    import torch

    from tsmap.tasks import ENCODE_PIECE, encode_tile

    class Probe:
        device = torch.device("cpu")

        def __init__(self):
            self.calls = []

        def __call__(self, block):
            self.calls.append((len(block), torch.get_num_threads()))
            return np.repeat(block[:, :1, 0], 3, axis=1)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        probe, pixels = Probe(), np.arange(100 * 90 * 2, dtype=np.float32).reshape(100, 90, 1, 2)
        out = encode_tile(probe, pixels)
    finally:
        torch.set_num_threads(before)
    assert sorted(n for n, _ in probe.calls) == sorted([ENCODE_PIECE] * 2 + [9000 - 2 * ENCODE_PIECE])
    assert {threads for _, threads in probe.calls} == {1} and torch.get_num_threads() == before
    np.testing.assert_array_equal(out[..., 0], pixels[..., 0, 0])


# --- 3. changed inputs are noticed ------------------------------------------------------------------------


def test_a_resume_after_the_assets_changed_starts_afresh_and_says_what_changed(demo_scene, tmp_path, monkeypatch,
                                                                               caplog):
    caplog.set_level(logging.WARNING, logger="tsmap")
    stac, imagery = copy_scene(demo_scene, tmp_path / "scene")
    out = tmp_path / "map.tif"
    interrupt_after(monkeypatch, done=3)
    with pytest.raises(Interrupted):
        predict_scene(demo_scene, out, stac=stac, workers=1)
    monkeypatch.undo()
    for item in sorted(imagery.iterdir()):
        brighter(item / "B08.tif")
    res = predict_scene(demo_scene, out, stac=stac)
    assert res.summary.computed == 4 and res.summary.reused == 0
    assert "not resuming the 3 finished tiles" in caplog.text and "B08.tif (" in caplog.text and " -> " in caplog.text
    fresh = predict_scene(demo_scene, tmp_path / "fresh.tif", stac=stac)
    assert same_pixels(res.score_map, fresh.score_map) and same_pixels(res.class_map, fresh.class_map)
    brighter(imagery / JUNE_5 / "B08.tif")  # after completion: not "up to date" either
    again = predict_scene(demo_scene, out, stac=stac)
    assert again.summary.computed == 4


def test_http_assets_are_stamped_by_etag_and_a_change_is_worded(demo_scene, tmp_path):
    from tsmap.stamps import asset_stamps, changed_assets, changes

    from .test_retry import Server

    stac, imagery = copy_scene(demo_scene, tmp_path / "scene")
    server = Server(imagery.parent, tmp_path)
    try:
        items = search(
            scene_query(demo_scene), stac=_subset_catalog(demo_scene, tmp_path / "http", server.url, imagery.parent)
        )
        before = asset_stamps(items)
        brighter(imagery / JUNE_5 / "B08.tif")
        after = asset_stamps(items)
    finally:
        server.proc.kill()
    href = f"{server.url}/imagery/{JUNE_5}/B08.tif"
    assert len(before) == 44 and all(s.startswith('etag "') for s in before.values())
    assert changed_assets(before, after) == [href] and changed_assets(before, {href: ""}) == []  # unknown matches
    assert changes({"stamps": before}, {"stamps": after}).startswith(f"asset {href} (etag")


# --- 4. holes in a store ----------------------------------------------------------------------------------


def test_a_missing_or_damaged_store_chunk_is_an_error_naming_the_tile(demo_scene, tmp_path):
    from tsmap.pipeline import classify_embeddings, embed_area

    emb = embed_area(
        out=tmp_path / "emb.zarr",
        query=scene_query(demo_scene),
        grid=demo_scene.grid,
        stac=demo_scene.catalog,
        encoder=SMALL,
        tile=32,
        progress=False,
    )
    kw = dict(embeddings=emb.path, prompts="land-cover", clip_pretrained="none", progress=False)
    ref = classify_embeddings(out=tmp_path / "ref.tif", **kw)
    chunk = tmp_path / "emb.zarr" / "embedding" / "c" / "0" / "0" / "1"
    saved = chunk.read_bytes()
    chunk.unlink()
    with pytest.raises(DataError, match="has no chunk for tile r0000c0001 \\(embedding/c/0/0/1 is missing\\)"):
        classify_embeddings(out=tmp_path / "map.tif", **kw)
    holed = classify_embeddings(out=tmp_path / "map.tif", allow_missing=True, **kw)
    classes, reference = read(holed.class_map)[0], read(ref.class_map)[0]
    hole = np.zeros(classes.shape, bool)
    hole[:32, 32:] = True
    assert (
        (classes[hole] == 255).all()
        and (reference[hole] != 255).any()
        and np.array_equal(classes[~hole], reference[~hole])
    )
    assert Ledger.load(tmp_path / "map.tif.ledger.jsonl").tiles_with(MISSING) == ["r0000c0001"]
    with rasterio.open(holed.class_map) as f:
        assert json.loads(f.tags()["missing_tiles"]) == ["r0000c0001"] and f.tags()["complete"].startswith("no")
    chunk.write_bytes(os.urandom(len(saved)))
    with pytest.raises(DataError, match="has a damaged chunk in tile r0000c0001"):
        classify_embeddings(out=tmp_path / "again.tif", **kw)


# --- 5. a full disk -----------------------------------------------------------------------------------------


def test_too_little_free_space_stops_before_any_work(demo_scene, tmp_path, monkeypatch):
    monkeypatch.setattr(
        "tsmap.space.shutil.disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 5000, 5000)
    )
    with pytest.raises(
        DiskFull,
        match=f"not enough free space in {tmp_path}: the run needs up to .* MB there \\(dry-run estimate\\) and 5.0 "
              "KB are free",
    ):
        predict_scene(demo_scene, tmp_path / "map.tif", keep_embeddings=tmp_path / "emb.zarr")
    assert os.listdir(tmp_path) == []


def test_a_full_disk_is_recognised_from_errno_and_from_gdal_words():
    from rasterio.errors import RasterioIOError

    from tsmap.space import is_disk_full

    try:
        try:
            raise OSError(errno.EFBIG, "File too large")
        except OSError as exc:
            raise RuntimeError("writing a chunk failed") from exc
    except RuntimeError as wrapped:
        assert is_disk_full(wrapped)
    assert is_disk_full(RasterioIOError("TIFFAppendToStrip: Write error: No space left on device"))
    assert not is_disk_full(OSError(errno.ENOENT, "No such file or directory"))


def _full_after(monkeypatch, writes: int) -> None:
    """Store writes fail with ENOSPC after ``writes`` of them, as on a disk that fills up."""
    original, count = RasterStore.write, []

    def write(self, *args):
        count.append(1)
        if len(count) > writes:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, *args)

    monkeypatch.setattr(RasterStore, "write", write)


def test_a_disk_that_fills_up_mid_run_stops_with_one_line_and_the_rerun_resumes(
    demo_scene, tmp_path, may_june, monkeypatch
):
    (stac, reference), out = may_june, tmp_path / "map.tif"
    _full_after(monkeypatch, writes=4 * 2)  # two tiles' four layers
    with pytest.raises(DiskFull) as err:
        predict_scene(demo_scene, out, stac=stac, workers=1)
    message = str(err.value)
    assert message.startswith(f"the disk is full while writing in {tmp_path} (") and "\n" not in message
    assert "2 of 4 tiles are done and kept" in message and message.endswith("run the same command again to resume")
    assert Ledger.load(f"{out}.ledger.jsonl").tiles_with(DONE) == TILES[:2] and not out.exists()
    monkeypatch.undo()
    res = predict_scene(demo_scene, out, stac=stac, workers=1)
    assert res.summary.computed == 2 and same_bytes(tmp_path, reference)


def test_a_failed_delivery_leaves_no_final_file_and_the_rerun_delivers_all(demo_scene, tmp_path, may_june, monkeypatch):
    stac, reference = may_june

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("tsmap.outputs.write_stac_item", full)  # after both COGs were written
    with pytest.raises(DiskFull, match="all 4 tiles are done and kept: run the same command again to write the files"):
        predict_scene(demo_scene, tmp_path / "map.tif", stac=stac)
    assert sorted(os.listdir(tmp_path)) == [
        "map.tif.ledger.jsonl",
        "map.tif.parts.zarr",
    ]  # no map without its score file
    monkeypatch.undo()
    res = predict_scene(demo_scene, tmp_path / "map.tif", stac=stac)
    assert res.summary.computed == 0 and same_bytes(tmp_path, reference)
    assert sorted(os.listdir(tmp_path)) == [
        "map.tif",
        "map.tif.aux.xml",
        "map.tif.ledger.jsonl",
        "map_item.json",
        "map_score.tif",
    ]


# --- 6. one run per output ---------------------------------------------------------------------------------


def test_a_second_run_on_the_same_output_stops_at_once_naming_the_holder(demo_scene, tmp_path):
    import socket

    with OutputLock(str(tmp_path / "map.tif")):
        with pytest.raises(
            OutputLocked,
            match=f"another tsmap run \\(pid {os.getpid()} on {socket.gethostname()}, started .*\\) is writing "
                  f"{tmp_path}/map.tif; wait",
        ):
            predict_scene(demo_scene, tmp_path / "map.tif")
        assert os.listdir(tmp_path) == ["map.tif.lock"]
    assert os.listdir(tmp_path) == []


def test_without_flock_a_lock_is_stale_only_when_its_pid_is_gone_from_this_host():
    import socket

    from tsmap.lock import _stale

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    assert _stale(f"pid {dead.pid} on {host}, started 2024-01-01") and _stale("") and _stale("garbage")
    assert not _stale(f"pid {os.getpid()} on {host}, started now") and not _stale(
        f"pid {dead.pid} on elsewhere, started x"
    )


# --- 7. only tsmap's own files are deleted -------------------------------------------------------------


def test_a_users_folder_named_like_the_work_store_is_never_touched(demo_scene, tmp_path):
    (tmp_path / "map.tif.parts.zarr").mkdir()
    (tmp_path / "map.tif.parts.zarr" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="map.tif.parts.zarr exists and was not made by tsmap"):
        predict_scene(demo_scene, tmp_path / "map.tif")
    assert (tmp_path / "map.tif.parts.zarr" / "notes.txt").read_text() == "mine"
    assert sorted(os.listdir(tmp_path)) == ["map.tif.parts.zarr"]


def test_leftovers_of_killed_runs_are_cleaned_and_a_stale_lock_is_taken_over(demo_scene, tmp_path, may_june):
    import socket

    stac, reference = may_june
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "map.tif.lock").write_text(f"pid {dead.pid} on {socket.gethostname()}, started yesterday")
    shutil.copy(reference / "map.tif", tmp_path / ".map.tif.0123abcd.blocks.tmp")  # a COG write killed mid-way
    (tmp_path / ".map_score.tif.89abcdef.cog.tmp").write_bytes(b"II*\x00" + bytes(100))
    (tmp_path / ".map.tif.deliver-x1").mkdir()  # a delivery killed mid-way
    (tmp_path / ".map.tif.deliver-x1" / ".tsmap-stage").write_text("")
    (tmp_path / ".map.tif.0000beef.blocks.tmp").write_text("not a TIFF: the user's")
    RasterStore.create(tmp_path / "map.tif.parts.zarr.0badc0de.tmp", grid=Grid.from_bbox(BBox(11, 46, 11.001, 46.001)),
                       tile=8, variables={}, attrs={})  # a store creation killed mid-way
    (tmp_path / "map.tif.parts.zarr.00000001.tmp").mkdir()  # killed before it wrote anything
    (tmp_path / "map.tif.parts.zarr.0000beef.tmp").mkdir()
    (tmp_path / "map.tif.parts.zarr.0000beef.tmp" / "notes.txt").write_text("the user's")
    predict_scene(demo_scene, tmp_path / "map.tif", stac=stac)
    assert same_bytes(tmp_path, reference)
    assert sorted(os.listdir(tmp_path)) == [
        ".map.tif.0000beef.blocks.tmp",
        "map.tif",
        "map.tif.aux.xml",
        "map.tif.ledger.jsonl",
        "map.tif.parts.zarr.0000beef.tmp",
        "map_item.json",
        "map_score.tif",
    ]


# --- 8. hostile catalogs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("href, local_ok, fragment", [
    ("file:///etc/passwd", False, "a local file, but that catalog is remote"),
    ("/data/B04.tif", False, "a local file, but that catalog is remote"),
    ("/vsicurl/http://elsewhere.example/x.tif", True, "a GDAL virtual path"),
    ("file:///vsicurl/http://elsewhere.example/x.tif", True, "a GDAL virtual path"),
    ("zip+https://host/a.zip!/b.tif", True, "reads only paths and http, https, s3, gs, az, oss URLs"),
    ("ftp://host/b.tif", True, "reads only paths"),
])
def test_hrefs_a_catalog_may_not_give_are_refused(href, local_ok, fragment):
    from tsmap.items import check_href

    with pytest.raises(DataError, match=fragment.replace("(", "\\(").replace("+", "\\+")):
        check_href(href, item_id="x", band="B04", catalog="https://stac.example/catalog.json", local_ok=local_ok)
    for fine in ("https://bucket.example/B04.tif", "s3://bucket/B04.tif", "/data/vsicurl/B04.tif" if local_ok else "gs://b/c.tif"):
        check_href(fine, item_id="x", band="B04", catalog="c", local_ok=local_ok)
    check_href("/mirror/B04.tif", item_id="x", band="B04", catalog="catalog.json", local_ok=True)


def test_a_remote_catalog_pointing_at_local_files_is_refused_before_any_work(demo_scene, tmp_path):
    import pystac

    from tsmap.pipeline import plan_area

    from .test_retry import Server

    site = tmp_path / "site"
    cat = pystac.Catalog("hostile", "assets on the reader's own disk")
    for item in list(pystac.Catalog.from_file(demo_scene.catalog).get_items(recursive=True))[:2]:
        clone = item.clone()
        clone.clear_links()
        for key, asset in clone.assets.items():
            asset.href = f"file://{item.assets[key].get_absolute_href()}"
        cat.add_item(clone)
    cat.normalize_hrefs(str(site))
    cat.save(pystac.CatalogType.SELF_CONTAINED)
    server = Server(site, tmp_path)
    try:
        remote = f"{server.url}/catalog.json"
        with pytest.raises(
            DataError, match=f"of {remote} gives band B\\w+ as 'file:///.*', a local file, but that catalog is remote"
        ):
            predict_scene(demo_scene, tmp_path / "map.tif", stac=remote)
        plan = plan_area(
            query=scene_query(demo_scene), grid=demo_scene.grid, stac=remote, encoder=SMALL, allow_local_assets=True
        )
    finally:
        server.proc.kill()
    assert plan.n_items == 2 and not [p for p in os.listdir(tmp_path) if p.startswith("map")]


# --- 9 and the real thing: subprocesses (signals, ulimit -f, tmpfs, two runs at once) --------------------


@pytest.fixture(scope="module")
def cli(demo_scene, tmp_path_factory):
    """Arguments of a CLI run on the demo scene with a small checkpoint, and a reference run of them."""
    from click.testing import CliRunner

    from tsmap.checkpoint import save_checkpoint
    from tsmap.cli import main
    from tsmap.model import build_encoder
    from tsmap.specs import AUTHORS

    root = tmp_path_factory.mktemp("cli")
    ckpt = root / "small.safetensors"
    save_checkpoint(ckpt, build_encoder(SMALL.config, seed=0), AUTHORS, text_model="open_clip:ViT-B-32/none")
    b = demo_scene.grid.lonlat_bbox()
    args = [
        "predict",
        "--bbox",
        f"{b.west},{b.south},{b.east},{b.north}",
        "--year",
        "2023",
        "--prompts",
        "land-cover",
        "--stac",
        demo_scene.catalog,
        "--checkpoint",
        str(ckpt),
        "--clip-pretrained",
        "none",
        "--tile",
        "16",
        "--quiet",
    ]
    (root / "ref").mkdir()
    res = CliRunner().invoke(main, [*args, "--out", str(root / "ref" / "map.tif")])
    assert res.exit_code == 0, res.output
    return args, root / "ref"


def _cli(args, **kw):
    return subprocess.run(
        [sys.executable, "-m", "tsmap", *args], capture_output=True, text=True, timeout=600, cwd=ROOT, **kw
    )


def _last_line(stderr: str) -> str:
    return [ln for ln in stderr.strip().splitlines() if not ln.startswith("WARNING")][-1]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_say_what_was_kept_and_the_same_command_resumes(cli, tmp_path, sig):
    args, ref = cli
    out = tmp_path / "map.tif"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tsmap", *args, "--workers", "1", "--out", str(out)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # as from a terminal
    ledger = Path(f"{out}.ledger.jsonl")
    deadline = time.time() + 300
    while time.time() < deadline and (not ledger.exists() or ledger.read_text().count('"done"') < 2):
        time.sleep(0.05)
    proc.send_signal(sig)
    err = proc.communicate(timeout=300)[1]
    done = len(Ledger.load(ledger).tiles_with(DONE))
    assert proc.returncode == 130 and "Traceback" not in err and 2 <= done < 25
    assert _last_line(err) == (f"Stopped: interrupted: {done} of 25 tiles are done and kept (ledger {ledger}): "
                               "run the same command again to resume")
    again = _cli([*args, "--out", str(out)])
    assert again.returncode == 0 and f"resumed: {done} tiles from the earlier run" in again.stdout
    assert same_bytes(tmp_path, ref)


@pytest.mark.slow
def test_the_file_size_limit_is_one_line_and_the_rerun_resumes(cli, tmp_path):
    args, ref = cli
    limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))  # noqa: E731
    res = _cli(
        [*args, "--out", str(tmp_path / "map.tif"), "--keep-embeddings", str(tmp_path / "emb.zarr")], preexec_fn=limit
    )
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert _last_line(res.stderr).startswith(
        f"Error: a file reached the size limit of this process (ulimit -f) while writing in {tmp_path}"
    )
    again = _cli([*args, "--out", str(tmp_path / "map.tif"), "--keep-embeddings", str(tmp_path / "emb.zarr")])
    assert again.returncode == 0, again.stderr
    assert same_pixels(tmp_path / "map.tif", ref / "map.tif") and same_pixels(
        tmp_path / "map_score.tif", ref / "map_score.tif"
    )


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_tmpfs_that_fills_up_mid_run_is_one_line_and_the_rerun_after_freeing_space_resumes(cli, tmp_path):
    args, ref = cli
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        run = [*args, "--workers", "1", "--out", str(mnt / "map.tif"), "--keep-embeddings", str(mnt / "emb.zarr")]
        proc = subprocess.Popen(
            [sys.executable, "-m", "tsmap", *run],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
        )
        ledger = mnt / "map.tif.ledger.jsonl"
        deadline = time.time() + 300
        while time.time() < deadline and (not ledger.exists() or ledger.read_text().count('"done"') < 2):
            time.sleep(0.02)
        with open(mnt / "filler", "wb") as f:  # someone else fills the disk
            try:
                while True:
                    f.write(bytes(1 << 16))
                    f.flush()
            except OSError:
                pass
        err = proc.communicate(timeout=300)[1]
        done = len(Ledger.load(ledger).tiles_with(DONE))
        assert proc.returncode == 1 and "Traceback" not in err, err
        assert (
            _last_line(err).startswith(f"Error: the disk is full while writing in {mnt} (")
            and f"{done} of 25 tiles are done and kept" in err
        )
        assert not (mnt / "map.tif").exists() and 2 <= done < 25
        (mnt / "filler").unlink()
        again = _cli(run)
        assert again.returncode == 0 and f"resumed: {done} tiles from the earlier run" in again.stdout, again.stderr
        assert same_bytes(mnt, ref, item=None)  # the item also lists the embedding store
    finally:
        subprocess.run(["umount", str(mnt)])


@pytest.mark.slow
def test_two_runs_at_once_one_works_the_other_stops_naming_it(cli, tmp_path):
    args, ref = cli
    run = [*args, "--workers", "1", "--out", str(tmp_path / "map.tif")]
    first = subprocess.Popen(
        [sys.executable, "-m", "tsmap", *run], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=ROOT
    )
    deadline = time.time() + 300
    while time.time() < deadline and not (tmp_path / "map.tif.lock").exists():
        time.sleep(0.02)
    first.send_signal(signal.SIGSTOP)  # the first run holds the lock for as long as the second one takes
    try:
        second = _cli(run)
    finally:
        first.send_signal(signal.SIGCONT)
    first_err = first.communicate(timeout=600)[1]
    assert first.returncode == 0, first_err
    assert second.returncode == 1 and _last_line(second.stderr).startswith(
        f"Error: another tsmap run (pid {first.pid} on "
    )
    assert same_bytes(tmp_path, ref)
