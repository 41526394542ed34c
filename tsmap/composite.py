"""Cloud masking from the scene classification layer (SCL) and per-period median composites.

Two masking rules exist:

* ``"clean"`` — NaN for SCL no-data (0), saturated (1), cloud shadow (3), cloud medium (8) and
  high (9) probability, cirrus (10); snow (11) too unless ``keep_snow``. Medians ignore NaN.
* ``"authors"`` — the rule the published TimeSenCLIP checkpoint was trained with: values where
  SCL >= 9 become 0 and take part in the median, a month without acquisitions takes the median
  of the whole year, and 1 is added to the composite.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import xarray as xr

from .bands import BAND, MONTH, SCL, SPECTRAL_NAMES, TIME
from .errors import InputError

#: SCL classes kept by the clean rule (dark area, vegetation, not vegetated, water, unclassified).
CLEAN_SCL = frozenset({2, 4, 5, 6, 7})
SNOW_SCL = 11
RULES = ("clean", "authors")


@dataclass(frozen=True)
class CompositeSpec:
    """How to turn a stack of acquisitions into the model's input time steps."""

    rule: str = "clean"  #: cloud rule, one of :data:`RULES`
    periods: int = 12  #: 12 monthly, 4 quarterly or 1 annual composites
    keep_snow: bool = False  #: clean rule: keep SCL 11 (snow/ice) as valid

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise InputError(f"unknown cloud rule {self.rule!r}; choose one of {', '.join(RULES)}")
        if self.periods not in (1, 4, 12):
            raise InputError(f"periods must be 12 (monthly), 4 (quarterly) or 1 (annual), got {self.periods}")


def mask_clouds(cube: xr.DataArray, spec: CompositeSpec = CompositeSpec()) -> xr.DataArray:
    """Spectral bands of ``cube`` (time, band, y, x) with cloudy observations masked, lazily."""
    spectral = cube.sel({BAND: list(SPECTRAL_NAMES)})
    scl = cube.sel({BAND: SCL.name})
    if spec.rule == "authors":
        return spectral.where(~(scl >= 9), 0.0).where(scl.notnull())
    valid = scl.isin(sorted(CLEAN_SCL | ({SNOW_SCL} if spec.keep_snow else set())))
    return spectral.where(valid)


def composite(cube: xr.DataArray, spec: CompositeSpec = CompositeSpec()) -> xr.Dataset:
    """Cloud-masked median composites of ``cube`` (time, band, y, x), lazily.

    Returns a Dataset with ``s2`` (month, band, y, x) float32 — ``month`` indexes the
    ``spec.periods`` periods of the year — and ``valid_periods`` (y, x), the number of periods with
    at least one clear observation. Missing periods stay NaN under the clean rule.
    """
    masked = mask_clouds(cube, spec)
    period = (masked[TIME].dt.month.values - 1) * spec.periods // 12
    kernel = _authors_kernel if spec.rule == "authors" else _median_kernel
    s2 = xr.apply_ufunc(
        kernel,
        masked,
        input_core_dims=[[TIME]],
        output_core_dims=[[MONTH]],
        kwargs={"period": period, "n": spec.periods},
        dask="parallelized",
        output_dtypes=[np.float32],
        dask_gufunc_kwargs={"output_sizes": {MONTH: spec.periods}},
    ).transpose(MONTH, BAND, ...)
    s2 = s2.assign_coords({MONTH: np.arange(spec.periods)})
    valid = masked.notnull().any(BAND)
    counted = xr.apply_ufunc(
        _count_kernel,
        valid,
        input_core_dims=[[TIME]],
        kwargs={"period": period, "n": spec.periods},
        dask="parallelized",
        output_dtypes=[np.uint8],
    )
    return xr.Dataset({"s2": s2, "valid_periods": counted})


def period_median(values: np.ndarray, period: np.ndarray, n: int) -> np.ndarray:
    """NaN-median of ``values`` (..., time) within each of ``n`` periods -> (..., n)."""
    out = np.full(values.shape[:-1] + (n,), np.nan, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for p in range(n):
            sel = period == p
            if sel.any():
                out[..., p] = _nanmedian(values[..., sel])
    return out


def _nanmedian(a: np.ndarray) -> np.ndarray:
    try:
        import bottleneck

        return bottleneck.nanmedian(a, axis=-1)
    except ImportError:  # pragma: no cover - bottleneck is a dependency
        return np.nanmedian(a, axis=-1)


def _median_kernel(values, *, period, n):
    return period_median(values, period, n)


def _authors_kernel(values, *, period, n):
    out = period_median(values, period, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        year = _nanmedian(values)
    missing = np.isnan(out)
    out[missing] = np.broadcast_to(year[..., None], out.shape)[missing]
    return out + np.float32(1.0)


def _count_kernel(valid, *, period, n):
    counts = np.zeros(valid.shape[:-1], dtype=np.uint8)
    for p in range(n):
        sel = period == p
        if sel.any():
            counts += valid[..., sel].any(axis=-1).astype(np.uint8)
    return counts
