"""The trainer behind ``tsmap demo``: a small encoder trained for about a minute on synthetic
cross-view data of the demo classes, so the demo maps its scene with a model that has learned.

tsmap finds :func:`train_demo_model` through the entry-point group ``tsmap.demo_trainer``.
"""

from __future__ import annotations

import logging
import os

from tsmap.model import EncoderConfig
from tsmap.text_model import DEFAULT_MODEL

from .augment import AugmentSpec
from .config import DataConfig, ObjectiveConfig, OptimConfig, RunConfig, TextConfig, TrainConfig
from .synthetic import CrossViewSpec, demo_anchors, make_crossview
from .trainer import train

log = logging.getLogger("tsmap.train")

#: The demo encoder: the authors' layout at an eighth of the width (64 of 512; depth, heads and feed-forward as
#: published), so it loads with any tsmap loader.
DEMO_MODEL = EncoderConfig(dim=64, depth=6, heads=8, mlp_dim=256, dropout=0.1)


def demo_config(out: str, *, seconds: float = 180.0, steps: int = 400, clip_model: str = DEFAULT_MODEL,
                clip_pretrained: str = "none", seed: int = 0, amp: str = "auto") -> TrainConfig:
    """The demo's training config: ``steps`` optimiser steps of 256 samples (about a minute on two idle
    cores), cut short after ``seconds`` on a slow or busy machine."""
    return TrainConfig(
        data=DataConfig(store="synthetic", split="train", patch=1),
        model=DEMO_MODEL,
        objective=ObjectiveConfig(pooling="mean", queue_size=1024),
        augment=AugmentSpec(name="tsdrop", p=0.5),
        optim=OptimConfig(lr=1e-3, weight_decay=0.01, batch_size=256, steps=steps, warmup_steps=25),
        # one thread: as fast as two for this small model on an idle CPU, and 5-8x faster on a busy one
        run=RunConfig(out=out, seed=seed, checkpoint_every=0, log_every=50, max_seconds=seconds, threads=1,
                      amp=amp),
        text=TextConfig(clip_model=clip_model, clip_pretrained=clip_pretrained),
    )


def train_demo_model(out_dir: str, *, clip_model: str = DEFAULT_MODEL, clip_pretrained: str = "none",
                     seconds: float = 180.0, steps: int = 400, seed: int = 0, progress: bool = True) -> str:
    """Train the demo encoder into ``out_dir`` and return the path of its checkpoint (with a progress bar)."""
    os.makedirs(out_dir, exist_ok=True)
    anchors = demo_anchors(clip_model=clip_model, clip_pretrained=clip_pretrained)
    samples = make_crossview(anchors, CrossViewSpec(per_class=1500, seed=seed))
    cfg = demo_config(
        out_dir, seconds=seconds, steps=steps, clip_model=clip_model, clip_pretrained=clip_pretrained, seed=seed
    )
    result = train(cfg, samples=samples.select_split("train"), progress=progress)
    log.info("demo encoder: %d steps on %d synthetic samples, %.0f samples/s, final loss %.3f",
                result.step, len(samples), result.samples_per_s, result.losses[-1])
    return result.model
