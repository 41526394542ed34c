import datetime as dt
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from tsmap.bands import ALL_BANDS
from tsmap.composite import composite, mask_clouds
from tsmap.specs import CLEAN_SCL, CompositeSpec
from tsmap.errors import InputError

from .conftest import data_path


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


def _torch_median(a):
    import torch

    return torch.median(torch.from_numpy(np.asarray(a, np.float32)), dim=0).values.numpy()


def _authors_reference(values, scl, month, *, periods=12, median=_torch_median):
    """The authors' compositing, pixel by pixel with torch.median (their median), from the facts:
    SCL >= 9 set to 0 and kept, no-data (SCL NaN) left out, empty month = median of the year, +1;
    quarters and the year are medians of the 12 monthly composites."""
    t, b, h, w = values.shape
    out = np.zeros((periods, b, h, w), np.float32)
    for y in range(h):
        for x in range(w):
            present = ~np.isnan(scl[:, y, x])
            obs = np.where((scl[:, y, x] >= 9)[:, None], 0.0, values[:, :, y, x]).astype(np.float32)
            year = median(obs[present]) if present.any() else np.full(b, np.nan, np.float32)
            months = np.stack(
                [median(obs[present & (month == m)]) if (present & (month == m)).any() else year for m in range(12)]
            )
            months = months + np.float32(1)
            group = 12 // periods
            out[:, :, y, x] = np.stack([median(months[q * group : (q + 1) * group]) for q in range(periods)])
    return out


@pytest.fixture()
def uneven_year():
    """0-6 acquisitions per month (even and odd counts, empty months), with clear, shadow (3, kept by
    the authors), cloud (8, 9, 10), snow (11) and no-data (NaN) observations."""
    rng = np.random.default_rng(7)
    counts = [2, 1, 4, 0, 3, 6, 2, 5, 0, 2, 1, 4]
    times = [dt.datetime(2023, m + 1, 1 + 4 * i) for m, c in enumerate(counts) for i in range(c)]
    values = rng.integers(100, 4000, size=(len(times), 10, 4, 5)).astype(np.float32)
    scl = rng.choice([4, 4, 5, 6, 3, 8, 9, 10, 11], size=(len(times), 4, 5)).astype(np.float32)
    scl[rng.random(scl.shape) < 0.1] = np.nan
    scl[:, 3, 4] = 9  # always cloudy: every composite is 0 + 1
    scl[:, 0, 0] = np.nan  # never observed: NaN throughout
    return _cube(values, scl, times), values, scl, np.array([t.month - 1 for t in times])


@pytest.mark.parametrize("periods", [12, 4, 1])
def test_authors_rule_equals_torch_median_pixel_by_pixel(uneven_year, periods):
    da, values, scl, month = uneven_year
    out = composite(da, CompositeSpec(rule="authors", periods=periods)).compute()["s2"].values
    want = _authors_reference(values, scl, month, periods=periods)
    np.testing.assert_array_equal(out, want)
    assert np.isnan(out[:, :, 0, 0]).all() and (out[:, :, 3, 4] == 1).all()
    # the lower median really matters here: the usual median differs in many values (even counts)
    usual = _authors_reference(values, scl, month, periods=periods, median=lambda a: np.median(a, axis=0))
    assert (out != usual).sum() > 0.1 * np.isfinite(out).sum()


def test_authors_month_of_one_clear_and_one_cloudy_acquisition_is_one():
    times = [dt.datetime(2023, 1, 3), dt.datetime(2023, 1, 13)] + [dt.datetime(2023, m, 5) for m in range(2, 13)]
    values = np.full((len(times), 10, 1, 1), 1200, np.float32)
    scl = np.full((len(times), 1, 1), 4, np.float32)
    scl[1] = 9
    out = composite(_cube(values, scl, times), CompositeSpec(rule="authors")).compute()["s2"].values
    assert out[0, 0, 0, 0] == 1.0  # the lower median of (0, 1200) is 0, plus 1 (the usual median gives 601)
    assert (out[1:] == 1201).all()


