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
    spectral = cube.sel({BAND: list(SPECTRAL_NAMES)})
    scl = cube.sel({BAND: SCL.name})
    bad = scl.isin(list(spec.masked))
    if spec.rule == "authors":
        return spectral.where(~bad, 0.0).where(scl.notnull())
    return spectral.where(~bad & scl.notnull())


def composite(cube: xr.DataArray, spec: CompositeSpec = CompositeSpec()) -> xr.Dataset:
    """Cloud-masked median composites of ``cube`` (time, band, y, x) with bands B02..B12 and SCL, lazily.

    Returns a Dataset with ``s2`` (month, band, y, x) float32 — ``month`` indexes the ``spec.periods``
    periods of the calendar year — and ``valid_periods`` (y, x) uint8, the number of periods with at
    least one clear observation. One task per spatial chunk; it needs about twice the chunk's input.
    """
    order = [*SPECTRAL_NAMES, SCL.name]
    if list(cube[BAND].values) != order:  # a fancy index copies every block: only when needed
        cube = cube.sel({BAND: order})
    cube = cube.transpose(TIME, BAND, Y, X)
    if cube.chunks is not None:
        cube = cube.chunk({TIME: -1, BAND: -1})
    period = (cube[TIME].dt.month.values - 1) * spec.periods // 12
    kw = {"period": period, "n": spec.periods, "masked": spec.masked, "authors": spec.rule == "authors"}
    data = cube.data
    if cube.chunks is None:
        s2, counts = _composite_block(data, fill=spec.fills, **kw), _count_block(data, **kw)
    else:
        s2 = data.map_blocks(
            _composite_block, fill=spec.fills, **kw, dtype=np.float32,
            chunks=((spec.periods,), (len(SPECTRAL_NAMES),)) + data.chunks[2:],
        )  # fmt: skip
        counts = data.map_blocks(_count_block, **kw, dtype=np.uint8, drop_axis=[0, 1], chunks=data.chunks[2:])
    coords = {MONTH: np.arange(spec.periods), BAND: list(SPECTRAL_NAMES), Y: cube[Y], X: cube[X]}
    return xr.Dataset(
        {"s2": ((MONTH, BAND, Y, X), s2), "valid_periods": ((Y, X), counts)},
        coords=coords,
        attrs={k: v for k, v in cube.attrs.items() if k in ("crs", "transform", "epsg", "resolution")},
    )


def period_median(values: np.ndarray, period: np.ndarray, n: int) -> np.ndarray:
    """NaN-median of ``values`` (time, ...) within each of ``n`` periods -> (n, ...); NaN where a period is empty."""
    out = np.full((n,) + values.shape[1:], np.nan, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for p in range(n):
            sel = np.flatnonzero(period == p)
            if sel.size:
                out[p] = _nanmedian(values[sel])
    return out


def _nanmedian(a: np.ndarray) -> np.ndarray:
    import bottleneck

    return bottleneck.nanmedian(a, axis=0)


def _observations(block: np.ndarray, masked, authors: bool) -> np.ndarray:
    """(time, 11, y, x) -> (time, 10, y, x) spectral values under the rule: masked -> NaN or 0."""
    scl = block[:, -1]
    bad = np.isin(scl, masked)
    if authors:
        values = np.where(bad[:, None], np.float32(0), block[:, :-1])
        values[np.broadcast_to(np.isnan(scl)[:, None], values.shape)] = np.nan
        return values
    return np.where((bad | np.isnan(scl))[:, None], np.float32(np.nan), block[:, :-1])


def _composite_block(block, *, period, n, masked, authors, fill):
    values = _observations(block, masked, authors)
    out = period_median(values, period, n)
    if fill:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            year = _nanmedian(values)
        np.copyto(out, np.broadcast_to(year, out.shape), where=np.isnan(out))
    if authors:
        out += np.float32(1.0)
    return out


def _count_block(block, *, period, n, masked, authors):
    scl = block[:, -1]
    clear = ~np.isnan(scl) & ~np.isin(scl, masked)
    counts = np.zeros(block.shape[2:], dtype=np.uint8)
    for p in range(n):
        sel = period == p
        if sel.any():
            counts += clear[sel].any(axis=0)
    return counts
