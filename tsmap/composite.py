"""Cloud masking from the scene classification layer (SCL) and per-period median composites.

Two masking rules exist, each with a configurable set of masked SCL classes:

* ``"clean"`` — masked observations become NaN and are left out of the median. Default classes:
  no data (0), saturated/defective (1), cloud shadow (3), cloud medium (8) and high (9) probability,
  cirrus (10), and snow/ice (11) unless ``keep_snow``. Missing periods stay NaN.
* ``"authors"`` — the rule the published TimeSenCLIP checkpoint was trained with: masked
  observations (SCL >= 9: 9, 10, 11) become 0 *and take part in the median*, a period without
  acquisitions takes the median of the whole year, and 1 is added to the composite.

``fill="year-median"`` (the authors' fill) can be chosen with either rule. ``valid_periods`` always
counts the periods with at least one observation that is not masked (clear).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import xarray as xr

from .bands import BAND, MONTH, SCL, SPECTRAL_NAMES, TIME, Y, X
from .errors import InputError

#: Scene classification layer classes (Sen2Cor).
SCL_CLASSES = {
    0: "no data", 1: "saturated or defective", 2: "dark area", 3: "cloud shadow", 4: "vegetation",
    5: "not vegetated", 6: "water", 7: "unclassified", 8: "cloud medium probability",
    9: "cloud high probability", 10: "thin cirrus", 11: "snow or ice",
}  # fmt: skip
SNOW_SCL = 11
#: Default masked classes of each rule.
RULE_MASKS = {"clean": (0, 1, 3, 8, 9, 10, 11), "authors": (9, 10, 11)}
RULES = tuple(RULE_MASKS)
FILLS = ("none", "year-median")
#: SCL classes kept by the default clean rule (dark area, vegetation, not vegetated, water, unclassified).
CLEAN_SCL = frozenset(SCL_CLASSES) - frozenset(RULE_MASKS["clean"])


@dataclass(frozen=True)
class CompositeSpec:
    """How to turn a stack of acquisitions into the model's input time steps."""

    rule: str = "clean"  #: cloud rule, one of :data:`RULES`
    periods: int = 12  #: 12 monthly, 4 quarterly or 1 annual composites
    keep_snow: bool = False  #: treat SCL 11 (snow/ice) as clear even if the rule masks it
    mask_classes: tuple[int, ...] | None = None  #: SCL classes to mask; None = the rule's default
    fill: str | None = None  #: "none" or "year-median" for empty periods; None = the rule's default

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise InputError(f"unknown cloud rule {self.rule!r}; choose one of {', '.join(RULES)}")
        if self.periods not in (1, 4, 12):
            raise InputError(f"periods must be 12 (monthly), 4 (quarterly) or 1 (annual), got {self.periods}")
        if self.fill is not None and self.fill not in FILLS:
            raise InputError(f"unknown fill {self.fill!r}; choose one of {', '.join(FILLS)}")
        if self.mask_classes is not None:
            classes = tuple(sorted({int(c) for c in self.mask_classes}))
            if not set(classes) <= set(SCL_CLASSES):
                raise InputError(f"mask classes {list(self.mask_classes)} must be SCL classes 0..11")
            object.__setattr__(self, "mask_classes", classes)

    @property
    def masked(self) -> tuple[int, ...]:
        """The SCL classes this spec masks."""
        classes = set(RULE_MASKS[self.rule] if self.mask_classes is None else self.mask_classes)
        return tuple(sorted(classes - ({SNOW_SCL} if self.keep_snow else set())))

    @property
    def fills(self) -> bool:
        """Whether empty periods take the median of the whole year."""
        return (self.fill or ("year-median" if self.rule == "authors" else "none")) == "year-median"


def mask_clouds(cube: xr.DataArray, spec: CompositeSpec = CompositeSpec()) -> xr.DataArray:
    """Spectral bands of ``cube`` (time, band, y, x) with masked observations NaN (clean) or 0 (authors), lazily."""
    cube = _ordered(cube)
    kw = {"authors": spec.rule == "authors", "masked": spec.masked}
    data = cube.data
    if cube.chunks is None:
        values = _observations(data, **kw)
    else:
        values = data.map_blocks(_observations, **kw, dtype=np.float32, chunks=(data.chunks[0], (len(SPECTRAL_NAMES),)) + data.chunks[2:])
    return xr.DataArray(values, dims=cube.dims, coords={**cube.coords, BAND: list(SPECTRAL_NAMES)}, attrs=cube.attrs)


