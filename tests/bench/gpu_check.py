"""GPU checks for a session that is lent a CUDA machine: one prepared run, figures for the README.

    PYTHONPATH=$PWD python tests/bench/gpu_check.py --out gpu-check [--quick] [--device cuda]

Sections (each timed, each in the JSON written to ``OUT/gpu_check.json``; a table is printed last):

* ``parity``   -- the encoder's fast eval path on the device (fp32, bf16 autocast) against a float64
  reference forward on the CPU (stock ``nn.TransformerEncoder``), on random 12-month pixels with
  random missing months: worst cosine and relative error.
* ``encoder``  -- pixels/s of :class:`tsmap.PixelEncoder` by batch size and precision.
* ``pipeline`` -- ``tsmap.embed_area`` on a synthetic scene with the encoder on the device, tiles sharing
  batches (default on CUDA) vs not, against encoder-only px/s on the same pixels; embeddings compared
  with a CPU fp32 run of the same scene (cosine).
* ``train``    -- training samples/s (fp32 vs bf16 AMP) for the demo and the authors' model size, and a
  short run whose loss must fall.

``--quick --device cpu`` runs every section at toy sizes here, to check the script before a GPU lease.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import numpy as np
import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="gpu-check")
    p.add_argument("--device", default="cuda")
    p.add_argument("--quick", action="store_true", help="toy sizes (to test the script on a CPU)")
    p.add_argument("--sections", default="parity,encoder,pipeline,train")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    result = {"env": _env(args.device)}
    print(json.dumps(result["env"]), flush=True)
    for name in args.sections.split(","):
        t0 = time.perf_counter()
        try:
            result[name] = SECTIONS[name](args.device, args.quick)
        except Exception as exc:  # one broken section must not cost the others (the lease is short)
            import traceback

            traceback.print_exc()
            result[name] = {"error": f"{type(exc).__name__}: {exc}"}
        result[name]["seconds"] = round(time.perf_counter() - t0, 1)
        print(f"== {name}: {json.dumps(result[name])}", flush=True)
        with open(os.path.join(args.out, "gpu_check.json"), "w") as f:
            json.dump(result, f, indent=1)
    _table(result)


def _env(device: str) -> dict:
    dev = torch.device(device)
    env = {"torch": torch.__version__, "python": platform.python_version(), "device": str(dev), "cpus": os.cpu_count()}
    if dev.type == "cuda":
        env.update(
            gpu=torch.cuda.get_device_name(dev),
            capability=".".join(map(str, torch.cuda.get_device_capability(dev))),
            tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
        )
    return env


def _pixels(n: int, seed: int, months: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Plausible DN time series (n, months, 10) with ~20 % of months missing (NaN); and the mask."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(200, 4000, size=(n, 1, 10))
    x = (base * rng.normal(1.0, 0.15, size=(n, months, 10))).astype(np.float32)
    missing = rng.random((n, months)) < 0.2
    missing[:, 0] = False  # every pixel keeps at least one month
    x[missing] = np.nan
    return x, ~missing


def parity(device: str, quick: bool) -> dict:
    from tsmap import PixelEncoder, build_encoder

    model = build_encoder(seed=0)
    x, valid = _pixels(512 if quick else 8192, seed=1)
    enc64 = PixelEncoder(model, device="cpu", precision="fp32")
    inputs = torch.from_numpy(np.nan_to_num(enc64.preprocessing.normalise(x)))
    with torch.no_grad():
        ref = model.double()._forward_reference(inputs.double(), torch.from_numpy(valid)).numpy()
    model.float()
    out = {}
    for precision in ("fp32", "bf16"):
        emb = PixelEncoder(model, device=device, precision=precision)(x)
        cos = np.sum(emb * ref, -1) / np.linalg.norm(ref, axis=-1)
        rel = np.linalg.norm(emb - ref / np.linalg.norm(ref, axis=-1, keepdims=True)) / np.sqrt(len(ref))
        out[precision] = {"min_cosine": float(cos.min()), "mean_cosine": float(cos.mean()), "rel_error": float(rel)}
    return out


def encoder(device: str, quick: bool) -> dict:
    from tsmap import PixelEncoder, build_encoder

    model = build_encoder(seed=0)
    n = 1 << (11 if quick else 20)
    x, _ = _pixels(n, seed=2)
    out = {}
    for precision in ("fp32", "bf16"):
        for batch in ((512, 1024) if quick else (4096, 16384, 65536, 262144)):
            enc = PixelEncoder(model, device=device, precision=precision, batch_size=batch)
            enc(x[: 2 * batch])  # warm-up: kernels, allocator
            best = min(_timed(lambda: enc(x), device) for _ in range(2))
            out[f"{precision}_b{batch}_px_s"] = round(n / best)
    return out


def pipeline(device: str, quick: bool) -> dict:
    import tsmap
    from tsmap.synthetic import make_scene

    size, tile, workers = (64, 32, 2) if quick else (384, 128, 8)
    with tempfile.TemporaryDirectory() as tmp:
        scene = make_scene(os.path.join(tmp, "scene"), size=size)
        query = tsmap.Query.for_year(scene.grid.lonlat_bbox(), scene.year)
        runs, stores = {}, {}
        for name, spec in (
            ("shared", tsmap.EncoderSpec(device=device, share_batches=True)),
            ("per_tile", tsmap.EncoderSpec(device=device, share_batches=False)),
            ("cpu_fp32", tsmap.EncoderSpec(device="cpu", precision="fp32")),
        ):
            path = os.path.join(tmp, f"{name}.zarr")
            t0 = time.perf_counter()
            tsmap.embed_area(out=path, query=query, grid=scene.grid, stac=scene.catalog, encoder=spec, tile=tile,
                             workers=os.cpu_count() if name == "cpu_fp32" else workers, progress=False)
            runs[name] = time.perf_counter() - t0
            stores[name] = tsmap.open_embeddings(path)["embedding"].values.astype(np.float32)
        pixels = size * size
        enc = tsmap.EncoderSpec(device=device).load()
        x, _ = _pixels(pixels, seed=3)
        enc(x[:4096])
        encoder_only = pixels / min(_timed(lambda: enc(x), device) for _ in range(2))
    ref = stores["cpu_fp32"]
    out = {"pixels": pixels, "tile": tile, "workers": workers, "encoder_only_px_s": round(encoder_only)}
    for name in ("shared", "per_tile", "cpu_fp32"):
        out[f"{name}_px_s"] = round(pixels / runs[name])
    for name in ("shared", "per_tile"):
        cos = np.nansum(stores[name] * ref, axis=0)
        ok = np.isfinite(ref).all(axis=0)
        out[f"{name}_min_cosine_vs_cpu"] = float(cos[ok].min())
    out["shared_over_per_tile"] = round(out["shared_px_s"] / out["per_tile_px_s"], 2)
    out["shared_over_encoder_only"] = round(out["shared_px_s"] / encoder_only, 3)
    return out


def train(device: str, quick: bool) -> dict:
    from tsmap.model import EncoderConfig
    from tsmap_train.config import DataConfig, ObjectiveConfig, OptimConfig, RunConfig, TrainConfig
    from tsmap_train.demo import DEMO_MODEL
    from tsmap_train.synthetic import CrossViewSpec, make_crossview
    from tsmap_train.trainer import train as run_train

    anchors = np.random.default_rng(0).normal(size=(6, 512))
    batch = 128 if quick else 1024
    samples = make_crossview(anchors, CrossViewSpec(per_class=max(200, batch))).select_split("train")
    models = {"demo": DEMO_MODEL, "authors": EncoderConfig(dropout=0.2)}
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in models.items():
            for amp in ("off", "on"):
                steps = 4 if quick else 30
                cfg = TrainConfig(
                    data=DataConfig(store="synthetic"), model=model, objective=ObjectiveConfig(queue_size=2048),
                    optim=OptimConfig(lr=1e-4, batch_size=batch, steps=steps),
                    run=RunConfig(out=os.path.join(tmp, f"{name}-{amp}"), checkpoint_every=0, device=device, amp=amp),
                )
                out[f"{name}_amp_{amp}_samples_s"] = round(run_train(cfg, samples=samples).samples_per_s, 1)
        steps = 10 if quick else 300
        cfg = TrainConfig(
            data=DataConfig(store="synthetic"), model=models["authors"], objective=ObjectiveConfig(queue_size=2048),
            optim=OptimConfig(lr=3e-4, batch_size=batch, steps=steps, warmup_steps=steps // 10),
            run=RunConfig(out=os.path.join(tmp, "long"), checkpoint_every=0, device=device, amp="auto", log_every=50),
        )
        t0 = time.perf_counter()
        res = run_train(cfg, samples=samples)
        out["long_steps"], out["long_seconds"] = steps, round(time.perf_counter() - t0, 1)
        out["long_loss_first10"] = round(float(np.mean(res.losses[:10])), 3)
        out["long_loss_last10"] = round(float(np.mean(res.losses[-10:])), 3)
    return out


def _timed(fn, device: str) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def _table(result: dict) -> None:
    print("\n== gpu check summary ==")
    for section, figures in result.items():
        if section == "env":
            continue
        for key, value in _flat(figures):
            print(f"{section:9s} {key:40s} {value}")


def _flat(d: dict, prefix: str = ""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _flat(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


SECTIONS = {"parity": parity, "encoder": encoder, "pipeline": pipeline, "train": train}

if __name__ == "__main__":
    main()
