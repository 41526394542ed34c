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

Three switches give the authors' newest variants (``recipe: authors`` sets them): Random TSDrop
keeps 1..n-1 months, never all (``drop_at_least_one``); TSMsDrop draws the spectral mask for every
sample and gates only the temporal part (``spectral_gated: false``); TSMixAug's median branch takes
the lower median of the EMBEDDED steps as one token at the mean position row (``median: tokens``),
which the augmentation only marks (``single``) and :func:`encode` carries out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

AUGMENTATIONS = ("none", "tsdrop", "tsmixaug", "tsmsdrop")
MEDIANS = ("inputs", "tokens")


@dataclass(frozen=True)
class AugmentSpec:
    """Which augmentation and how often."""

    name: str = "tsdrop"  #: one of AUGMENTATIONS
    p: float = 0.5  #: per-sample probability of augmenting
    keep_all_bands: float = 0.3  #: TSMsDrop: probability of keeping every band
    always_bands: tuple[int, ...] = (0, 1, 2)  #: TSMsDrop: bands never dropped (B02, B03, B04)
    min_bands: int = 3  #: TSMsDrop: fewest bands kept
    drop_at_least_one: bool = False  #: Random TSDrop keeps 1..n-1 of n months (True) or 1..n (False)
    spectral_gated: bool = True  #: TSMsDrop's band mask only where the sample is gated (else on every sample)
    median: str = "inputs"  #: TSMixAug's median: of the "inputs" in every month, or of the embedded "tokens"

    def __post_init__(self) -> None:
        if self.name not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {self.name!r}; choose one of {', '.join(AUGMENTATIONS)}")
        if self.median not in MEDIANS:
            raise ValueError(f"augment.median {self.median!r} must be one of {', '.join(MEDIANS)}")
        if not 0 <= self.p <= 1 or not 0 <= self.keep_all_bands <= 1:
            raise ValueError(
                f"augment probabilities must be in [0, 1], got p={self.p}, keep_all_bands={self.keep_all_bands}"
            )
        if self.min_bands < len(self.always_bands):
            raise ValueError(f"min_bands ({self.min_bands}) must be >= the {len(self.always_bands)} always-kept bands")


class Augmented(NamedTuple):
    """An augmented batch: shapes as given."""

    x: torch.Tensor  #: (batch, time, bands, P, P), dropped bands zeroed
    valid: torch.Tensor  #: (batch, time) bool, dropped months masked
    band_keep: torch.Tensor  #: (batch, bands) bool
    single: torch.Tensor  #: (batch,) bool: encode as one median token (TSMixAug, ``median: tokens``)


def augment(x: torch.Tensor, valid: torch.Tensor, spec: AugmentSpec, generator: torch.Generator) -> Augmented:
    """Augment a batch; every draw comes from ``generator``."""
    batch, _, bands = x.shape[:3]
    band_keep = torch.ones(batch, bands, dtype=torch.bool, device=x.device)
    single = torch.zeros(batch, dtype=torch.bool, device=x.device)
    if spec.name == "none" or (spec.p == 0 and spec.spectral_gated):
        return Augmented(x, valid, band_keep, single)
    gate = _rand(batch, generator, x.device) < spec.p
    if spec.name == "tsdrop":
        valid = random_tsdrop(valid, gate, generator, drop_at_least_one=spec.drop_at_least_one)
    elif spec.name == "tsmixaug":
        x, valid, single = tsmix(x, valid, gate, generator, median=spec.median)
    else:
        spectral_gate = gate if spec.spectral_gated else torch.ones_like(gate)
        band_keep = spectral_keep(batch, bands, spectral_gate, spec, generator, x.device)
        x = x * band_keep[:, None, :, None, None].to(x.dtype)
        valid = random_tsdrop(valid, gate, generator, drop_at_least_one=spec.drop_at_least_one)
    return Augmented(x, valid, band_keep, single)


def random_tsdrop(valid: torch.Tensor, gate: torch.Tensor, generator: torch.Generator, *,
                  drop_at_least_one: bool = False) -> torch.Tensor:
    """Where ``gate``: keep k random months of the n valid ones, k ~ U{1..n} (U{1..n-1} with
    ``drop_at_least_one``; a sample with one month keeps it); elsewhere unchanged."""
    batch, steps = valid.shape
    scores = torch.where(
        valid, _rand((batch, steps), generator, valid.device), torch.full((), 2.0, device=valid.device)
    )
    rank = scores.argsort(dim=1).argsort(dim=1)
    n = valid.sum(dim=1)
    top = (n - 1).clamp(min=1) if drop_at_least_one else n  # the largest k
    k = torch.minimum((_rand(batch, generator, valid.device) * top).floor().long(), (top - 1).clamp(min=0)) + 1
    keep = valid & (rank < k[:, None])
    return torch.where(gate[:, None], keep, valid)


def tsmix(x: torch.Tensor, valid: torch.Tensor, gate: torch.Tensor, generator: torch.Generator, *,
          median: str = "inputs"):
    """Where ``gate``: 50/50 the temporal median, or three consecutive months dropped.

    Returns ``(x, valid, single)``. ``median="inputs"`` writes the sample's median input into every
    valid month; ``"tokens"`` leaves ``x`` alone and marks the sample in ``single`` (see :func:`encode`).
    """
    batch, steps = valid.shape
    use_median = gate & (_rand(batch, generator, x.device) < 0.5)
    use_drop = gate & ~use_median
    if median == "inputs":
        nan = torch.full((), float("nan"), dtype=x.dtype, device=x.device)
        med = torch.nanmedian(torch.where(valid[:, :, None, None, None], x, nan), dim=1).values  # (B, C, P, P)
        x = torch.where((use_median[:, None] & valid)[:, :, None, None, None], med[:, None], x)
        single = torch.zeros_like(use_median)
    else:
        single = use_median & valid.any(dim=1)
    start = (_rand(batch, generator, x.device) * (steps - 2)).floor().long()
    t = torch.arange(steps, device=x.device)
    window = (t[None] >= start[:, None]) & (t[None] < start[:, None] + 3)
    dropped = valid & ~window
    ok = use_drop & dropped.any(dim=1)
    return x, torch.where(ok[:, None], dropped, valid), single


def encode(encoder, x: torch.Tensor, valid: torch.Tensor, single: torch.Tensor | None = None) -> torch.Tensor:
    """The encoder's (batch, out_dim) output; samples marked ``single`` see one token instead of their months.

    That token is the lower median (``torch.median``'s) over the sample's valid EMBEDDED steps, at the
    mean of the position rows: the authors' TSMixAug median branch, their "single" representation.
    """
    if single is None or not bool(single.any()):
        return encoder(x, valid)
    x = x.reshape(*x.shape[:2], -1)
    x = torch.where(valid[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device))
    steps = encoder.spectral_embedding[1](x)  # (B, T, D), no positions
    rows = encoder.positions(steps.shape[1])
    nan = torch.full((), float("nan"), dtype=steps.dtype, device=steps.device)
    med = torch.nanmedian(torch.where(valid[..., None], steps, nan), dim=1).values  # lower median of the valid steps
    first = torch.arange(steps.shape[1], device=steps.device) == 0
    tokens = torch.where((single[:, None] & first)[..., None], (med + encoder.time_pos_encoding[0].mean(0))[:, None],
                         steps + rows)
    return encoder.encode_tokens(tokens, torch.where(single[:, None], first, valid))


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
