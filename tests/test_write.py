import os

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from tsmap.geo import Grid
from tsmap.write import write_cog

GRID = Grid(32632, (356_000.0, 5_620_000.0, 361_120.0, 5_625_120.0))  # 512 x 512 px


def test_writes_valid_cog_with_tags(tmp_path):
    data = np.arange(512 * 512, dtype=np.float32).reshape(512, 512)
    path = write_cog(data, tmp_path / "a.tif", GRID, nodata=np.nan, tags={"prompts_sha256": "abc"}, band_names=["score"])
    valid, errors, _ = cog_validate(path)
    assert valid, errors
    with rasterio.open(path) as f:
        assert f.crs.to_epsg() == 32632 and f.transform == GRID.transform
        assert f.tags()["prompts_sha256"] == "abc" and f.descriptions == ("score",)
        np.testing.assert_array_equal(f.read(1), data)
        assert f.overviews(1)


def test_failure_leaves_nothing(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="does not match grid"):
        write_cog(np.zeros((3, 3), np.uint8), tmp_path / "b.tif", GRID, nodata=255)

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_cog(np.zeros((512, 512), np.uint8), tmp_path / "c.tif", GRID, nodata=255)
    assert os.listdir(tmp_path) == []
