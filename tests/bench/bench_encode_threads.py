"""Do embeddings depend on torch's intra-op thread count, and what does encode_tile's fixed split cost?

    PYTHONPATH=$PWD python tests/bench/bench_encode_threads.py [--pixels 2048] [--tile 128]

Encodes the same random composites (30 % of months missing) with the authors' model size (random
weights) at 1, 2, 4 ... cores torch threads, fp32 and bf16 where the CPU has it, and reports how many
pixels differ from the 1-thread result. Then one tile through :func:`tsmap.tasks.encode_tile` (fixed
pieces, single-threaded calls on the process's encoder threads) against one call on all threads and
a sequential single-threaded pass: seconds, and whether the bytes are the same.
"""

from __future__ import annotations

import argparse
import json
import os
import time


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pixels", type=int, default=2048)
    p.add_argument("--tile", type=int, default=128)
    args = p.parse_args(argv)

    import numpy as np
    import torch

    from tsmap.encode import PixelEncoder, bf16_supported
    from tsmap.model import EncoderConfig, build_encoder
    from tsmap.specs import AUTHORS
    from tsmap.tasks import ENCODE_PIECE, _cores, encode_tile

    cores = os.cpu_count() or 1
    rng = np.random.default_rng(0)
    x = rng.uniform(100, 5000, (args.pixels, 12, 10)).astype(np.float32)
    x[rng.random((args.pixels, 12)) < 0.3] = np.nan
    model = build_encoder(EncoderConfig(), seed=0)
    result = {"cores": cores, "torch": torch.__version__}
    threads = sorted({1, 2, 4, cores})
    for precision in ["fp32"] + (["bf16"] if bf16_supported(torch.device("cpu")) else []):
        enc, ref, rows = PixelEncoder(model, AUTHORS, device="cpu", precision=precision), None, {}
        for t in threads:
            torch.set_num_threads(t)
            start = time.perf_counter()
            e = enc(x)
            seconds = time.perf_counter() - start
            ref = e if ref is None else ref
            rows[t] = {"s": round(seconds, 2), "pixels_differing_from_1_thread": int((e != ref).any(-1).sum())}
        result[precision] = rows

    s = args.tile
    tile = rng.uniform(100, 5000, (s, s, 12, 10)).astype(np.float32)
    tile[rng.random((s, s, 12)) < 0.3] = np.nan
    enc = PixelEncoder(model, AUTHORS, device="cpu", precision="fp32")
    encode_tile(enc, tile[:8, :8])  # start the encoder threads
    torch.set_num_threads(cores)
    start = time.perf_counter()
    pooled = encode_tile(enc, tile)
    pool_s = time.perf_counter() - start
    start = time.perf_counter()
    whole = enc(tile.reshape(-1, 12, 10)).reshape(s, s, -1)
    whole_s = time.perf_counter() - start
    torch.set_num_threads(1)
    flat = tile.reshape(-1, 12, 10)
    start = time.perf_counter()
    sequential = np.concatenate([enc(flat[i : i + ENCODE_PIECE]) for i in range(0, len(flat), ENCODE_PIECE)]).reshape(
        s, s, -1
    )
    seq_s = time.perf_counter() - start
    result["encode_tile"] = {
        "encoder_threads": _cores(), "tile_px": s * s, "encode_tile_s": round(pool_s, 2),
        f"one_call_{cores}_threads_s": round(whole_s, 2), "sequential_1_thread_s": round(seq_s, 2),
        "encode_tile_equals_sequential_1_thread": bool(np.array_equal(pooled, sequential, equal_nan=True)),
        f"one_call_{cores}_threads_pixels_differing": int((whole != sequential).any(-1).sum()),
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