def composite(cube: xr.DataArray, spec: CompositeSpec = CompositeSpec()) -> xr.Dataset:
    """Cloud-masked median composites of ``cube`` (time, band, y, x) with bands B02..B12 and SCL, lazily.

    Returns a Dataset with ``s2`` (month, band, y, x) float32 — ``month`` indexes the ``spec.periods``
    periods of the calendar year — and ``valid_periods`` (y, x) uint8, the number of periods with at
    least one clear observation. One task per spatial chunk; it needs about twice the chunk's input.
    """
    cube = _ordered(cube)
    period = (cube[TIME].dt.month.values - 1) * spec.periods // 12
    kw = {"period": period, "n": spec.periods, "masked": spec.masked, "authors": spec.rule == "authors", "fill": spec.fills}
    n_planes = spec.periods * len(SPECTRAL_NAMES)
    data = cube.data
    if cube.chunks is None:
        planes = _composite_block(data, **kw)
    else:  # one output per input chunk: dask fuses read -> composite, so the read block dies inside the task
        planes = data.map_blocks(_composite_block, **kw, dtype=np.float32, drop_axis=[0], chunks=((n_planes + 1,),) + data.chunks[2:])
    s2 = planes[:n_planes].reshape((spec.periods, len(SPECTRAL_NAMES)) + planes.shape[1:])
    counts = planes[n_planes].astype(np.uint8)
    coords = {MONTH: np.arange(spec.periods), BAND: list(SPECTRAL_NAMES), Y: cube[Y], X: cube[X]}
    return xr.Dataset(
        {"s2": ((MONTH, BAND, Y, X), s2), "valid_periods": ((Y, X), counts)},
        coords=coords,
        attrs={k: v for k, v in cube.attrs.items() if k in ("crs", "transform", "epsg", "resolution")},
    )


def _ordered(cube: xr.DataArray) -> xr.DataArray:
    """(time, band, y, x) with bands B02..B12, SCL and time and band whole in each chunk."""
    order = [*SPECTRAL_NAMES, SCL.name]
    if list(cube[BAND].values) != order:  # a fancy index copies every block: only when needed
        cube = cube.sel({BAND: order})
    cube = cube.transpose(TIME, BAND, Y, X)
    return cube.chunk({TIME: -1, BAND: -1}) if cube.chunks is not None else cube


def _nanmedian(a: np.ndarray) -> np.ndarray:
    import bottleneck

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return bottleneck.nanmedian(a, axis=0)


def _observations(block: np.ndarray, authors: bool, masked) -> np.ndarray:
    """(time, 11, y, x) -> (time, 10, y, x) spectral values under the rule: not clear -> NaN, or 0 (authors)."""
    scl = block[:, -1:]
    if authors:  # masked classes take part as 0; no data (SCL NaN) stays out
        values = np.where(np.isin(scl, masked), np.float32(0), block[:, :-1])
        values[np.broadcast_to(np.isnan(scl), values.shape)] = np.nan
        return values
    return np.where(np.isin(scl, masked) | np.isnan(scl), np.float32(np.nan), block[:, :-1])


def _composite_block(block, *, period, n, masked, authors, fill):
    """(time, 11, y, x) -> (n * 10 + 1, y, x): the n x 10 composite planes, then the clear-period count.

    Works period by period, so besides the block it holds only one period's observations (and,
    with ``fill``, one year's worth once).
    """
    out = np.full((n, block.shape[1] - 1) + block.shape[2:], np.nan, dtype=np.float32)
    counts = np.zeros((1,) + block.shape[2:], dtype=np.float32)
    for p in range(n):
        sel = np.flatnonzero(period == p)
        if sel.size:
            part = block[sel]
            out[p] = _nanmedian(_observations(part, authors, masked))
            scl = part[:, -1]
            counts[0] += (~np.isnan(scl) & ~np.isin(scl, masked)).any(axis=0)
    if fill and np.isnan(out).any():
        year = _nanmedian(_observations(block, authors, masked))
        np.copyto(out, np.broadcast_to(year, out.shape), where=np.isnan(out))
    if authors:
        out += np.float32(1.0)
    result = np.concatenate([out.reshape((-1,) + block.shape[2:]), counts])
    del out, counts
    release_freed_memory()
    return result


def release_freed_memory() -> None:
    """Hand memory that was freed back to the OS (glibc keeps it otherwise, and RSS grows with the AOI).

    Reading and compositing chunk after chunk frees blocks of many sizes; glibc's allocator keeps the
    holes, so without this peak RSS grew ~0.5 GB from 1x to 4x area in tests/bench/bench_composite.py.
    dask.distributed trims its workers the same way. A no-op where glibc is absent.
    """
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _glibc():
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:  # pragma: no cover - not glibc (macOS, Windows, musl)
        return None


_LIBC = _glibc()
