"""The cross-view objective: ground-view pooling, a queue of negatives and InfoNCE.

Both sides are L2-normalised. For a batch of satellite embeddings s (B, D) and pooled ground
embeddings g (B, D), the logits of sample i are ``[s_i . g_i, s_i . q_1, ..., s_i . q_K] * exp(t)``
(plus ``s_i . g_j`` for the other samples j of the batch with ``in_batch``), and the loss is the
cross-entropy with the positive as target. ``t`` is a learnable log-temperature, initialised to
log(1 / 0.07) and clamped to [0, ln 100]. The queue holds the K most recent pooled ground
embeddings (a ring buffer, random unit vectors at first); the trainer updates it after each
optimiser step, or after each micro-batch (``objective.enqueue``). Ground views are L2-normalised
each before pooling (tsmap) or pooled raw (``normalise_views=False``, the authors'); the pooled
vector is L2-normalised either way.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .augment import encode

POOLINGS = ("mean", "attention")
MAX_LOGIT_SCALE = math.log(100.0)


class GroundPool(nn.Module):
    """Pool (B, V, D) view embeddings with a (B, V) mask into (B, D): mean, or attention per view."""

    def __init__(self, dim: int, kind: str = "mean") -> None:
        super().__init__()
        if kind not in POOLINGS:
            raise ValueError(f"unknown ground pooling {kind!r}; choose one of {', '.join(POOLINGS)}")
        self.kind = kind
        self.score = nn.Linear(dim, 1, bias=False) if kind == "attention" else None

    def forward(self, views: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.score is None:
            weights = mask.to(views.dtype)
            weights = weights / weights.sum(dim=1, keepdim=True).clamp(min=1)
        else:
            logits = self.score(views).squeeze(-1).masked_fill(~mask, float("-inf"))
            weights = torch.softmax(logits, dim=1)
        return (weights[..., None] * views).sum(dim=1)


class NegativeQueue(nn.Module):
    """A ring buffer of K past ground embeddings (unit vectors), saved with the training state."""

    def __init__(self, size: int, dim: int, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        init = torch.randn(size, dim, generator=generator)
        self.register_buffer("items", F.normalize(init, dim=-1))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def push(self, g: torch.Tensor) -> None:
        size = self.items.shape[0]
        g = g.detach().to(self.items.dtype)[-size:]
        idx = (self.ptr + torch.arange(g.shape[0], device=g.device)) % size
        self.items[idx] = g
        self.ptr.copy_((self.ptr + g.shape[0]) % size)


class CrossViewObjective(nn.Module):
    """The satellite encoder plus everything the loss needs (pooling, temperature, queue)."""

    def __init__(self, encoder: nn.Module, *, ground_dim: int, pooling: str = "mean", queue_size: int = 2048,
                 in_batch: bool = False, normalise_views: bool = True, seed: int = 0) -> None:
        super().__init__()
        out_dim = encoder.config.out_dim
        if out_dim != ground_dim:
            raise ValueError(f"encoder out_dim ({out_dim}) must equal the ground embedding size ({ground_dim})")
        if queue_size < 1 and not in_batch:
            raise ValueError("need negatives: queue_size >= 1 or in_batch")
        self.encoder = encoder
        self.pool = GroundPool(ground_dim, pooling)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.queue = NegativeQueue(max(queue_size, 1), ground_dim, generator=torch.Generator().manual_seed(seed))
        self.use_queue = queue_size >= 1
        self.in_batch = in_batch
        self.normalise_views = normalise_views

    def embed_ground(self, views: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, V, D) views -> (B, D) unit vectors."""
        if self.normalise_views:
            views = F.normalize(views, dim=-1)
        return F.normalize(self.pool(views * mask[..., None], mask), dim=-1)

    def forward(self, x, valid, views, view_mask, single=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss (scalar) and the pooled ground embeddings (B, D) to enqueue.

        ``single`` (B,) bool: samples the encoder sees as one median token (:func:`augment.encode`).
        """
        s = F.normalize(encode(self.encoder, x, valid, single).float(), dim=-1)
        with torch.autocast(device_type=s.device.type, enabled=False):  # the loss in fp32 under AMP
            g = self.embed_ground(views.float(), view_mask)
            loss = info_nce(
                s, g, self.queue.items if self.use_queue else None, self.logit_scale, in_batch=self.in_batch
            )
        return loss, g

    @torch.no_grad()
    def clamp_temperature(self) -> None:
        self.logit_scale.clamp_(0.0, MAX_LOGIT_SCALE)


def info_nce(s: torch.Tensor, g: torch.Tensor, queue: torch.Tensor | None, logit_scale: torch.Tensor, *,
             in_batch: bool = False) -> torch.Tensor:
    """InfoNCE of unit vectors ``s``, ``g`` (B, D) against ``queue`` (K, D) negatives (and the batch's)."""
    scale = logit_scale.exp()
    parts = []
    if in_batch:
        parts.append(s @ g.T)  # positives on the diagonal
        target = torch.arange(s.shape[0], device=s.device)
    else:
        parts.append((s * g).sum(dim=-1, keepdim=True))
        target = torch.zeros(s.shape[0], dtype=torch.long, device=s.device)
    if queue is not None:
        parts.append(s @ queue.T)
    return F.cross_entropy(torch.cat(parts, dim=1) * scale, target)
