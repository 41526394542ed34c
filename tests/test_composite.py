import datetime as dt

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from tsmap.bands import ALL_BANDS
from tsmap.composite import CLEAN_SCL, CompositeSpec, composite, mask_clouds
from tsmap.errors import InputError


def _cube(values, scl, times):
    """A (time, band, y, x) cube from spectral values (t, 10, y, x) and SCL (t, y, x)."""
    data = np.concatenate([values, scl[:, None]], axis=1).astype(np.float32)
    return xr.DataArray(
        data,
        dims=("time", "band", "y", "x"),
        coords={"time": pd.DatetimeIndex(times), "band": [b.name for b in ALL_BANDS]},
    ).chunk({"y": 2, "x": 2})


@pytest.fixture()
def cube():
    rng = np.random.default_rng(1)
    times = [dt.datetime(2023, m, d) for m in range(1, 13) for d in (3, 13, 23)]
    values = rng.uniform(100, 3000, size=(len(times), 10, 3, 4)).astype(np.float32)
    scl = rng.choice([4, 4, 4, 5, 6, 3, 8, 9, 10, 11, 0, 1], size=(len(times), 3, 4)).astype(np.float32)
    scl[:, 0, 0] = 9  # pixel (0, 0) always cloudy
    scl[6:9, 1, 1] = 8  # pixel (1, 1) cloudy all of March
    return _cube(values, scl, times), values, scl, np.array([t.month - 1 for t in times])


def test_monthly_median_equals_numpy_of_clear_acquisitions(cube):
    da, values, scl, month = cube
    out = composite(da, CompositeSpec(rule="clean")).compute()
    s2 = out["s2"].values
    assert out["s2"].dims == ("month", "band", "y", "x") and s2.shape == (12, 10, 3, 4)
    for m in range(12):
        for y in range(3):
            for x in range(4):
                sel = (month == m) & np.isin(scl[:, y, x], [2, 4, 5, 6, 7])
                expected = np.median(values[sel, :, y, x], axis=0) if sel.any() else np.full(10, np.nan)
                np.testing.assert_allclose(s2[m, :, y, x], expected, rtol=1e-6)
    assert np.isnan(s2[:, :, 0, 0]).all() and out["valid_periods"].values[0, 0] == 0
    assert np.isnan(s2[2, :, 1, 1]).all()
    clear_months = [((month == m) & np.isin(scl[:, 2, 3], [2, 4, 5, 6, 7])).any() for m in range(12)]
    assert out["valid_periods"].values[2, 3] == sum(clear_months)


def test_masked_dates_are_excluded(cube):
    da, values, scl, _ = cube
    masked = mask_clouds(da).compute()
    bad = ~np.isin(scl, [2, 4, 5, 6, 7])
    assert np.isnan(masked.values.transpose(1, 0, 2, 3)[:, bad]).all()
    assert not np.isnan(masked.values.transpose(1, 0, 2, 3)[:, ~bad]).any()
    snow = mask_clouds(da, CompositeSpec(keep_snow=True)).compute()
    assert not np.isnan(snow.values.transpose(1, 0, 2, 3)[:, scl == 11]).any()


