"""The training store: round trip, splits, crops, atomic writes, clear errors."""

import numpy as np
import pytest

from tsmap.errors import DataError, InputError
from tsmap_train.store import Samples, center_crop, read_store, write_store


def _samples(n=10, patch=5):
    rng = np.random.default_rng(0)
    s2 = rng.uniform(0, 3000, (n, 12, 10, patch, patch)).astype(np.float32)
    s2[0, 3] = np.nan
    return Samples(
        s2=s2, ground=rng.normal(size=(n, 4, 8)).astype(np.float32), ground_valid=rng.random((n, 4)) > 0.2,
        labels={"lc": rng.integers(-1, 8, n), "country": rng.integers(0, 28, n)},
        point_id=np.array([f"{40000000 + i}" for i in range(n)]), lon=rng.uniform(0, 10, n), lat=rng.uniform(40, 60, n),
        split=np.array(["train", "val", "test", "train", "train", "test", "train", "val", "train", "test"][:n]),
        attrs={"composite": {"rule": "clean", "periods": 12, "keep_snow": False}},
    )


def test_round_trip(tmp_path):
    s = _samples()
    path = write_store(s, tmp_path / "s.zarr")
    r = read_store(path)
    np.testing.assert_array_equal(r.s2, s.s2)
    np.testing.assert_array_equal(r.ground, s.ground)
    np.testing.assert_array_equal(r.ground_valid, s.ground_valid)
    assert r.labels.keys() == {"lc", "country"} and np.array_equal(r.labels["lc"], s.labels["lc"])
    assert list(r.point_id) == list(s.point_id) and list(r.split) == list(s.split)
    np.testing.assert_array_equal(r.lat, s.lat)
    assert r.attrs["composite"]["rule"] == "clean" and r.attrs["tasks"]["lc"][0] == "Artificial Land"
    assert r.attrs["views"] == ["W", "E", "N", "S"]


def test_split_and_patch_selection(tmp_path):
    s = _samples()
    path = write_store(s, tmp_path / "s.zarr")
    test = read_store(path, split="test", patch=1)
    idx = np.flatnonzero(s.split == "test")
    assert list(test.point_id) == list(s.point_id[idx]) and test.s2.shape == (3, 12, 10, 1, 1)
    np.testing.assert_array_equal(test.s2[..., 0, 0], s.s2[idx, :, :, 2, 2])
    np.testing.assert_array_equal(center_crop(s.s2, 3), s.s2[..., 1:4, 1:4])
    assert len(s.select_split("train")) == 5


def test_errors_and_atomicity(tmp_path):
    s = _samples()
    path = write_store(s, tmp_path / "s.zarr")
    with pytest.raises(InputError, match="already exists"):
        write_store(s, path)
    with pytest.raises(InputError, match="crop a 7x7"):
        read_store(path, patch=7)
    with pytest.raises(DataError, match="no points in split 'val'"):
        read_store(write_store(s.subset(s.split != "val"), tmp_path / "noval.zarr"), split="val")
    with pytest.raises(InputError, match="does not exist"):
        read_store(tmp_path / "missing.zarr")
    (tmp_path / "other").mkdir()
    with pytest.raises(DataError, match="other' is not a readable Zarr store"):
        read_store(tmp_path / "other")
    with pytest.raises(InputError, match="output folder"):
        write_store(s, tmp_path / "no" / "such" / "s.zarr")
    with pytest.raises(DataError, match="rows"):
        Samples(**{**s.__dict__, "lat": s.lat[:3]})
    bad = Samples(**{**s.__dict__, "s2": s.s2.astype(object)})  # cannot be written as float
    bad.s2[0, 0, 0, 0, 0] = "x"
    with pytest.raises(ValueError, match="could not convert string to float: 'x'"):
        write_store(bad, tmp_path / "bad.zarr")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noval.zarr", "other", "s.zarr"]  # no partial store left
