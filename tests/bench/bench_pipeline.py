"""Benchmark: the mapping pipeline end to end against the encoder alone, memory at 1x vs 4x AOI, re-scoring.

Writes two synthetic Sentinel-2 years (``tsmap.synthetic.make_scene``, 24 acquisitions x 11 band
COGs, local files) of ``--size`` and ``2 x --size`` pixels a side (1x and 4x the area), then runs
each measurement in a separate process (peak RSS by ``getrusage``), side by side:

- ``encoder`` (x ``--repeat``, alternating with predict 1x; the fastest run of each counts): the encoder
  alone on the 1x scene's composites (computed beforehand, untimed), tile by tile on the same threads as the
  pipeline, and as one call with all torch threads;
- ``predict`` 1x and 4x: ``tsmap.predict`` end to end (search, read, composite, encode, score,
  COGs, STAC item), the text embeddings already in the disk cache (a fixed cost, timed apart);
- ``embed`` 1x, then ``classify`` from that store: re-scoring time against the full predict (the
  first call in a fresh process, which also pays one-off imports, and the next one).

    PYTHONPATH=$PWD python tests/bench/bench_pipeline.py --size 128 --tile 64 --workdir /tmp/tsmap-bench-pipeline

Not a test: numbers depend on the machine (and on its other users); compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time


def child(mode: str, scene_dir: str, size: int, tile: int, out: str) -> dict:
    import numpy as np

    import tsmap
    from tsmap.synthetic import make_scene

    scene = make_scene(scene_dir, size=size)  # rewrites the same files: cheap next to the runs
    query = tsmap.Query.for_year(scene.grid.lonlat_bbox(), scene.year)
    common = dict(query=query, grid=scene.grid, stac=scene.catalog, tile=tile, progress=False)
    pixels = size * size
    start = time.perf_counter()
    if mode == "text":
        from tsmap.text import embed_prompts

        embed_prompts(tsmap.load_prompts("land-cover"), pretrained="none")
        return {"seconds": time.perf_counter() - start}
    if mode == "predict":
        tsmap.predict(prompts="land-cover", out=os.path.join(out, "map.tif"), clip_pretrained="none", **common)
    elif mode == "embed":
        tsmap.embed_area(out=os.path.join(out, "emb.zarr"), **common)
    elif mode == "classify":  # twice: the first call in a process also pays one-off imports (zarr, fsspec, ...)
        times = []
        for name in ("re-cold.tif", "re-warm.tif"):
            t0 = time.perf_counter()
            tsmap.classify_embeddings(embeddings=os.path.join(out, "emb.zarr"), prompts="land-cover",
                                      out=os.path.join(out, name), clip_pretrained="none", progress=False)
            times.append(time.perf_counter() - t0)
        return {"seconds": times[0], "seconds_warm": times[1]}
    elif mode == "encoder":
        return _encoder_only(scene, tile, np)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "pixels": pixels, "px_per_s": pixels / seconds, "peak_rss_mb": _peak_rss_mb()}


def _encoder_only(scene, tile: int, np) -> dict:
    """The encoder on every pixel, without reading or compositing (done first, untimed)."""
    import dask
    import torch

    import tsmap
    from tsmap.encode import EncoderSpec
    from tsmap.executor import LocalExecutor
    from tsmap.tiles import tile_grid

    items = tsmap.search(tsmap.Query.for_year(scene.grid.lonlat_bbox(), scene.year), stac=scene.catalog)
    comp = tsmap.composite(tsmap.load_cube(items, scene.grid), tsmap.AUTHORS.composite)["s2"]
    s2 = np.ascontiguousarray(
        np.moveaxis(dask.compute(comp.data, scheduler="sync")[0], (0, 1), (-2, -1))
    )  # (y, x, T, C)
    encoder = EncoderSpec().load()
    tiles = tile_grid(scene.grid, tile)
    encoder(s2[:8, :8])  # warm-up
    with LocalExecutor(min(os.cpu_count() or 1, len(tiles))) as ex:  # as the pipeline runs it
        start = time.perf_counter()
        for f in [ex.submit(encoder, s2[t.slices]) for t in tiles]:
            f.result()
        tiled = time.perf_counter() - start
    torch.set_num_threads(os.cpu_count() or 1)
    start = time.perf_counter()
    encoder(s2)
    whole = time.perf_counter() - start
    n = s2.shape[0] * s2.shape[1]
    return {"pixels": n, "px_per_s_tiled": n / tiled, "px_per_s_one_call": n / whole, "px_per_s": n / min(tiled, whole)}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(mode: str, scene_dir: str, size: int, tile: int, out: str, env: dict) -> dict:
    os.makedirs(out, exist_ok=True)
    cmd = [
        sys.executable,
        __file__,
        "--child",
        mode,
        "--scene",
        scene_dir,
        "--size",
        str(size),
        "--tile",
        str(tile),
        "--out",
        out,
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{res.stderr[-4000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description="tsmap pipeline benchmark")
    p.add_argument("--size", type=int, default=128, help="1x scene side in pixels (4x is twice this)")
    p.add_argument("--tile", type=int, default=64)
    p.add_argument("--workdir", default="/tmp/tsmap-bench-pipeline")
    p.add_argument("--repeat", type=int, default=2, help="runs of encoder-only and 1x predict (fastest kept)")
    p.add_argument("--child"), p.add_argument("--scene"), p.add_argument("--out")
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.scene, args.size, args.tile, args.out)))
        return
    shutil.rmtree(args.workdir, ignore_errors=True)
    env = {**os.environ, "TSMAP_CACHE_DIR": os.path.join(args.workdir, "text-cache")}
    one, four = args.size, 2 * args.size
    w = lambda *parts: os.path.join(args.workdir, *parts)  # noqa: E731
    text = run("text", w("scene1"), one, args.tile, w("text"), env)
    encs, p1s = [], []
    for i in range(args.repeat):  # alternate, keep the fastest of each: the machine is shared
        encs.append(run("encoder", w("scene1"), one, args.tile, w("enc"), env))
        p1s.append(run("predict", w("scene1"), one, args.tile, w(f"p1-{i}"), env))
    enc = max(encs, key=lambda r: r["px_per_s"])
    p1 = max(p1s, key=lambda r: r["px_per_s"])
    p4 = run("predict", w("scene4"), four, args.tile, w("p4"), env)
    emb = run("embed", w("scene1"), one, args.tile, w("p1"), env)
    cls = run("classify", w("scene1"), one, args.tile, w("p1"), env)  # the store of "embed", same tiles
    result = {
        "machine": f"{os.cpu_count()} cores (shared: timings are noisy)",
        "scenes": {"1x": f"{one}x{one} px", "4x": f"{four}x{four} px", "tile": args.tile},
        "text_embeddings_s (fixed cost, cached after)": round(text["seconds"], 2),
        "encoder_only_px_s": {k: round(v) for k, v in enc.items() if k.startswith("px_per_s")},
        "all_runs_px_s": {
            "encoder": [round(r["px_per_s"]) for r in encs],
            "predict_1x": [round(r["px_per_s"]) for r in p1s],
        },
        "predict_1x": {k: round(v, 2) for k, v in p1.items()},
        "predict_4x": {k: round(v, 2) for k, v in p4.items()},
        "embed_1x_s": round(emb["seconds"], 2),
        "classify_from_store_1x_s": {
            "first call in the process": round(cls["seconds"], 3),
            "next call": round(cls["seconds_warm"], 3),
        },
        "ratio_end_to_end_over_encoder (goal >= 0.80)": round(p1["px_per_s"] / enc["px_per_s"], 3),
        "ratio_peak_rss_4x_over_1x (goal <= 1.3)": round(p4["peak_rss_mb"] / p1["peak_rss_mb"], 3),
        "ratio_rescore_over_predict (goal <= 0.01)": {
            "first call": round(cls["seconds"] / p1["seconds"], 4),
            "next call": round(cls["seconds_warm"] / p1["seconds"], 4),
        },
        "km2_per_h_end_to_end_1x (goal >= 300)": round(p1["px_per_s"] * 3600 * 1e-4),
        "km2_per_h_end_to_end_4x": round(p4["px_per_s"] * 3600 * 1e-4),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
