"""Benchmark: compositing throughput (px/s) and peak memory at 1x vs 4x AOI area.

Writes synthetic Sentinel-2 years (``tsmap.synthetic.make_scene``: 24 acquisitions x 11 bands as
COGs + a static STAC catalog) once into ``--workdir``, then, for each area, runs one *separate*
process that searches the catalog, builds the lazy cube (``load_cube``) and the monthly composite
(``composite``) and streams every chunk into a sink that keeps only a checksum, so memory reflects
the pipeline, not a gathered output. Each child reports its wall time and peak RSS
(``getrusage``); the RSS after imports and graph building is reported separately, because
``import tsmap`` alone loads torch.

    PYTHONPATH=$PWD python tests/bench/bench_composite.py --size 512 --chunk 256 --workdir /tmp/tsmap-bench

``--kernel-only`` times just the compositing kernel on in-memory 73-date cubes (a 5-day revisit),
one with every month observed and one with three empty winter months (the year-median fill runs):

    PYTHONPATH=$PWD python tests/bench/bench_composite.py --kernel-only --rule authors

Not a test: numbers depend on the machine; compare ratios measured side by side in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time


def _rss_now_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(catalog: str, chunk: int, rule: str) -> dict:
    import dask
    import dask.array as da
    import numpy as np

    from tsmap.composite import composite
    from tsmap.specs import CompositeSpec
    from tsmap.load import chunk_bytes, load_cube
    from tsmap.catalog import Query, search
    from tsmap.synthetic import YEAR

    import pystac

    cat = pystac.read_file(catalog)
    first = next(cat.get_items(recursive=True))
    items = search(Query.for_year(_bbox(first), YEAR), stac=catalog)
    grid = _grid(first)
    cube = load_cube(items, grid, chunk=chunk)
    comp = composite(cube, CompositeSpec(rule=rule))

    class Sink:
        """Keeps a checksum of what is stored, nothing else."""

        def __init__(self):
            self.total, self.lock = 0.0, threading.Lock()

        def __setitem__(self, key, value):
            part = float(np.nansum(value, dtype=np.float64))
            with self.lock:
                self.total += part

    sinks = [Sink(), Sink()]
    rss_before = _rss_now_mb()
    t0 = time.perf_counter()
    with dask.config.set(scheduler="threads", num_workers=os.cpu_count()):
        da.store([comp["s2"].data, comp["valid_periods"].data], sinks, lock=False)
    wall = time.perf_counter() - t0
    h, w = grid.shape
    return {
        "pixels": h * w,
        "shape": [h, w],
        "times": cube.sizes["time"],
        "chunks": int(np.prod(cube.data.numblocks)),
        "chunk_mb": round(chunk_bytes(cube.sizes["time"], chunk) / 2**20, 1),
        "wall_s": round(wall, 2),
        "px_per_s": round(h * w / wall),
        "rss_after_imports_mb": round(rss_before),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "checksum": sinks[0].total,
    }


def kernel_px_per_s(
    times: int = 24, side: int = 256, rule: str = "clean", repeat: int = 3, empty_months: int = 0
) -> int:
    """Compositing alone (no reading): px/s of ``composite`` on an in-memory (time, 11, side, side) cube.

    Dates are spread evenly over the year; with ``empty_months`` the first that many months have none."""
    import numpy as np
    import pandas as pd
    import xarray as xr

    from tsmap.bands import ALL_NAMES
    from tsmap.composite import composite
    from tsmap.specs import CompositeSpec

    rng = np.random.default_rng(0)
    data = rng.uniform(100, 5000, size=(times, 11, side, side)).astype(np.float32)
    data[:, -1] = rng.choice([4, 5, 6, 8, 9, 3], size=(times, side, side))
    start = pd.Timestamp(2023, 1 + empty_months, 1)
    when = pd.date_range(start, pd.Timestamp(2023, 12, 31), periods=times)
    cube = xr.DataArray(data, dims=("time", "band", "y", "x"), coords={"time": when, "band": list(ALL_NAMES)})
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        composite(cube, CompositeSpec(rule=rule))
        best = min(best, time.perf_counter() - t0)
    return round(side * side / best)


def _bbox(item):
    from tsmap.geo import BBox

    w, s, e, n = item.bbox
    return BBox(w, s, e, n)


def _grid(item):
    from tsmap.geo import Grid

    shape = item.assets["blue"].extra_fields["proj:shape"]
    t = item.assets["blue"].extra_fields["proj:transform"]
    x0, y0, res = t[2], t[5], t[0]
    return Grid(
        int(item.properties["proj:code"].split(":")[1]), (x0, y0 - shape[0] * res, x0 + shape[1] * res, y0), res
    )


def scene(workdir: str, size: int) -> str:
    from tsmap.synthetic import make_scene

    folder = os.path.join(workdir, f"scene-{size}")
    catalog = os.path.join(folder, "stac", "catalog.json")
    if not os.path.exists(catalog):
        t0 = time.perf_counter()
        make_scene(folder, size=size)
        print(f"wrote {size}x{size} scene in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return catalog


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=512, help="side of the 1x AOI in 10 m pixels (4x has twice the side)")
    p.add_argument("--chunk", type=int, default=256)
    p.add_argument("--rule", default="clean", choices=["clean", "authors"])
    p.add_argument("--workdir", default="/tmp/tsmap-bench")
    p.add_argument(
        "--kernel-only", action="store_true", help="only time the compositing kernel (73-date cubes, in memory)"
    )
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.kernel_only:
        for empty in (0, 3):
            rate = kernel_px_per_s(times=73, rule=args.rule, empty_months=empty)
            print(f"kernel only ({args.rule}, 73 dates, {empty} empty months, one thread): {rate:,} px/s")
        return
    if args.child:
        print(json.dumps(child(args.child, args.chunk, args.rule)))
        return
    os.makedirs(args.workdir, exist_ok=True)
    rows = {}
    for label, size in (("1x", args.size), ("4x", 2 * args.size)):
        catalog = scene(args.workdir, size)
        cmd = [sys.executable, __file__, "--child", catalog, "--chunk", str(args.chunk), "--rule", args.rule]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ)
        rows[label] = json.loads(out.stdout.strip().splitlines()[-1])
        print(label, json.dumps(rows[label]))
    print(f"kernel only (in memory, 24 dates, one thread): {kernel_px_per_s(rule=args.rule):,} px/s")
    a, b = rows["1x"], rows["4x"]
    above = (b["peak_rss_mb"] - b["rss_after_imports_mb"]) / max(1, a["peak_rss_mb"] - a["rss_after_imports_mb"])
    print(
        f"peak RSS 4x/1x = {b['peak_rss_mb'] / a['peak_rss_mb']:.2f} "
        "(above imports: "
        f"{above:.2f}); "
        f"read + composite {a['px_per_s']:,} px/s (1x), {b['px_per_s']:,} px/s (4x)"
    )


if __name__ == "__main__":
    main()
