"""``tsmap bench``: encoder throughput against the same run's matmul roofline and CLIP's image tower.

Per precision (fp32, bf16) it measures, in interleaved rounds so that all numbers of a round share
the machine's state (other jobs, clocks):

* the matmul roofline: GFLOP/s of one large square matmul in that dtype, the faster of
  ``torch.mm`` (BLAS) and oneDNN's linear on the CPU;
* the encoder: pixels/s of :class:`~tsmap.encode.PixelEncoder` (preprocessing included) on random
  12-month pixels with the authors' model size (random weights), and the GFLOP/s that makes with
  the FLOPs the fast path executes;
* open_clip's ViT-B-32 image encoder (random weights) on 224x224 images, samples/s.

Each figure is the best of its rounds (noise on a shared machine only ever slows a run down);
every round's values are kept in the result.
"""

from __future__ import annotations

import copy
import logging
import os
import platform
import threading
import time
from contextlib import nullcontext

import numpy as np
import torch

from .encode import PixelEncoder, bf16_supported
from .errors import InputError
from .model import _ONEDNN_LINEAR, EncoderConfig, build_encoder

#: Targets from the project's issue: fraction of the roofline, and speed-up over ViT-B-32 per sample.
TARGETS = {"fraction_of_roofline": 0.60, "speedup_vs_vit_b32": 50.0}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def run_bench(
    *,
    device: str | None = None,
    precisions: tuple[str, ...] = ("fp32", "bf16"),
    batch: int | None = None,
    pixels: int | None = None,
    rounds: int = 3,
    seconds: float = 0.5,
    workers: int = 1,
    vit: bool = True,
) -> dict:
    """Measure and return the figures as a JSON-ready dict (see the module docstring).

    ``pixels`` per encoder call (default 4 batches), ``seconds``: least time per measurement.
    ``workers`` > 1 (CPU): that many concurrent single-threaded callers, as Dask runs the encoder,
    for the encoder and ViT alike; the roofline is then the better of one all-thread matmul and
    ``workers`` concurrent single-threaded ones.
    """
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if rounds < 1:
        raise InputError(f"rounds must be >= 1, got {rounds}")
    if workers < 1 or (workers > 1 and dev.type != "cpu"):
        raise InputError(f"workers must be >= 1, and > 1 only on the CPU; got {workers} on {dev.type}")
    if not precisions:
        raise InputError("--precision names no precision; give fp32, bf16 or fp32,bf16")
    for p in precisions:
        if p not in DTYPES:
            raise InputError(f"unknown precision {p!r}; choose from {', '.join(DTYPES)}")
    precisions = tuple(p for p in precisions if p == "fp32" or bf16_supported(dev))
    config = EncoderConfig()
    model = build_encoder(config, seed=0)
    encoders = {p: PixelEncoder(model, device=str(dev), precision=p, batch_size=batch) for p in precisions}
    n_px = pixels or (4 * encoders[precisions[0]].batch_size if dev.type == "cpu" else 1 << 18)
    block = np.random.default_rng(0).uniform(50, 5000, size=(n_px, config.months, config.bands)).astype(np.float32)
    vits = _vit_models(dev, precisions) if vit else {}
    images = torch.rand(8 if dev.type == "cpu" else 256, 3, 224, 224, device=dev)
    size = 2048 if dev.type == "cpu" else 8192

    trials: dict[str, dict[str, list[float]]] = {
        p: {"roofline_gflops": [], "encoder_px_s": [], "vit_img_s": []} for p in precisions
    }
    for _ in range(rounds):
        for p in precisions:
            t = trials[p]
            t["roofline_gflops"].append(_matmul_gflops(dev, DTYPES[p], size, seconds, workers))
            t["encoder_px_s"].append(_rate(lambda: encoders[p](block), n_px, dev, seconds, workers))
            if vit:
                t["vit_img_s"].append(_rate(lambda: vits[p](images), images.shape[0], dev, seconds, workers))

    flops = config.flops_per_pixel(config.months)
    result = {
        "device": _describe(dev),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "workers": workers,
        "allocator": _allocator(),
        "model": "TimeSenCLIP encoder, authors' size (d512, 6 layers, FFN 256, 1x1), random weights, 12 months",
        "flop_per_pixel": {"executed": flops["fast"], "standard_forward": flops["standard"]},
        "vit_b32_flop_per_image": _vit_flops() if vit else None,
        "pixels_per_call": n_px,
        "vit_batch": int(images.shape[0]),
        "rounds": rounds,
        "method": "best of interleaved rounds; every round in 'trials'",
        "targets": TARGETS,
    }
    for p in precisions:
        best = {k: max(v) for k, v in trials[p].items() if v}
        px = best["encoder_px_s"]
        row = {
            "batch": encoders[p].batch_size,
            "roofline_gflops": round(best["roofline_gflops"], 1),
            "encoder_px_s": round(px, 1),
            "encoder_gflops": round(px * flops["fast"] / 1e9, 1),
            "fraction_of_roofline": round(px * flops["fast"] / 1e9 / best["roofline_gflops"], 3),
            "fraction_of_roofline_standard_flops": round(px * flops["standard"] / 1e9 / best["roofline_gflops"], 3),
        }
        if vit:
            row["vit_b32_img_s"] = round(best["vit_img_s"], 2)
            row["speedup_vs_vit_b32"] = round(px / best["vit_img_s"], 1)
        row["trials"] = {k: [round(x, 2) for x in v] for k, v in trials[p].items() if v}
        result[p] = row
    return result


