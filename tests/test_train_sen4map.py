"""Reading Sen4Map HDF5 files: dates, crops, and compositing with tsmap's own rules."""

import datetime as dt
import warnings

import numpy as np
import pytest

from tsmap.errors import DataError, InputError
from tsmap.specs import CompositeSpec
from tsmap_train.sen4map import acquisition_date, composite_series, point_ids, read_points
from tsmap_train.testing import point_series, write_sen4map


def test_acquisition_date_from_product_ids():
    assert acquisition_date("S2B_MSIL2A_20180705T102019_N0208_R065_T32TMT_20180705T132413") == np.datetime64(
        "2018-07-05"
    )
    assert acquisition_date(b"S2A_MSIL2A_20181231T000000") == np.datetime64("2018-12-31")
    assert acquisition_date("tile_201803") == np.datetime64("2018-03-15")
    with pytest.raises(DataError, match="no YYYYMM"):
        acquisition_date("S2A_without_a_date")


def test_clean_rule_composite_equals_nanmedian_reference():
    rng = np.random.default_rng(0)
    dates = [np.datetime64(f"2018-{m:02d}-{d:02d}") for m in range(1, 13) for d in (2, 12, 22) if m != 6]
    dn = rng.uniform(100, 4000, (len(dates), 10, 4)).astype(np.float32)
    scl = rng.choice([4, 5, 8, 9, 3, 10], (len(dates), 4), p=[0.4, 0.2, 0.1, 0.1, 0.1, 0.1])
    out = composite_series(dn, scl, dates, CompositeSpec(rule="clean"))
    months = np.array([int(str(d)[5:7]) for d in dates])
    masked = np.where(np.isin(scl, [4, 5])[:, None], dn, np.nan)
    for m in range(12):
        sel = months == m + 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
            ref = np.nanmedian(masked[sel], axis=0) if sel.any() else np.full((10, 4), np.nan)
        np.testing.assert_allclose(out[m], ref, rtol=1e-6)
    assert np.isnan(out[5]).all()  # June has no acquisition: stays missing under the clean rule
    quarterly = composite_series(dn, scl, dates, CompositeSpec(rule="clean", periods=4))
    assert quarterly.shape == (4, 10, 4)


def test_points_with_identical_dates_are_composited_together_and_correctly(tmp_path):
    dates = [dt.date(2018, m, 10) for m in range(1, 13)]
    other = [dt.date(2018, m, 20) for m in range(1, 13, 2)]
    rng = np.random.default_rng(3)
    pts = []
    for i, (cls, ds) in enumerate([("Cropland", dates), ("Water", other), ("Woodland", dates)]):
        pts.append({"id": f"1000000{i}", "dn": point_series(cls, ds, size=6, rng=rng),
                    "scl": np.full((len(ds), 6, 6), 4), "dates": ds, "attrs": {"lc1": "B11"}})
    path = write_sen4map(str(tmp_path / "x.h5"), pts)
    assert point_ids(path) == ["10000000", "10000001", "10000002"]
    recs = list(read_points(path, patch=2, spec=CompositeSpec(rule="authors"), batch=2))
    assert [r.point_id for r in recs] == ["10000000", "10000001", "10000002"]
    for rec, p in zip(recs, pts):
        alone = composite_series(p["dn"][..., 2:4, 2:4], p["scl"][..., 2:4, 2:4],
                                 [np.datetime64(d) for d in p["dates"]], CompositeSpec(rule="authors"))
        np.testing.assert_array_equal(rec.s2, alone)
        assert rec.s2.shape == (12, 10, 2, 2) and rec.attrs["lc1"] == "B11"
    np.testing.assert_array_equal(recs[0].s2[:, :, 0, 0], pts[0]["dn"][:, :, 2, 2] + 1)  # one date a month: value + 1


def test_unusable_points_carry_the_reason(tmp_path):
    dates = [dt.date(2018, 1, 5), dt.date(2018, 2, 5)]
    good = {"id": "1", "dn": point_series("Water", dates, size=4), "scl": np.full((2, 4, 4), 4), "dates": dates}
    path = write_sen4map(str(tmp_path / "y.h5"), [good])
    import h5py

    with h5py.File(path, "a") as f:
        g = f.create_group("Lucas_Point_2")
        g.create_dataset("B2", data=np.zeros((2, 4, 4)))
        f.copy(f["Lucas_Point_1"], "Lucas_Point_3")
        f["Lucas_Point_3"].attrs["Image_ID"] = ["S2A_20180105"]
    recs = {r.point_id: r for r in read_points(path, patch=1, spec=CompositeSpec(rule="authors"))}
    assert recs["1"].s2 is not None and recs["1"].problem is None
    assert recs["2"].s2 is None and "datasets" in recs["2"].problem and "'B3'" in recs["2"].problem
    assert recs["3"].s2 is None and "1 Image_IDs for 2 acquisitions" in recs["3"].problem
    with pytest.raises(DataError, match="smaller than the requested"):
        list(read_points(path, patch=9, spec=CompositeSpec()))


def test_without_h5py_the_error_says_which_extra_to_install(tmp_path, monkeypatch):
    dates = [dt.date(2018, 1, 5)]
    point = {"id": "1", "dn": point_series("Water", dates, size=2), "scl": np.full((1, 2, 2), 4), "dates": dates}
    path = write_sen4map(str(tmp_path / "s.h5"), [point])
    monkeypatch.setitem(__import__("sys").modules, "h5py", None)  # as if the train extra were not installed
    with pytest.raises(InputError, match=r"needs h5py: pip install 'tsmap\[train\]'"):
        point_ids(path)
