"""Training throughput (samples/s) of tsmap_train on this machine, end to end through ``train()``.

    python examples/bench_train.py [--steps 20] [--threads 1,2] [--amp off,on] [--models small,demo,authors]

Runs a few optimiser steps per setting on synthetic cross-view data (batch 256, queue 2048,
Random TSDrop) and prints one JSON line per setting; the first step (warm-up) is not timed.
Settings run one after another in one process, so their ratios are comparable even on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile

import numpy as np
import torch

from tsmap.model import EncoderConfig
from tsmap_train.config import DataConfig, ObjectiveConfig, OptimConfig, RunConfig, TrainConfig
from tsmap_train.demo import DEMO_MODEL
from tsmap_train.synthetic import CrossViewSpec, make_crossview
from tsmap_train.trainer import train

MODELS = {
    "small": EncoderConfig(dim=64, depth=2, heads=4, mlp_dim=128),
    "demo": DEMO_MODEL,
    "authors": EncoderConfig(dropout=0.2),  # the published 1x1 layout, 8.2 M parameters
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--amp", default="off,on")
    p.add_argument("--models", default="small,demo,authors")
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    anchors = np.random.default_rng(0).normal(size=(6, 512))
    samples = make_crossview(anchors, CrossViewSpec(per_class=max(200, args.batch))).select_split("train")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            for amp in args.amp.split(","):
                for threads in (int(t) for t in args.threads.split(",")):
                    cfg = TrainConfig(
                        data=DataConfig(store="synthetic"),
                        model=MODELS[name],
                        objective=ObjectiveConfig(queue_size=2048),
                        optim=OptimConfig(lr=1e-4, batch_size=args.batch, steps=args.steps),
                        run=RunConfig(
                            out=os.path.join(tmp, f"{name}-{amp}-{threads}"),
                            checkpoint_every=0,
                            device=args.device,
                            amp=amp,
                            threads=threads,
                        ),
                    )
                    result = train(cfg, samples=samples)
                    print(json.dumps({
                        "model": name, "params": _params(cfg.model),
                        "amp": amp, "threads": threads, "batch": args.batch, "steps": args.steps,
                        "samples_per_s": round(result.samples_per_s, 1), "device": _device(args.device),
                        "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
                    }), flush=True)


def _params(config: EncoderConfig) -> int:
    from tsmap.model import build_encoder

    return sum(p.numel() for p in build_encoder(config).parameters())


def _device(name: str) -> str:
    if name == "auto":
        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return name


if __name__ == "__main__":
    main()
