"""The TimeSenCLIP satellite encoder: a small transformer over a pixel's time series.

Pure PyTorch: this module knows nothing of xarray, STAC or files. With the default
:class:`EncoderConfig` the module has exactly the layout (and state-dict keys) of the authors'
``TimeSenCLIPEncoder``, so their published weights load strictly. The prepended token keeps the name of
their older code, ``class_token``; tsmap's loaders also read their newest name, ``time_token``.

Two forwards share the same parameters:

* training mode, or eval mode with autograd on, runs the stock ``nn.TransformerEncoder``;
* eval mode under ``torch.no_grad``/``inference_mode`` runs a fast path that is the same function,
  re-associated: the first layer's QKV projection is folded into the spectral embedding (post-norm only), and
  the last layer computes only what the class token needs (its query against keys/values folded into per-head
  vectors).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}
#: oneDNN's fused linear (the op torch.compile uses on CPU); plain F.linear where this build lacks it.
_ONEDNN_LINEAR = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


@dataclass(frozen=True)
class EncoderConfig:
    """Shape of the encoder. Defaults are the published 1x1 TimeSenCLIP architecture (its loader also sets
    ``annual_position="first"``, as the authors' inference does)."""

    dim: int = 512  #: token width
    depth: int = 6  #: transformer layers
    heads: int = 8  #: attention heads
    mlp_dim: int = 256  #: feed-forward width
    activation: str = "relu"  #: feed-forward activation, "relu" (the authors' code) or "gelu"
    norm_first: bool = False  #: False = post-norm (the authors' stock layers), True = pre-norm
    patch: int = 1  #: spatial side P of the input patch
    months: int = 12  #: time steps T (position rows)
    bands: int = 10  #: spectral bands C
    out_dim: int = 512  #: embedding size (CLIP ViT-B/32: 512)
    dropout: float = 0.1  #: used in training only
    #: position row of a single (annual) time step: "first" = row 0 (the authors' three newest inference
    #: codes; set for their published weights) or "mean" of all rows (their oldest code, and the row their
    #: newest training gives TSMixAug's single median token; the default for other models)
    annual_position: str = "mean"

    def __post_init__(self) -> None:
        for name in ("dim", "depth", "heads", "mlp_dim", "patch", "months", "bands", "out_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"EncoderConfig.{name} must be an integer >= 1, got {value!r}")
        if self.dim % self.heads:
            raise ValueError(f"EncoderConfig.dim ({self.dim}) must be divisible by heads ({self.heads})")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"EncoderConfig.activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        if not isinstance(self.norm_first, bool):
            raise ValueError(f"EncoderConfig.norm_first must be True or False, got {self.norm_first!r}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"EncoderConfig.dropout must be in [0, 1), got {self.dropout!r}")
        if self.annual_position not in ("mean", "first"):
            raise ValueError(f"EncoderConfig.annual_position must be 'mean' or 'first', got {self.annual_position!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "EncoderConfig":
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown EncoderConfig fields {unknown}")
        return cls(**d)

    def flops_per_pixel(self, steps: int | None = None) -> dict[str, int]:
        """Multiply-add FLOP (x2) per pixel: ``standard`` forward and the ``fast`` eval path."""
        s = (steps or self.months) + 1
        d, f, h, cpp = self.dim, self.mlp_dim, self.heads, self.bands * self.patch**2
        embed = 2 * (s - 1) * cpp * d
        attn = 2 * 2 * s * s * d  # scores + weighted sum
        layer = 2 * s * (3 * d * d + d * d + 2 * d * f) + attn
        head = 2 * d * self.out_dim
        standard = embed + self.depth * layer + head
        folds = not self.norm_first and cpp < d
        first = layer - 2 * s * 3 * d * d + 2 * s * (cpp + s) * 3 * d if folds else layer
        last = 2 * (d * d + 2 * d * d + 2 * h * s * d + d * d + 2 * d * f)  # q, Wk/Wv folds, attend, out, ffn
        slots = 2 * s * (cpp + s) * d  # the fast path's embedding: inputs plus a one-hot slot column per row
        fast = slots + (first + (self.depth - 2) * layer + last if self.depth > 1 else last) + head
        return {"standard": standard, "fast": fast}


class TimeSenCLIPEncoder(nn.Module):
    """Encode (B, T, C, P, P) time series into (B, out_dim) embeddings (not normalised)."""

    def __init__(self, config: EncoderConfig = EncoderConfig()) -> None:
        super().__init__()
        self.config = c = config
        self.spectral_embedding = nn.Sequential(nn.Flatten(2), nn.Linear(c.bands * c.patch * c.patch, c.dim))
        self.time_pos_encoding = nn.Parameter(torch.zeros(1, c.months, c.dim))
        # the authors' newest code calls it time_token: loaders accept either name (checkpoint_format.canonical_token)
        self.class_token = nn.Parameter(torch.zeros(1, 1, c.dim))
        layer = nn.TransformerEncoderLayer(
            d_model=c.dim,
            nhead=c.heads,
            dim_feedforward=c.mlp_dim,
            dropout=c.dropout,
            activation=c.activation,
            norm_first=c.norm_first,
            batch_first=True,
        )
        self.transformer = nn.TransformerEncoder(layer, num_layers=c.depth, enable_nested_tensor=False)
        self.mlp_head = nn.Sequential(nn.LayerNorm(c.dim), nn.Linear(c.dim, c.out_dim))

    @property
    def folds_first_layer(self) -> bool:
        """Whether the fast path folds layer 0's QKV into the embedding (post-norm, inputs < dim: P <= 7)."""
        c = self.config
        return not c.norm_first and c.bands * c.patch**2 < c.dim

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
        NaN included); every present step keeps its own position row. Returns (batch, out_dim).
        """
        x = x.reshape(*x.shape[:2], -1)
        if x.shape[-1] != self.config.bands * self.config.patch**2:
            raise ValueError(
                f"input has {x.shape[-1]} values per time step, the encoder expects "
                f"{self.config.bands} bands x {self.config.patch}x{self.config.patch}"
            )
        if valid is None:
            valid = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        x = torch.where(valid[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device))
        if self.training or (torch.is_grad_enabled() and (x.requires_grad or self.class_token.requires_grad)):
            return self._forward_reference(x, valid)  # autograd: the stock layers
        return self._forward_fast(x, valid)

    def _forward_reference(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        return self.encode_tokens(self.spectral_embedding[1](x) + self.positions(x.shape[1]), valid)

    def encode_tokens(self, tokens: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(batch, steps, dim) embedded steps, positions added, and their (batch, steps) mask -> (batch, out_dim).

        The stock layers after the embedding: a hook for training, which may build its own tokens.
        """
        z = torch.cat([self.class_token.expand(tokens.shape[0], -1, -1).to(tokens.dtype), tokens], dim=1)
        pad = F.pad(~valid, (1, 0), value=False)
        z = self.transformer(z, src_key_padding_mask=pad)
        return self.mlp_head(z[:, 0])

    def _forward_fast(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        c, layers = self.config, self.transformer.layers
        batch, steps, inputs = x.shape
        # each row carries its slot as a one-hot: row 0 the class token, row t its position row, so
        # one matmul yields [cls, W_e x_t + pos_t + b_e] (and, folded, layer 0's QKV) with no cat or add
        rows = x.new_zeros(batch, steps + 1, inputs + steps + 1)
        rows[:, 1:, :inputs] = x
        rows[:, :, inputs:] = torch.eye(steps + 1, dtype=x.dtype, device=x.device)
        table = torch.cat([self.class_token[0], self.positions(steps) + self.spectral_embedding[1].bias]).to(x.dtype)
        z = _linear(rows, torch.cat([self.spectral_embedding[1].weight, table.T], dim=1))
        # additive key mask (batch, 1, 1, S): 0 where present, -inf where absent; always applied, so a
        # full pixel takes the same arithmetic whether or not other pixels miss months
        bias = torch.zeros(batch, 1, 1, steps + 1, dtype=x.dtype, device=x.device)
        bias[:, 0, 0, 1:].masked_fill_(~valid, float("-inf"))
        act = c.activation
        for i, layer in enumerate(layers):
            if i == len(layers) - 1:
                return self.mlp_head(_class_token_layer(layer, z, bias, c.heads, act, c.norm_first))
            qkv = None
            if i == 0 and self.folds_first_layer:  # QKV of W_e x + t is (W_in W_e) x + W_in t + b_in
                w_in, b_in = layer.self_attn.in_proj_weight, layer.self_attn.in_proj_bias
                qkv = _linear(
                    rows, torch.cat([w_in @ self.spectral_embedding[1].weight, F.linear(table, w_in, b_in).T], dim=1)
                )
            z = _layer(layer, z, bias, c.heads, act, c.norm_first, qkv)
        raise AssertionError("unreachable")  # pragma: no cover - depth >= 1


def _layer(layer, z, bias, heads, act, norm_first, qkv=None) -> torch.Tensor:
    """One stock TransformerEncoderLayer (eval) on z (B, S, D) with additive key mask ``bias``."""
    attn = layer.self_attn
    batch, s, d = z.shape
    h = layer.norm1(z) if norm_first else z
    if qkv is None:
        qkv = _linear(h, attn.in_proj_weight, attn.in_proj_bias)
    a = _attend(qkv, bias, heads)
    a = _linear(a, attn.out_proj.weight, attn.out_proj.bias)
    if norm_first:
        z = z + a
        return z + _ffn(layer, layer.norm2(z), act)
    z = layer.norm1(a.add_(z))
    return layer.norm2(_ffn(layer, z, act).add_(z))


def _attend(qkv: torch.Tensor, bias: torch.Tensor, heads: int) -> torch.Tensor:
    """Multi-head attention of packed qkv (B, S, 3D) with key bias (B, 1, 1, S) -> (B, S, D).

    Per head, batched matmuls read q, k, v in place (strided, no repacking copy). For 13 tokens
    this beats the fused CPU attention kernel, and the softmax runs along the outer axis of a
    (S_k, H, B, S_q) copy: along a 13-long last axis it is ~60x slower on CPU.
    """
    batch, s, d3 = qkv.shape
    d = d3 // 3
    dh = d // heads
    scores = torch.empty(heads, batch, s, s, dtype=qkv.dtype, device=qkv.device)
    bias = bias[:, 0].to(qkv.dtype)  # out= calls take no part in autocast: keep one dtype
    for h in range(heads):
        q, k = qkv[:, :, h * dh : (h + 1) * dh], qkv[:, :, d + h * dh : d + (h + 1) * dh]
        torch.baddbmm(bias, q, k.transpose(1, 2), alpha=dh**-0.5, out=scores[h])
    p = torch.softmax(scores.permute(3, 0, 1, 2).contiguous(), dim=0).to(qkv.dtype)  # (S_k, H, B, S_q)
    out = torch.empty(heads, batch, s, dh, dtype=qkv.dtype, device=qkv.device)
    for h in range(heads):
        torch.bmm(p[:, h].permute(1, 2, 0), qkv[:, :, 2 * d + h * dh : 2 * d + (h + 1) * dh], out=out[h])
    return out.permute(1, 2, 0, 3).reshape(batch, s, d)


def _ffn(layer, z, act: str) -> torch.Tensor:
    return _linear(_linear(z, layer.linear1.weight, layer.linear1.bias, act), layer.linear2.weight, layer.linear2.bias)


def _linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, act: str | None = None
) -> torch.Tensor:
    """``act(x @ weight.T + bias)``. On CPU through oneDNN, with bias and activation fused: the same
    maths in another summation order (up to 1.4e-4 from BLAS per linear, 1.2e-7 at the encoder output),
    1.15-1.21x BLAS's fp32 speed per linear on a 2-core AMD EPYC (1.07x for the whole encoder;
    tests/bench/bench_onednn_linear.py). Elsewhere (CUDA, autocast, other dtypes) plain ``F.linear``."""
    if (
        _ONEDNN_LINEAR
        and x.device.type == "cpu"
        and x.dtype == weight.dtype
        and x.dtype in (torch.float32, torch.bfloat16)
        and not torch.is_autocast_enabled("cpu")
    ):
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, act or "none", [], "none" if act == "gelu" else "")
    y = F.linear(x, weight, bias)
    return ACTIVATIONS[act](y) if act else y


def _class_token_layer(layer, z, bias, heads, act, norm_first) -> torch.Tensor:
    """The last layer's output for the class token only, (B, D).

    Its query meets the keys as (W_k^T q) . z_j (the q . b_k term is the same for every key and
    cancels in the softmax) and the values as W_v (sum_j p_j z_j) + b_v (the weights sum to 1), so no
    key or value is ever computed.
    """
    attn = layer.self_attn
    batch, s, d = z.shape
    dh = d // heads
    src = layer.norm1(z) if norm_first else z
    w_q, w_k, w_v = attn.in_proj_weight.view(3, heads, dh, d)
    b_q, _, b_v = attn.in_proj_bias.view(3, heads, dh)
    q = _linear(src[:, 0], w_q.reshape(d, d), b_q.reshape(d)) * dh**-0.5  # (B, D)
    u = torch.bmm(q.view(batch, heads, dh).transpose(0, 1), w_k).transpose(0, 1)  # (B, H, D)
    p = torch.softmax(torch.baddbmm(bias[:, 0], u, src.transpose(1, 2)), dim=-1)  # (B, H, S)
    ctx = torch.bmm(p, src).transpose(0, 1)  # (H, B, D)
    o = torch.baddbmm(b_v[:, None, :], ctx, w_v.transpose(1, 2)).transpose(0, 1).reshape(batch, d)
    y = z[:, 0] + _linear(o, attn.out_proj.weight, attn.out_proj.bias)
    if norm_first:
        return y + _ffn(layer, layer.norm2(y), act)
    y = layer.norm1(y)
    return layer.norm2(y + _ffn(layer, y, act))


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
