import numpy as np
import pytest
import xarray as xr

from tsmap.errors import InputError
from tsmap.patches import neighbourhoods

MODES = {
    "nan": dict(mode="constant", constant_values=np.nan),
    "edge": dict(mode="edge"),
    "symmetric": dict(mode="symmetric"),
}


@pytest.fixture()
def s2():
    rng = np.random.default_rng(3)
    values = rng.uniform(0, 3000, size=(12, 10, 11, 9)).astype(np.float32)
    return xr.DataArray(
        values, dims=("month", "band", "y", "x"), coords={"y": np.arange(11) * -10.0, "x": np.arange(9) * 10.0}
    ).chunk({"y": 4, "x": 4})


@pytest.mark.parametrize("size", [3, 5, 9])
@pytest.mark.parametrize("edge", list(MODES))
def test_windows_equal_a_numpy_reference_across_chunk_borders(s2, size, edge):
    r = size // 2
    out = neighbourhoods(s2, size, edge=edge)
    assert out.dims == ("month", "band", "y", "x", "patch_y", "patch_x")
    assert out.shape == (12, 10, 11, 9, size, size)
    assert out.chunks[2] == s2.chunks[2] or r > min(s2.chunks[2])  # dask merges chunks thinner than P // 2
    padded = np.pad(s2.values, ((0, 0), (0, 0), (r, r), (r, r)), **MODES[edge])
    got = out.values
    for i in range(11):
        for j in range(9):
            np.testing.assert_array_equal(got[:, :, i, j], padded[:, :, i : i + size, j : j + size])
    np.testing.assert_array_equal(got[:, :, :, :, r, r], s2.values)  # the centre is the pixel itself
    np.testing.assert_array_equal(out.y.values, s2.y.values)


def test_size_one_is_the_pixel_itself(s2):
    out = neighbourhoods(s2, 1).values
    np.testing.assert_array_equal(out[..., 0, 0], s2.values)


def test_blocks_are_views_not_p_squared_copies(s2, no_compute):
    from dask.local import get_sync

    out = neighbourhoods(s2, 5)  # lazy: builds nothing
    block = get_sync(dict(out.data.__dask_graph__()), (out.data.name, 0, 0, 1, 0, 0, 0))  # the task's own result
    assert block.shape == (12, 10, 4, 4, 5, 5) and not block.flags.owndata and not block.flags.writeable
    low, high = np.lib.array_utils.byte_bounds(block)
    assert high - low <= 12 * 10 * (4 + 4) * (4 + 4) * 4 < block.nbytes  # spans the padded chunk, not 25 x the chunk


def test_bad_patch_options():
    da = xr.DataArray(np.zeros((12, 10, 4, 4), np.float32), dims=("month", "band", "y", "x"))
    with pytest.raises(InputError, match="positive odd number"):
        neighbourhoods(da, 4)
    with pytest.raises(InputError, match="unknown edge handling 'wrap'; choose one of nan, edge, symmetric"):
        neighbourhoods(da, 5, edge="wrap")
