"""The TimeSenCLIP satellite encoder: a small transformer over a pixel's time series.

Pure PyTorch: this module knows nothing of xarray, STAC or files. With the default
:class:`EncoderConfig` the module has exactly the layout (and state-dict keys) of the authors'
``TimeSenCLIPEncoder``, so their published weights load strictly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class EncoderConfig:
    """Shape of the encoder. Defaults are the published 1x1 TimeSenCLIP model."""

    dim: int = 512  #: token width
    depth: int = 6  #: transformer layers
    heads: int = 8  #: attention heads
    mlp_dim: int = 256  #: feed-forward width
    patch: int = 1  #: spatial side P of the input patch
    months: int = 12  #: time steps T (position rows)
    bands: int = 10  #: spectral bands C
    out_dim: int = 512  #: embedding size (CLIP ViT-B/32: 512)
    dropout: float = 0.1  #: used in training only
    annual_position: str = "mean"  #: position row for a single time step: "mean" of all rows or "first"

    def __post_init__(self) -> None:
        for name in ("dim", "depth", "heads", "mlp_dim", "patch", "months", "bands", "out_dim"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"EncoderConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.dim % self.heads:
            raise ValueError(f"EncoderConfig.dim ({self.dim}) must be divisible by heads ({self.heads})")
        if self.annual_position not in ("mean", "first"):
            raise ValueError(f"EncoderConfig.annual_position must be 'mean' or 'first', got {self.annual_position!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class TimeSenCLIPEncoder(nn.Module):
    """Encode (B, T, C, P, P) time series into (B, out_dim) embeddings (not normalised)."""

    def __init__(self, config: EncoderConfig = EncoderConfig()) -> None:
        super().__init__()
        self.config = config
        c = config
        self.spectral_embedding = nn.Sequential(nn.Flatten(2), nn.Linear(c.bands * c.patch * c.patch, c.dim))
        self.time_pos_encoding = nn.Parameter(torch.zeros(1, c.months, c.dim))
        self.class_token = nn.Parameter(torch.zeros(1, 1, c.dim))
        layer = nn.TransformerEncoderLayer(
            d_model=c.dim, nhead=c.heads, dim_feedforward=c.mlp_dim, dropout=c.dropout, batch_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, num_layers=c.depth, enable_nested_tensor=False)
        self.mlp_head = nn.Sequential(nn.LayerNorm(c.dim), nn.Linear(c.dim, c.out_dim))

    def positions(self, steps: int) -> torch.Tensor:
        """Position rows (steps, dim) for ``steps`` time steps: 12 monthly, 4 quarterly, 1 annual."""
        rows = self.time_pos_encoding[0]
        months = self.config.months
        if steps == months:
            return rows
        if steps == 4 and months == 12:
            return rows.reshape(4, 3, -1).median(dim=1).values
        if steps == 1:
            return rows.mean(0, keepdim=True) if self.config.annual_position == "mean" else rows[:1]
        raise ValueError(f"cannot place {steps} time steps on {months} position rows; use {months}, 4 or 1")

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """x: (batch, time, bands, P, P) or (batch, time, bands); valid: (batch, time) bool or None.

        Time steps where ``valid`` is False are masked out of attention (their values are ignored,
        NaN included). Returns (batch, out_dim).
        """
        if x.dim() == 3:
            x = x[..., None, None]
        batch, steps = x.shape[:2]
        if valid is not None:
            x = torch.where(valid[:, :, None, None, None], x, torch.zeros((), dtype=x.dtype, device=x.device))
        tokens = self.spectral_embedding(x) + self.positions(steps)
        z = torch.cat([self.class_token.expand(batch, -1, -1).to(tokens.dtype), tokens], dim=1)
        pad = None
        if valid is not None:
            pad = torch.cat([torch.zeros(batch, 1, dtype=torch.bool, device=x.device), ~valid], dim=1)
        z = self.transformer(z, src_key_padding_mask=pad)
        return self.mlp_head(z[:, 0])


def build_encoder(config: EncoderConfig = EncoderConfig(), *, seed: int | None = 0) -> TimeSenCLIPEncoder:
    """A randomly initialised encoder in eval mode (seeded, so runs are reproducible)."""
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = TimeSenCLIPEncoder(config)
            # the authors zero-initialise these; random rows make a random model less degenerate
            nn.init.normal_(model.time_pos_encoding, std=0.02)
            nn.init.normal_(model.class_token, std=0.02)
    else:
        model = TimeSenCLIPEncoder(config)
    return model.eval()
