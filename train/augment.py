"""The paper's temporal/spectral augmentations, per sample and shape-preserving.

All functions take normalised inputs ``x`` (batch, time, bands, P, P) and ``valid`` (batch, time)
bool, and return tensors of exactly the same shapes: a dropped month is masked in ``valid`` (the
encoder leaves it out of attention), a dropped band is zeroed. Each sample is gated on its own with
probability ``p`` (the authors gate the whole batch, and their band dropout changes the input
width, which crashes the fixed-size spectral embedding). A sample always keeps at least one month.

- ``tsdrop`` (Random TSDrop): keep k ~ U{1..n} of the sample's n valid months.
- ``tsmixaug`` (TSMixAug): 50/50 either every valid month becomes the sample's temporal median
  (the annual-composite view; the mask is unchanged), or three consecutive months are dropped.
- ``tsmsdrop`` (TSMsDrop): spectral dropout (all bands kept with probability 0.3, else k ~ U{3..10}
  bands, always B02, B03, B04) plus Random TSDrop.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

AUGMENTATIONS = ("none", "tsdrop", "tsmixaug", "tsmsdrop")


@dataclass(frozen=True)
class AugmentSpec:
    """Which augmentation and how often."""

    name: str = "tsdrop"  #: one of AUGMENTATIONS
    p: float = 0.5  #: per-sample probability of augmenting
    keep_all_bands: float = 0.3  #: TSMsDrop: probability of keeping every band
    always_bands: tuple[int, ...] = (0, 1, 2)  #: TSMsDrop: bands never dropped (B02, B03, B04)
    min_bands: int = 3  #: TSMsDrop: fewest bands kept

    def __post_init__(self) -> None:
        if self.name not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {self.name!r}; choose one of {', '.join(AUGMENTATIONS)}")
        if not 0 <= self.p <= 1 or not 0 <= self.keep_all_bands <= 1:
            raise ValueError(f"augment probabilities must be in [0, 1], got p={self.p}, keep_all_bands={self.keep_all_bands}")
        if self.min_bands < len(self.always_bands):
            raise ValueError(f"min_bands ({self.min_bands}) must be >= the {len(self.always_bands)} always-kept bands")


def augment(x: torch.Tensor, valid: torch.Tensor, spec: AugmentSpec, generator: torch.Generator):
    """Augment a batch; returns ``(x, valid, band_keep)`` with band_keep (batch, bands) bool."""
    batch, _, bands = x.shape[:3]
    band_keep = torch.ones(batch, bands, dtype=torch.bool, device=x.device)
    if spec.name == "none" or spec.p == 0:
        return x, valid, band_keep
    gate = _rand(batch, generator, x.device) < spec.p
    if spec.name == "tsdrop":
        valid = random_tsdrop(valid, gate, generator)
    elif spec.name == "tsmixaug":
        x, valid = tsmix(x, valid, gate, generator)
    else:
        band_keep = spectral_keep(batch, bands, gate, spec, generator, x.device)
        x = x * band_keep[:, None, :, None, None].to(x.dtype)
        valid = random_tsdrop(valid, gate, generator)
    return x, valid, band_keep


def random_tsdrop(valid: torch.Tensor, gate: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Where ``gate``: keep k ~ U{1..n} random months of the n valid ones; elsewhere unchanged."""
    batch, steps = valid.shape
    scores = torch.where(valid, _rand((batch, steps), generator, valid.device), torch.full((), 2.0, device=valid.device))
    rank = scores.argsort(dim=1).argsort(dim=1)
    n = valid.sum(dim=1)
    k = (_rand(batch, generator, valid.device) * n).floor().long().clamp(max=steps - 1) + 1
    keep = valid & (rank < k[:, None])
    return torch.where(gate[:, None], keep, valid)


def tsmix(x: torch.Tensor, valid: torch.Tensor, gate: torch.Tensor, generator: torch.Generator):
    """Where ``gate``: 50/50 temporal median in every valid month, or three consecutive months dropped."""
    batch, steps = valid.shape
    use_median = gate & (_rand(batch, generator, x.device) < 0.5)
    use_drop = gate & ~use_median
    nan = torch.full((), float("nan"), dtype=x.dtype, device=x.device)
    median = torch.nanmedian(torch.where(valid[:, :, None, None, None], x, nan), dim=1).values  # (B, C, P, P)
    x = torch.where((use_median[:, None] & valid)[:, :, None, None, None], median[:, None], x)
    start = (_rand(batch, generator, x.device) * (steps - 2)).floor().long()
    t = torch.arange(steps, device=x.device)
    window = (t[None] >= start[:, None]) & (t[None] < start[:, None] + 3)
    dropped = valid & ~window
    ok = use_drop & dropped.any(dim=1)
    return x, torch.where(ok[:, None], dropped, valid)


def spectral_keep(batch: int, bands: int, gate: torch.Tensor, spec: AugmentSpec, generator, device) -> torch.Tensor:
    """(batch, bands) bool: bands each sample keeps under TSMsDrop's spectral dropout."""
    always = torch.zeros(bands, dtype=torch.bool, device=device)
    always[list(spec.always_bands)] = True
    k = spec.min_bands + (_rand(batch, generator, device) * (bands - spec.min_bands + 1)).floor().long()
    scores = torch.where(always, torch.full((), -1.0, device=device), _rand((batch, bands), generator, device))
    rank = scores.argsort(dim=1).argsort(dim=1)
    keep = rank < k[:, None]
    all_bands = _rand(batch, generator, device) < spec.keep_all_bands
    return torch.where((gate & ~all_bands)[:, None], keep, torch.ones_like(keep))


def _rand(shape, generator: torch.Generator, device) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=generator.device).to(device)
