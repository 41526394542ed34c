"""Benchmark of the text side: per-pixel scoring, scenicness, text search and the text cache.

Run from the repository root (offline; random embeddings, random text tower)::

    python tests/bench/bench_scoring.py [--pixels 65536] [--repeat 3]

Prints px/s for each step next to the bare cosine matmul measured in the same run, so the ratio
says what probability / margin / unknown / top-k cost on top of the dot products.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import xarray as xr


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv=None) -> None:
    from tsmap.prompts import load_prompts
    from tsmap.scenic import ScenicPrompts, scenic_block, _weights
    from tsmap.zeroshot import ClassEmbeddings, UnknownRule, l2_normalise, score_block
    from tsmap.retrieval import search_text
    from tsmap.geo import Grid
    from tsmap.text import embed_prompts

    ap = argparse.ArgumentParser()
    ap.add_argument("--pixels", type=int, default=65536)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    n, rng = args.pixels, np.random.default_rng(0)
    emb = l2_normalise(rng.normal(size=(n, 512)))
    rows = []
    for k in (8, 44):
        ce = ClassEmbeddings(l2_normalise(rng.normal(size=(k, 512))), tuple(range(k)))
        base = best_of(lambda: emb @ ce.vectors.T, args.repeat)
        rows.append((f"cosine matmul only, K={k}", base, 1.0))
        for label, kw in [
            ("class+score+probability+margin", {}),
            ("  + unknown rule", {"unknown": UnknownRule(min_probability=0.5, negative=(0,))}),
            ("  + top-3", {"top_k": 3}),
            ("  normalised (given means)", {"means": np.full(k, 1.2, np.float32)}),
        ]:
            t = best_of(lambda: score_block(emb, ce, **kw), args.repeat)
            rows.append((f"{label}, K={k}", t, base / t))
    texts = tuple(f"p{i}" for i in range(137))
    sp = ScenicPrompts(
        "bench", texts, tuple(float(1 + i % 10) for i in range(137)), tuple(str(i % 27) for i in range(137))
    )
    vec = l2_normalise(rng.normal(size=(137, 512)))
    base = best_of(lambda: emb @ vec.T, args.repeat)
    rows.append(("cosine matmul only, 137 scenic prompts", base, 1.0))
    for method, k in (("early", 2), ("late", 2), ("late", 5)):
        w = _weights(sp, method, k)
        t = best_of(lambda: scenic_block(emb, vec, w), args.repeat)
        rows.append((f"scenicness {method} k={k}", t, base / t))
    side = int(np.sqrt(n))
    grid = Grid(32632, (500000.0, 5000000.0, 500000.0 + 10 * side, 5000000.0 + 10 * side))
    cube = xr.DataArray(emb[: side * side].T.reshape(512, side, side), dims=("embed", "y", "x")).chunk(
        {"y": 128, "x": 128}
    )
    q = emb[0]
    t = best_of(lambda: search_text(cube, q, grid=grid, top=100), args.repeat)
    rows.append((f"text search top-100 ({side}x{side} px)", t * n / (side * side), float("nan")))

    print(f"{'step':<46} {'px/s':>12} {'vs matmul':>10}")
    for label, t, ratio in rows:
        print(f"{label:<46} {n / t:>12,.0f} {ratio:>10.2f}")

    with tempfile.TemporaryDirectory() as cache:
        ps = load_prompts("eunis")
        t0 = time.perf_counter()
        embed_prompts(ps, pretrained="none", cache_dir=cache)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        embed_prompts(ps, pretrained="none", cache_dir=cache)
        warm = time.perf_counter() - t0
    n_texts = sum(len(t) for t in ps.texts())
    print(
        f"text embeddings, eunis ({n_texts} prompts): first run {cold:.2f} s (incl. loading the tower), cached "
        f"{warm * 1e3:.1f} ms, ratio {warm / cold:.3f}"
    )


if __name__ == "__main__":
    main()