def test_quarterly_and_annual(cube):
    da, values, scl, month = cube
    q = composite(da, CompositeSpec(periods=4)).compute()["s2"].values
    clear = np.isin(scl[:, 2, 2], [2, 4, 5, 6, 7])
    sel = (month // 3 == 1) & clear
    np.testing.assert_allclose(q[1, :, 2, 2], np.median(values[sel, :, 2, 2], axis=0), rtol=1e-6)
    a = composite(da, CompositeSpec(periods=1)).compute()["s2"].values
    np.testing.assert_allclose(a[0, :, 2, 2], np.median(values[clear, :, 2, 2], axis=0), rtol=1e-6)


def test_authors_rule(cube):
    da, values, scl, month = cube
    out = composite(da, CompositeSpec(rule="authors")).compute()["s2"].values
    y, x = 2, 1
    v = np.where((scl[:, y, x] >= 9)[:, None], 0.0, values[:, :, y, x])
    for m in range(12):
        np.testing.assert_allclose(out[m, :, y, x], np.median(v[month == m], axis=0) + 1, rtol=1e-6)
    # a month without acquisitions takes the year's median
    da_gap = da.isel(time=np.flatnonzero(month != 4))
    gap = composite(da_gap, CompositeSpec(rule="authors")).compute()["s2"].values
    np.testing.assert_allclose(gap[4, :, y, x], np.median(v[month != 4], axis=0) + 1, rtol=1e-6)


def test_composite_is_lazy(cube, no_compute):
    da = cube[0]
    out = composite(da)
    assert out["s2"].chunks is not None


def test_bad_spec():
    with pytest.raises(InputError, match="unknown cloud rule"):
        CompositeSpec(rule="fancy")
    with pytest.raises(InputError, match="periods"):
        CompositeSpec(periods=6)


def test_composite_on_real_ndvi_series():
    """Real eo-learn NDVI (68 dates) + real cloud mask: monthly nan-medians equal numpy."""
    from .conftest import shared_path

    import json

    root = shared_path("data", "eo-learn_TestEOPatch")
    ndvi = np.load(root / "data" / "NDVI.npy")[..., 0]  # (t, y, x)
    clm = np.load(root / "mask" / "CLM.npy")[..., 0].astype(bool)
    times = pd.to_datetime(json.loads((root / "timestamps.json").read_text()))
    year = times.year == 2017
    ndvi, clm, times = ndvi[year], clm[year], times[year]
    values = np.repeat(ndvi[:, None], 10, axis=1)
    scl = np.where(clm, 9, 4).astype(np.float32)
    da = _cube(values, scl, times).chunk({"y": 50, "x": 50})
    out = composite(da, CompositeSpec(rule="clean")).compute()["s2"].values[:, 0]
    month = times.month.values - 1
    ref = np.full((12,) + ndvi.shape[1:], np.nan, dtype=np.float32)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for m in range(12):
                if (month == m).any():
                    ref[m] = np.nanmedian(np.where(clm[month == m], np.nan, ndvi[month == m]), axis=0)
    np.testing.assert_allclose(out, ref, rtol=1e-6, equal_nan=True)
    assert np.isfinite(out).sum() > 0.5 * out.size


def test_configurable_mask_classes(cube):
    da, values, scl, month = cube
    spec = CompositeSpec(mask_classes=[9, 3, 10, 8])  # keep SCL 0, 1 and 11 this time
    assert spec.masked == (3, 8, 9, 10)
    s2 = composite(da, spec).compute()["s2"].values
    y, x = 2, 3
    for m in range(12):
        sel = (month == m) & ~np.isin(scl[:, y, x], [3, 8, 9, 10])
        expected = np.median(values[sel, :, y, x], axis=0) if sel.any() else np.full(10, np.nan)
        np.testing.assert_allclose(s2[m, :, y, x], expected, rtol=1e-6)


def test_year_median_fill_is_an_option_of_the_clean_rule(cube):
    da, values, scl, month = cube
    spec = CompositeSpec(fill="year-median")
    out = composite(da, spec).compute()
    plain = composite(da).compute()
    y, x = 1, 1  # all of March is cloudy here
    clear = np.isin(scl[:, y, x], list(CLEAN_SCL))
    np.testing.assert_allclose(out["s2"].values[2, :, y, x], np.median(values[clear, :, y, x], axis=0), rtol=1e-6)
    np.testing.assert_array_equal(out["valid_periods"].values, plain["valid_periods"].values)  # fill is not data
    assert np.isnan(out["s2"].values[:, :, 0, 0]).all()  # never clear: nothing to fill from


def test_valid_periods_count_clear_periods_under_the_authors_rule_too(cube):
    da, values, scl, month = cube
    counts = composite(da, CompositeSpec(rule="authors")).compute()["valid_periods"].values
    for y in range(3):
        for x in range(4):
            clear = ~np.isin(scl[:, y, x], [9, 10, 11])
            assert counts[y, x] == len(set(month[clear]))
    assert counts[0, 0] == 0


def test_spec_round_trips_through_json():
    import json
    from dataclasses import asdict

    spec = CompositeSpec(rule="authors", periods=4, mask_classes=(11, 9), fill="none")
    again = CompositeSpec(**json.loads(json.dumps(asdict(spec))))
    assert again == spec and again.mask_classes == (9, 11) and not again.fills


def test_bad_spec_options():
    with pytest.raises(InputError, match=r"mask classes \[3, 12\] must be SCL classes 0..11"):
        CompositeSpec(mask_classes=[3, 12])
    with pytest.raises(InputError, match="unknown fill 'mean'; choose one of none, year-median"):
        CompositeSpec(fill="mean")
