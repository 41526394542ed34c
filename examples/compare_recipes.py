"""Train one synthetic data set with each recipe, tsmap's default and ``recipe: authors``, and compare.

    python examples/compare_recipes.py [--augment tsmixaug] [--epochs 30] [--batch 256] [--per-class 400]
                                       [--model small|authors] [--lr 1e-4] [--device auto] [--recipes tsmap,authors]

Prints one JSON line per recipe: zero-shot top-1 on the held-out test split (monthly input, and the
single input: the median of the 12 normalised months as one step), scored against the class anchors
the synthetic ground views scatter around; the first and last loss; samples/s; and whether a run
stopped halfway and resumed reproduces the uninterrupted run's losses exactly. Both recipes see the
same samples for the same number of epochs (the authors' accumulates 8 micro-batches per step).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

from tsmap.synthetic import CLASSES
from tsmap_train.config import config_from_dict
from tsmap_train.export import load_model
from tsmap_train.synthetic import CrossViewSpec, make_crossview
from tsmap_train.trainer import prepare_inputs, preprocessing_of, train

MODELS = {
    "small": {"dim": 64, "depth": 2, "heads": 4, "mlp_dim": 128},
    "authors": {},  # the published 1x1 layout, 8.2 M parameters
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--augment", default="tsmixaug")
    p.add_argument("--epochs", type=float, default=30)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--per-class", type=int, default=400)
    p.add_argument("--model", default="small", choices=sorted(MODELS))
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--device", default="auto")
    p.add_argument("--recipes", default="tsmap,authors")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    anchors = F.normalize(torch.from_numpy(np.random.default_rng(0).normal(size=(6, 512))), dim=-1).numpy()
    data = make_crossview(anchors, CrossViewSpec(per_class=args.per_class, seed=1))
    train_set, test_set = data.select_split("train"), data.select_split("test")
    for recipe in args.recipes.split(","):
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            cfg = _config(recipe, args, tmp)
            full = train(cfg, samples=train_set)
            half = train(_config(recipe, args, tmp + "/part"), samples=train_set, stop_after=full.total_steps // 2)
            resumed = train(_config(recipe, args, tmp + "/part"), samples=train_set, resume=True)
            top1 = _zero_shot(full.model, test_set, anchors)
        print(
            json.dumps(
                {
                    "recipe": recipe,
                    "augment": args.augment,
                    "model": args.model,
                    "epochs": args.epochs,
                    "steps": full.total_steps,
                    "device": _device_name(cfg.run.device),
                    "seconds": round(time.perf_counter() - t0, 1),
                    "top1_monthly": top1["monthly"],
                    "top1_single": top1["single"],
                    "loss_first": round(full.losses[0], 4),
                    "loss_last": round(full.losses[-1], 4),
                    "samples_per_s": round(full.samples_per_s),
                    "n_train": len(train_set),
                    "n_test": len(test_set),
                    "resume_exact": half.step == full.total_steps // 2 and resumed.losses == full.losses,
                }
            ),
            flush=True,
        )


def _device_name(device: str) -> str:
    if device in ("auto", "cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return "cpu" if device == "auto" else device


def _config(recipe: str, args, out: str):
    return config_from_dict(
        {
            "recipe": recipe,
            "data": {"store": "synthetic"},
            "model": MODELS[args.model],
            "augment": {"name": args.augment},
            "optim": {"lr": args.lr, "batch_size": args.batch, "epochs": args.epochs},
            "run": {
                "out": out,
                "checkpoint_every": 0,
                "log_every": 1000,
                "device": args.device,
                "threads": args.threads,
            },
        }
    )


def _zero_shot(model_path: str, samples, anchors: np.ndarray) -> dict[str, float]:
    """Top-1 of the test pixels against the class anchors (the text embeddings of the demo's classes)."""
    model, _ = load_model(model_path)
    inputs = prepare_inputs(samples, preprocessing_of(samples))
    x = inputs["x"].reshape(len(samples), 12, -1)  # the centre pixel's P x P patch, flattened per month
    single = torch.nanmedian(torch.where(inputs["valid"][..., None], x, float("nan")), dim=1, keepdim=True).values
    rows = {CLASSES[c]: i for i, c in enumerate(CrossViewSpec().classes)}  # land-cover index -> anchor row
    labels = torch.tensor([rows[int(lc)] for lc in samples.labels["lc"]])
    text = torch.from_numpy(anchors).float()
    out = {}
    with torch.inference_mode():
        for name, (xs, valid) in {"monthly": (x, inputs["valid"]), "single": (single, None)}.items():
            emb = F.normalize(model(xs, valid), dim=-1)
            out[name] = round(float(((emb @ text.T).argmax(dim=1) == labels).float().mean()), 4)
    return out


if __name__ == "__main__":
    main()