def test_authors_quarters_are_medians_of_monthly_composites_not_of_acquisitions():
    # Jan: three clear 1000s; Feb: one 2000; Mar: one 3000. Acquisitions of Q1 -> median 1000;
    # monthly composites (1001, 2001, 3001) -> median 2001, the authors' quarterly input.
    times = [dt.datetime(2023, 1, d) for d in (2, 12, 22)] + [dt.datetime(2023, m, 5) for m in range(2, 13)]
    values = np.array([1000, 1000, 1000] + [1000 * m for m in range(2, 13)], np.float32)
    values = np.broadcast_to(values[:, None, None, None], (len(times), 10, 1, 1)).copy()
    scl = np.full((len(times), 1, 1), 4, np.float32)
    q = composite(_cube(values, scl, times), CompositeSpec(rule="authors", periods=4)).compute()
    assert q["s2"].values[:, 0, 0, 0].tolist() == [2001, 5001, 8001, 11001]
    a = composite(_cube(values, scl, times), CompositeSpec(rule="authors", periods=1)).compute()["s2"].values
    assert a[0, 0, 0, 0] == 6001  # lower median of 1001..12001 (the 6th of 12)
    assert q["valid_periods"].values[0, 0] == 4
    clean = composite(_cube(values, scl, times), CompositeSpec(rule="clean", periods=4)).compute()["s2"].values
    assert clean[0, 0, 0, 0] == 1000  # the clean rule keeps medians of the quarter's acquisitions


def test_clean_rule_keeps_the_usual_median():
    times = [dt.datetime(2023, 1, 3), dt.datetime(2023, 1, 13)]
    values = np.stack([np.full((10, 1, 1), 1000, np.float32), np.full((10, 1, 1), 1200, np.float32)])
    out = composite(_cube(values, np.full((2, 1, 1), 4, np.float32), times), CompositeSpec(rule="clean")).compute()
    assert out["s2"].values[0, 0, 0, 0] == 1100


def test_composite_is_lazy(cube, no_compute):
    da = cube[0]
    out = composite(da)
    assert out["s2"].chunks is not None


def test_bad_spec():
    with pytest.raises(InputError, match="unknown cloud rule"):
        CompositeSpec(rule="fancy")
    with pytest.raises(InputError, match="periods"):
        CompositeSpec(periods=6)


def _eo_learn_2017():
    """Real eo-learn NDVI (t, y, x), its real cloud mask and dates: 36 irregular dates of 2017, 24 x 24 px."""
    with np.load(data_path("eo-learn_TestEOPatch", "ndvi_clm_2017_window.npz")) as z:
        return z["ndvi"], z["clm"], pd.to_datetime(z["times"])


def test_composite_on_real_ndvi_series():
    """Real eo-learn NDVI + real cloud mask: monthly nan-medians equal numpy."""
    ndvi, clm, times = _eo_learn_2017()
    assert ndvi.shape == clm.shape == (36, 24, 24) and 0.2 < clm.mean() < 0.8  # cloudy, not all cloud
    values = np.repeat(ndvi[:, None], 10, axis=1)
    scl = np.where(clm, 9, 4).astype(np.float32)
    da = _cube(values, scl, times).chunk({"y": 12, "x": 12})
    out = composite(da, CompositeSpec(rule="clean")).compute()["s2"].values[:, 0]
    month = times.month.values - 1
    ref = np.full((12,) + ndvi.shape[1:], np.nan, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: pixels cloudy all month
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


@pytest.mark.parametrize("n", [1, 2, 3, 6, 7, 16, 31, 64, 65, 73])
def test_lower_nanmedian_equals_torch_median_of_the_present_values(n):
    import torch

    from tsmap.composite import lower_nanmedian

    rng = np.random.default_rng(n)
    a = rng.integers(0, 50, size=(n, 3, 40)).astype(np.float32)  # many ties
    a[rng.random(a.shape) < 0.3] = np.nan
    a[:, 0, 0] = np.nan  # nothing present
    got = lower_nanmedian(a.copy())
    want = np.full(a.shape[1:], np.nan, np.float32)
    for i, j in np.ndindex(*a.shape[1:]):
        present = a[:, i, j][~np.isnan(a[:, i, j])]
        if present.size:
            want[i, j] = torch.median(torch.from_numpy(present)).item()
    np.testing.assert_array_equal(got, want)


def test_authors_rule_on_a_real_cloudy_series_equals_torch_median():
    """Real eo-learn NDVI dates and cloud mask (2017, irregular dates): the authors' composite and
    quarters equal the pixel-by-pixel torch.median reference."""
    ndvi, clm, times = _eo_learn_2017()
    ndvi, clm = ndvi[:, :12, :12], clm[:, :12, :12]  # the patch's pixels 40..51 in y and x
    values = np.repeat(1000 + 3000 * ndvi[:, None], 10, axis=1).astype(np.float32)
    scl = np.where(clm, 9, 4).astype(np.float32)
    month = times.month.values - 1
    da = _cube(values, scl, times).chunk({"y": 6, "x": 6})
    for periods in (12, 4):
        out = composite(da, CompositeSpec(rule="authors", periods=periods)).compute()["s2"].values
        np.testing.assert_array_equal(out, _authors_reference(values, scl, month, periods=periods))
