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
    path = write_cog(
        data, tmp_path / "a.tif", GRID, nodata=np.nan, tags={"prompts_sha256": "abc"}, band_names=["score"]
    )
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


def _blocks(data, size=128):
    for y in range(0, data.shape[-2], size):
        for x in range(0, data.shape[-1], size):
            yield (slice(y, y + size), slice(x, x + size)), data[..., y : y + size, x : x + size]


def test_block_by_block_cog_has_real_overviews_not_zeros(tmp_path):
    """rioxarray#410: writing a COG in chunks gave all-zero overviews. Ours come from the finished data."""
    from tsmap.write import write_cog_blocks

    yy, xx = np.mgrid[0:512, 0:512]
    data = (1.0 + np.sin(yy / 40.0) + xx / 512.0).astype(np.float32)[None]
    data[0, :, :64] = np.nan  # nodata must not leak into the averages
    path = write_cog_blocks(
        tmp_path / "s.tif", GRID, _blocks(data), count=1, dtype="float32", nodata=np.nan, band_names=["score"]
    )
    assert cog_validate(path)[0]
    with rasterio.open(path) as f:
        np.testing.assert_array_equal(f.read(), data)
        assert f.overviews(1) == [2]
    with rasterio.open(path, overview_level=0) as ov:
        level = ov.read(1)
    expected = np.nanmean(data[0].reshape(256, 2, 256, 2), axis=(1, 3))
    assert np.isnan(level[:, :32]).all()
    np.testing.assert_allclose(level[:, 32:], expected[:, 32:], rtol=1e-5)
    assert np.nanmin(level) > 0.1  # the data are all > 0.12; zeros would mean empty overviews


def test_class_cog_keeps_colours_and_nearest_overviews(tmp_path):
    from tsmap.write import write_cog_blocks

    classes = (np.arange(512)[None, :] // 64 % 3).astype(np.uint8).repeat(512, 0)[None]
    classes[0, :100] = 255
    colours = {0: (255, 0, 0, 255), 1: (0, 255, 0, 255), 2: (0, 0, 255, 255), 255: (0, 0, 0, 0)}
    path = write_cog_blocks(tmp_path / "c.tif", GRID, _blocks(classes), count=1, dtype="uint8", nodata=255,
                            colormap=colours, tags={"classes": "a,b,c"})
    with rasterio.open(path) as f:
        assert f.colormap(1)[2] == (0, 0, 255, 255) and f.tags()["classes"] == "a,b,c" and f.nodata == 255
    with rasterio.open(path, overview_level=0) as ov:
        level = ov.read(1)
    np.testing.assert_array_equal(level, classes[0, ::2, ::2])  # nearest: values of the data, never blends or zeros
    assert set(np.unique(level)) == {0, 1, 2, 255}