def format_report(result: dict) -> str:
    """A short human-readable table of :func:`run_bench`'s result."""
    lines = [
        f"device {result['device']}, torch {result['torch']}, {result['threads']} threads, {result['workers']} "
        f"worker(s), {result['allocator']} malloc",
        f"encoder FLOP/pixel executed {result['flop_per_pixel']['executed'] / 1e6:.1f} M (standard forward "
        f"{result['flop_per_pixel']['standard_forward'] / 1e6:.1f} M)",
    ]
    for p in DTYPES:
        if p not in result:
            continue
        r = result[p]
        line = (
            f"{p}: encoder {r['encoder_px_s']:,.0f} px/s = {r['encoder_gflops']:.0f} GFLOP/s, roofline "
            f"{r['roofline_gflops']:.0f} GFLOP/s, "
            f"fraction {r['fraction_of_roofline']:.2f} (target {TARGETS['fraction_of_roofline']:.2f})"
        )
        if "speedup_vs_vit_b32" in r:
            target = TARGETS["speedup_vs_vit_b32"]
            speedup = r["speedup_vs_vit_b32"]
            line += f"; ViT-B-32 {r['vit_b32_img_s']:.1f} img/s, speed-up {speedup:.0f}x (target {target:.0f}x)"
        lines.append(line)
    return "\n".join(lines)


def _timed(fn, device: torch.device, min_seconds: float) -> float:
    """Seconds per call of ``fn``: one warm-up, then repeated calls for at least ``min_seconds``."""
    fn()
    _sync(device)
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        _sync(device)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return elapsed / calls


def _rate(fn, items: int, device: torch.device, seconds: float, workers: int) -> float:
    """Items per second of ``fn``: one caller using all threads, or ``workers`` single-threaded callers."""
    if workers == 1:
        return items / _timed(fn, device, seconds)
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fn()
        calls = [0] * workers
        start = time.perf_counter()

        def loop(i: int) -> None:
            while time.perf_counter() - start < seconds:
                fn()
                calls[i] += 1

        threads = [threading.Thread(target=loop, args=(i,)) for i in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return items * sum(calls) / (time.perf_counter() - start)
    finally:
        torch.set_num_threads(saved)


@torch.inference_mode()
def _matmul_gflops(device: torch.device, dtype: torch.dtype, n: int, seconds: float, workers: int = 1) -> float:
    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, generator=g).to(dtype)
    b = torch.randn(n, n, device=device, generator=g).to(dtype)
    kernels = [lambda: torch.mm(a, b)]
    if device.type == "cpu" and _ONEDNN_LINEAR:  # oneDNN beat BLAS by 1.15x here (bench_onednn_linear.py)
        kernels.append(lambda: torch.ops.mkldnn._linear_pointwise(a, b, None, "none", [], ""))
    modes = (1, workers) if workers > 1 else (1,)
    return max(_rate(k, 2 * n**3, device, seconds, w) for k in kernels for w in modes) / 1e9


def _vit_models(device: torch.device, precisions) -> dict:
    visual = _vit_visual().to(device)
    out = {}
    for p in precisions:
        if device.type == "cpu":
            m = copy.deepcopy(visual).to(DTYPES[p])
            out[p] = _runner(m, DTYPES[p], None)
        else:
            out[p] = _runner(visual, torch.float32, torch.bfloat16 if p == "bf16" else None)
    return out


def _runner(module, dtype, autocast):
    @torch.inference_mode()
    def run(images):
        ctx = torch.autocast("cuda", dtype=autocast) if autocast else nullcontext()
        with ctx:
            return module(images.to(dtype))

    return run


def _vit_flops() -> int:
    """FLOP of one 224x224 image (counted in training mode: the fused inference attention is not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    visual = _vit_visual().train()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        visual(torch.rand(1, 3, 224, 224))
    return int(counter.get_total_flops())


def _vit_visual() -> torch.nn.Module:
    """open_clip's ViT-B-32 image tower with seeded random weights (timing only)."""
    import open_clip

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)  # open_clip warns that no pretrained weights are loaded: that is the point
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return open_clip.create_model("ViT-B-32", pretrained=None).visual.eval()
    finally:
        logging.disable(previous)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), name)
    except OSError:
        pass
    return f"cpu: {name}, {os.cpu_count()} cores, native bf16: {bf16_supported(device)}"


def _allocator() -> str:
    try:
        with open("/proc/self/maps") as f:
            maps = f.read()
    except OSError:
        return "unknown"
    return "tcmalloc" if "tcmalloc" in maps else "jemalloc" if "jemalloc" in maps else "system"
