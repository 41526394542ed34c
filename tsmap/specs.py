"""The preprocessing spec: everything that turns imagery into the numbers a checkpoint expects.

Plain frozen data types (:class:`CompositeSpec`, :class:`Preprocessing`) that import nothing heavy
(no xarray), so configs, checkpoints and the trainer can use them without the data layer.

A checkpoint carries one of these, so the data layer takes it as a parameter instead of
hard-coding a rule. :data:`AUTHORS` is the spec of the published TimeSenCLIP weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import numpy as np

from .bands import SPECTRAL_NAMES
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


#: Sen4Map per-band low/high quantiles the authors normalise with (band order B02..B12).
SEN4MAP_LO = (67.0, 122.0, 93.27, 158.5, 160.77, 174.27, 162.27, 149.0, 84.5, 66.27)
SEN4MAP_HI = (2089.0, 2598.45, 3214.5, 3620.45, 4033.61, 4613.0, 4825.45, 4945.72, 5140.84, 4414.45)
#: Temporal mode by number of composite periods.
TEMPORAL_MODES = {12: "monthly", 4: "quarterly", 1: "annual"}


@dataclass(frozen=True)
class Preprocessing:
    """How imagery becomes model input.

    The temporal mode is ``composite.periods`` (12 monthly, 4 quarterly, 1 annual); see
    :attr:`temporal`.
    """

    bands: tuple[str, ...] = SPECTRAL_NAMES  #: band order of the input
    harmonise_offset: bool = True  #: remove the +1000 DN offset of processing baseline >= 04.00
    composite: CompositeSpec = field(default_factory=lambda: CompositeSpec(rule="authors"))
    lo: tuple[float, ...] = SEN4MAP_LO  #: per-band subtrahend
    hi: tuple[float, ...] = SEN4MAP_HI  #: per-band divisor (the authors divide by hi, not hi - lo)
    patch: int = 1  #: spatial side P of the per-pixel neighbourhood the model reads

    def __post_init__(self) -> None:
        if tuple(self.bands) != SPECTRAL_NAMES:
            raise InputError(f"band order {self.bands} is not supported; tsmap models use {SPECTRAL_NAMES}")
        if len(self.lo) != len(self.bands) or len(self.hi) != len(self.bands):
            raise InputError(f"lo/hi need one value per band ({len(self.bands)}), got {len(self.lo)}/{len(self.hi)}")
        if not all(np.isfinite(self.lo)) or not all(h > 0 and np.isfinite(h) for h in self.hi):
            raise InputError(f"normalisation lo must be finite and hi finite and > 0, got lo={self.lo} hi={self.hi}")
        if not isinstance(self.patch, int) or isinstance(self.patch, bool) or self.patch < 1 or self.patch % 2 == 0:
            raise InputError(f"patch must be an odd integer >= 1 (1, 5, 9, ...), got {self.patch!r}")
        if not isinstance(self.composite, CompositeSpec):
            raise InputError(f"composite must be a CompositeSpec, got {type(self.composite).__name__}")

    @property
    def temporal(self) -> str:
        """``"monthly"``, ``"quarterly"`` or ``"annual"``."""
        return TEMPORAL_MODES[self.composite.periods]

    def normalise(self, x: np.ndarray, *, band_axis: int = -1) -> np.ndarray:
        """``clamp((x - lo) / (hi + 1e-6), 0, 1)`` with bands on ``band_axis``; NaN stays NaN."""
        shape = [1] * np.ndim(x)
        shape[band_axis] = len(self.bands)
        lo = np.asarray(self.lo, dtype=np.float32).reshape(shape)
        hi = np.asarray(self.hi, dtype=np.float32).reshape(shape)
        return np.clip((x - lo) / (hi + np.float32(1e-6)), 0.0, 1.0).astype(np.float32, copy=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["bands"], d["lo"], d["hi"] = list(self.bands), list(self.lo), list(self.hi)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessing":
        """The inverse of :meth:`to_dict`; unknown fields are an error, not silently dropped."""
        d = dict(d)
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise InputError(f"unknown preprocessing fields {unknown}; this spec needs a newer tsmap")
        try:
            d["composite"] = CompositeSpec(**d.get("composite", {}))
        except TypeError as exc:
            raise InputError(f"invalid composite spec {d.get('composite')!r}: {exc}") from None
        for key in ("bands", "lo", "hi"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


#: The spec of the published TimeSenCLIP checkpoint (1x1; use ``authors_spec(patch=5)`` for 5x5).
AUTHORS = Preprocessing()


def authors_spec(*, patch: int = 1, periods: int = 12) -> Preprocessing:
    """The authors' preprocessing for their P x P model and a temporal mode (12, 4 or 1 periods)."""
    return Preprocessing(composite=CompositeSpec(rule="authors", periods=periods), patch=patch)
