"""Benchmark: oneDNN's fused linear against the default BLAS (``F.linear``) in fp32 on the CPU.

tsmap's encoder runs its linears through ``torch.ops.mkldnn._linear_pointwise`` where the build has it
(``tsmap.model._linear``). This measures, in interleaved rounds (best round reported):

* GFLOP/s of each linear of the authors' encoder (d512, FFN 256) on a batch of pixels' tokens, and of
  the 2048 x 2048 matmul ``tsmap bench`` uses as its roofline, through BLAS and through oneDNN;
* the encoder's pixels/s at the authors' size (random weights, 12 months) with oneDNN on and off.

    PYTHONPATH=$PWD python tests/bench/bench_onednn_linear.py [--threads N] [--rounds 3] [--json out.json]

Not a test: it reports ratios (oneDNN / BLAS) from one run; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from functools import partial


def _rate(fn, work: float, seconds: float) -> float:
    """Work units per second of ``fn`` over about ``seconds`` (after one warm-up call)."""
    fn()
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or calls < 3:
        fn()
        calls += 1
    return work * calls / elapsed


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def run(rounds: int, seconds: float, pixels: int) -> dict:
    import numpy as np
    import torch
    import torch.nn.functional as F

    import tsmap.model as model_module
    from tsmap.encode import PixelEncoder
    from tsmap.model import EncoderConfig, build_encoder

    if not model_module._ONEDNN_LINEAR:
        raise SystemExit("this torch build has no oneDNN linear (torch.ops.mkldnn._linear_pointwise)")
    g = torch.Generator().manual_seed(0)
    tokens = pixels * 13  # 12 months + the class token
    shapes = {"qkv 512->1536": (tokens, 512, 1536), "out 512->512": (tokens, 512, 512),
              "ffn 512->256": (tokens, 512, 256), "ffn 256->512": (tokens, 256, 512),
              "square 2048 (roofline)": (2048, 2048, 2048)}  # fmt: skip
    kernels = {}
    for name, (m, k, n) in shapes.items():
        x, w, b = (torch.randn(*s, generator=g) for s in ((m, k), (n, k), (n,)))
        blas = partial(F.linear, x, w, b)
        onednn = partial(torch.ops.mkldnn._linear_pointwise, x, w, b, "none", [], "")
        diff = (blas() - onednn()).abs().max().item()
        kernels[name] = (blas, onednn, 2 * m * k * n, diff)

    block = np.random.default_rng(0).uniform(50, 5000, (pixels, 12, 10)).astype(np.float32)
    encoder = PixelEncoder(build_encoder(EncoderConfig(), seed=0), device="cpu", precision="fp32", batch_size=pixels)

    def encode(onednn: bool):
        model_module._ONEDNN_LINEAR = onednn
        try:
            return encoder(block)
        finally:
            model_module._ONEDNN_LINEAR = True

    best: dict[tuple[str, str], float] = {}
    for _ in range(rounds):
        for name, (blas, onednn, flop, _) in kernels.items():
            for path, fn in (("blas", blas), ("onednn", onednn)):
                best[name, path] = max(best.get((name, path), 0.0), _rate(fn, flop / 1e9, seconds))
        for path, flag in (("blas", False), ("onednn", True)):
            rate = _rate(lambda flag=flag: encode(flag), pixels, seconds)
            best["encoder", path] = max(best.get(("encoder", path), 0.0), rate)

    rows = {}
    for name, (*_, diff) in kernels.items():
        blas, onednn = best[name, "blas"], best[name, "onednn"]
        rows[name] = {
            "blas_gflops": round(blas, 1),
            "onednn_gflops": round(onednn, 1),
            "ratio": round(onednn / blas, 2),
            "max_abs_diff": diff,
        }
    blas, onednn = best["encoder", "blas"], best["encoder", "onednn"]
    out_diff = float(np.nanmax(np.abs(encode(False) - encode(True))))
    rows["encoder px/s"] = {"blas": round(blas), "onednn": round(onednn), "ratio": round(onednn / blas, 2),
                            "max_abs_diff": out_diff}
    return {"cpu": _cpu_name(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "pixels": pixels, "rounds": rounds, "results": rows}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=1.0, help="time per kernel per round")
    p.add_argument("--pixels", type=int, default=1024, help="pixels per encoder call (tokens = 13 x pixels)")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    report = run(args.rounds, args.seconds, args.pixels)
    print(f"{report['cpu']}, torch {report['torch']}, {report['threads']} threads, {args.pixels} px per call")
    for name, r in report["results"].items():
        print(f"  {name:24s} " + ", ".join(f"{k} {v}" for k, v in r.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
