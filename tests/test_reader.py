"""The asset reader behind load_cube: signing at read time, re-signing, one-line errors."""

import datetime as dt
import os

import pytest

from tsmap.errors import DataError
from tsmap.geo import Grid
from tsmap.load import load_cube

from .stac_factory import lonlat_box_in, make_item

UTC = dt.timezone.utc
BLOB = "https://acct.blob.core.windows.net/container/"


@pytest.fixture()
def item_and_grid(tmp_path):
    bounds = lonlat_box_in(32632, (7.0, 50.0, 7.0045, 50.003))
    item = make_item(tmp_path, item_id="x", when=dt.datetime(2023, 6, 1, tzinfo=UTC), epsg=32632, bounds=bounds)
    grid = Grid(32632, (bounds[0], bounds[3] - 320, bounds[0] + 320, bounds[3]))  # 32 x 32 px = 4 chunks of 16
    return item, grid, str(tmp_path)


class LocalBlobSigner:
    """Duck-typed signer: maps blob hrefs to the local files; tokens 'expire' after each read if asked."""

    def __init__(self, root, *, expire_every_read):
        self.root, self.expire, self.calls = root, expire_every_read, {}

    def __call__(self, href):
        self.calls[href] = self.calls.get(href, 0) + 1
        return os.path.join(self.root, href[len(BLOB):])

    def fresh(self, url):
        return not self.expire


def _as_blob(item, root):
    for asset in item.assets.values():
        asset.href = BLOB + os.path.relpath(asset.href, root)
    return item


@pytest.mark.parametrize("expire, calls_per_asset", [(False, 1), (True, 4)])
def test_hrefs_are_signed_at_read_time_and_re_signed_when_expired(item_and_grid, expire, calls_per_asset):
    item, grid, root = item_and_grid
    signer = LocalBlobSigner(root, expire_every_read=expire)
    cube = load_cube([_as_blob(item, root)], grid, chunk=16, signer=signer)
    values = cube.sel(band="B04").compute(scheduler="threads")
    assert (values.values == 500).all()  # 1500 DN - 1000 offset, read through the signed URLs
    assert len(signer.calls) == 11 and set(signer.calls.values()) == {calls_per_asset}


def test_missing_asset_file_is_one_clear_line(item_and_grid):
    item, grid, root = item_and_grid
    cube = load_cube([item], grid, chunk=16)  # builds without reading pixels
    os.remove(os.path.join(root, "x", "B03.tif"))
    with pytest.raises(
        DataError, match=r"^cannot read asset .*x/B03.tif \(.*\); check that it exists and is reachable"
    ) as err:
        cube.compute()
    assert "\n" not in str(err.value)


def test_corrupt_asset_is_one_clear_line(item_and_grid):
    item, grid, root = item_and_grid
    with open(os.path.join(root, "x", "B8A.tif"), "w") as f:
        f.write("not a tiff")
    with pytest.raises(DataError, match=r"^cannot read asset .*x/B8A.tif \(.*not recognized.*\); check"):
        load_cube([item], grid, chunk=16).compute()
