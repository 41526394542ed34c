"""The preprocessing spec: everything that turns imagery into the numbers a checkpoint expects.

A checkpoint carries one of these, so the data layer takes it as a parameter instead of
hard-coding a rule. :data:`AUTHORS` is the spec of the published TimeSenCLIP weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .bands import SPECTRAL_NAMES
from .composite import CompositeSpec
from .errors import InputError

#: Sen4Map per-band low/high quantiles the authors normalise with (band order B02..B12).
SEN4MAP_LO = (67.0, 122.0, 93.27, 158.5, 160.77, 174.27, 162.27, 149.0, 84.5, 66.27)
SEN4MAP_HI = (2089.0, 2598.45, 3214.5, 3620.45, 4033.61, 4613.0, 4825.45, 4945.72, 5140.84, 4414.45)


@dataclass(frozen=True)
class Preprocessing:
    """How imagery becomes model input."""

    bands: tuple[str, ...] = SPECTRAL_NAMES  #: band order of the input
    harmonise_offset: bool = True  #: remove the +1000 DN offset of processing baseline >= 04.00
    composite: CompositeSpec = field(default_factory=lambda: CompositeSpec(rule="authors"))
    lo: tuple[float, ...] = SEN4MAP_LO  #: per-band subtrahend
    hi: tuple[float, ...] = SEN4MAP_HI  #: per-band divisor (the authors divide by hi, not hi - lo)

    def __post_init__(self) -> None:
        if tuple(self.bands) != SPECTRAL_NAMES:
            raise InputError(f"band order {self.bands} is not supported; tsmap models use {SPECTRAL_NAMES}")
        if len(self.lo) != len(self.bands) or len(self.hi) != len(self.bands):
            raise InputError(f"lo/hi need one value per band ({len(self.bands)}), got {len(self.lo)}/{len(self.hi)}")

    def normalise(self, x: np.ndarray) -> np.ndarray:
        """``clamp((x - lo) / (hi + 1e-6), 0, 1)`` with bands on the last axis; NaN stays NaN."""
        lo = np.asarray(self.lo, dtype=np.float32)
        hi = np.asarray(self.hi, dtype=np.float32)
        return np.clip((x - lo) / (hi + np.float32(1e-6)), 0.0, 1.0).astype(np.float32, copy=False)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessing":
        d = dict(d)
        d["composite"] = CompositeSpec(**d.get("composite", {}))
        for key in ("bands", "lo", "hi"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


#: The spec of the published TimeSenCLIP checkpoint.
AUTHORS = Preprocessing()
