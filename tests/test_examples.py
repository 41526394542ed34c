"""The examples run as written (subprocesses, as a user would run them)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import rasterio

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_cluster_example_embeds_once_and_maps_twice(tmp_path):
    out = tmp_path / "ex"
    res = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "map_with_cluster.py"),
            "--out",
            str(out),
            "--size",
            "64",
            "--tile",
            "32",
            "--workers",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "nothing read yet" in res.stdout and "4 tiles" in res.stdout
    for name in ("land-cover.tif", "land-use.tif", "scenic.tif", "land-cover_quicklook.png"):
        assert (out / name).exists(), name
    with rasterio.open(out / "land-use.tif") as f:
        assert f.tags()["prompts_name"] == "land-use" and f.read(1)[:, 8:].max() < 254
    hits = json.loads((out / "lake-search.geojson").read_text())
    assert len(hits["features"]) == 5 and hits["features"][0]["properties"]["rank"] == 1
    scores = [h["properties"]["score"] for h in hits["features"]]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.slow
def test_compare_recipes_example_trains_both_recipes(tmp_path):
    res = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "compare_recipes.py"),
            "--epochs",
            "1",
            "--per-class",
            "30",
            "--batch",
            "16",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["recipe"] for r in rows] == ["tsmap", "authors"] and all(r["resume_exact"] for r in rows)
    assert (
        rows[0]["steps"] > rows[1]["steps"]
    )  # the same epochs: the authors' recipe accumulates 8 micro-batches per step
    assert all(0 <= r["top1_monthly"] <= 1 and 0 <= r["top1_single"] <= 1 for r in rows)
