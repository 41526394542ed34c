"""The preprocessing spec: everything that turns imagery into the numbers a checkpoint expects.

A checkpoint carries one of these, so the data layer takes it as a parameter instead of
hard-coding a rule. :data:`AUTHORS` is the spec of the published TimeSenCLIP weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import numpy as np

from .bands import SPECTRAL_NAMES
from .composite import CompositeSpec
from .errors import InputError

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
