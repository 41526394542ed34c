"""Benchmark: ``tsmap predict`` against COGs behind a latency-bound HTTP server vs the same files on local disk.

Writes a year of Sentinel-2 L2A acquisitions laid out like Earth Search's assets (``tests/s2_archive.py``:
full 10980/5490 px grids, 1024 px DEFLATE blocks, overviews, baseline >= 04.00 DN) and, for each
acquisition count (a real year: 73 = one orbit every 5 days, 146 = two orbits), runs in separate
processes, side by side:

- ``encoder``: the encoder alone on 1x the AOI (tile by tile, as the pipeline calls it);
- ``local``: end to end from local files (1x and 4x the AOI, for peak RSS);
- ``remote N ms``: end to end through ``tests/http_faults.py`` with N ms per request (0, 20, 50, 100),
  counting the requests and bytes the server sent against the minimum (every needed block once, plus
  each file's header).

    PYTHONPATH=$PWD python tests/bench/bench_remote.py --size 512 --tile 256 --acquisitions 73,146

Not a test: numbers depend on the machine; compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if "--child" not in sys.argv:
    sys.path.insert(0, str(ROOT))  # the children import only tsmap, from --tsmap

ORIGIN_PX = 2048  # the AOI starts on a 1024 px block at 10 m and on a 20 m block


def grid_of(size: int):
    from tests.s2_archive import EPSG, ORIGIN
    from tsmap.geo import Grid

    x0, y1 = ORIGIN[0] + ORIGIN_PX * 10, ORIGIN[1] - ORIGIN_PX * 10
    return Grid(EPSG, (x0, y1 - size * 10, x0 + size * 10, y1))


def child(args) -> dict:
    import tsmap
    from tsmap.encode import EncoderSpec
    from tsmap.geo import Grid

    grid = Grid(args.epsg, tuple(float(v) for v in args.bounds.split(",")))
    _ablate(args.gdal)
    spec = EncoderSpec(device=args.device)
    if args.encoder == "small":  # a tiny encoder, so that reading, not encoding, sets the pace on a small CPU
        from tsmap.model import EncoderConfig

        spec = EncoderSpec(
            config=EncoderConfig(dim=32, depth=1, heads=4, mlp_dim=16, out_dim=512), seed=0, device=args.device
        )
    start = time.perf_counter()
    if args.child == "encoder":
        return _encoder_only(spec, grid, args.tile)
    query = tsmap.Query.for_year(grid.lonlat_bbox(), 2023)
    tsmap.predict(prompts="land-cover", out=os.path.join(args.out, "map.tif"), query=query, grid=grid, stac=args.stac,
                  encoder=spec, clip_pretrained="none", tile=args.tile, progress=False)
    seconds = time.perf_counter() - start
    pixels = args.size ** 2
    return {
        "seconds": seconds,
        "px_per_s": pixels / seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _ablate(settings: str) -> None:
    """Change one of tsmap's read settings in this process: ``READ_THREADS=1``, or ``KEY=VALUE[@layer]`` for GDAL."""
    if not settings:
        return
    import tsmap.gdal_config as cfg
    import tsmap.load

    for setting in filter(None, (settings or "").split(";")):
        key, value = setting.split("=", 1)
        if key == "READ_THREADS":
            cfg.READ_THREADS = int(value)
            continue
        value, _, layer = value.partition("@")
        base = tsmap.load.gdal_env
        tsmap.load.gdal_env = lambda n, base=base, key=key, value=value, layer=layer or "always": base(n).updated(
            **{layer: {key: value}}
        )


def _encoder_only(spec, grid, tile: int) -> dict:
    import numpy as np

    from tsmap.tiles import tile_grid

    encoder = spec.load()
    h, w = grid.shape
    s2 = np.random.default_rng(0).uniform(0.05, 0.5, (h, w, 12, 10)).astype(np.float32)
    encoder(s2[:8, :8])
    start = time.perf_counter()
    for t in tile_grid(grid, tile):
        encoder(s2[t.slices])
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "px_per_s": h * w / seconds}


def run(mode: str, args, out: Path, stac: str = "", size: int | None = None, gdal: str = "") -> dict:
    out.mkdir(parents=True, exist_ok=True)
    grid = grid_of(size or args.size)
    cmd = [sys.executable, __file__, "--child", mode, "--size", str(size or args.size), "--tile", str(args.tile),
           "--device", args.device, "--encoder", args.encoder, "--out", str(out), "--stac", stac,
           "--epsg", str(grid.epsg), "--bounds", ",".join(str(v) for v in grid.bounds), "--gdal", gdal]
    env = {**os.environ, "TSMAP_CACHE_DIR": str(Path(args.workdir) / "text-cache"), "PYTHONPATH": args.tsmap}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{res.stderr[-4000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def bench_count(n: int, args) -> dict:
    from tests.s2_archive import make_archive, minimum_bytes

    work = Path(args.workdir)
    t0 = time.perf_counter()
    arch = make_archive(work / "archive", acquisitions=n, orbits=2 if n > 100 else 1,
                        content=(ORIGIN_PX, ORIGIN_PX, 2 * args.size, 2 * args.size))
    made_s = time.perf_counter() - t0
    local = str(arch.write_collection(work / f"local-{n}.geojson", str(arch.root)))
    enc = run("encoder", args, work / f"enc-{n}")
    loc1 = run("predict", args, work / f"local1-{n}", local)
    loc4 = run("predict", args, work / f"local4-{n}", local, size=2 * args.size)
    minimum = minimum_bytes(arch, grid_of(args.size).bounds)
    remote = {f"{ms} ms": remote_run(arch, n, ms, args, loc1, minimum) for ms in args.latencies}
    rss4 = remote_run(arch, n, 50, args, loc1, minimum_bytes(arch, grid_of(2 * args.size).bounds), size=2 * args.size)
    remote["50 ms, 4x AOI"] = rss4
    ablations = {}
    if args.ablations and n == int(args.acquisitions.split(",")[0]):
        ablations = {change: remote_run(arch, n, 50, args, loc1, minimum, change) for change in ABLATIONS}
    return {
        "archive_write_s": round(made_s, 1),
        "encoder_only_px_s": round(enc["px_per_s"]),
        "local_px_s": round(loc1["px_per_s"]),
        "ratio_local_over_encoder (goal >= 0.8)": round(loc1["px_per_s"] / enc["px_per_s"], 3),
        "minimum_bytes_per_px": round(sum(minimum.values()) / args.size ** 2, 2),
        "remote": remote,
        "peak_rss_mb_local_1x_4x": [round(loc1["peak_rss_mb"]), round(loc4["peak_rss_mb"])],
        "ratio_rss_4x_over_1x (goal <= 1.3)": round(loc4["peak_rss_mb"] / loc1["peak_rss_mb"], 3),
        "ratio_rss_4x_over_1x_remote_50ms": round(rss4["peak_rss_mb"] / remote["50 ms"]["peak_rss_mb"], 3)
        if "50 ms" in remote else None,
        **({"ablations at 50 ms (one setting changed)": ablations} if ablations else {}),
    }


#: One read setting changed at a time (``--ablations``): tsmap's choice against GDAL's / stackstac's default.
ABLATIONS = [
    "READ_THREADS=1",  # assets read one after the other (as before: one dask task per chunk, sync scheduler)
    "CPL_VSIL_CURL_CACHE_SIZE=16777216",  # GDAL's default byte-range cache (16 MB)
    "GDAL_DISABLE_READDIR_ON_OPEN=FALSE@open",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES=NO",
    "GDAL_INGESTED_BYTES_AT_OPEN=16384",  # GDAL's default header read
    "VSI_CACHE=TRUE@read",  # per-file cache for data reads too
]


def remote_run(arch, n: int, ms: int, args, loc1: dict, minimum: dict, gdal: str = "", size: int | None = None) -> dict:
    """One end-to-end run through the COG server at ``ms`` per request, with its request and byte counts."""
    from tests.remote_servers import CogServer

    size = size or args.size
    work, tag = Path(args.workdir), f"{n}-{ms}-{size}-{abs(hash(gdal)) % 10**6}"
    with CogServer(arch.root, work / f"srv-{tag}", latency_s=ms / 1000, max_concurrency=args.server_concurrency) as srv:
        stac = str(arch.write_collection(work / f"remote-{tag}.geojson", srv.url))
        r = run("predict", args, work / f"remote-{tag}", stac, gdal=gdal, size=size)
        requests, sent = srv.counters()
    px = size ** 2
    return {
        "px_per_s": round(r["px_per_s"]), "vs_local": round(r["px_per_s"] / loc1["px_per_s"], 3),
        "requests_per_kpx": round(1000 * sum(requests.values()) / px, 2),
        "bytes_per_px": round(sum(sent.values()) / px, 2),
        "bytes_vs_minimum": round(sum(sent.values()) / sum(minimum.values()), 3),
        "peak_rss_mb": round(r["peak_rss_mb"]),
    }


def main() -> None:
    p = argparse.ArgumentParser(description="tsmap remote-read benchmark")
    p.add_argument("--size", type=int, default=512, help="1x AOI side in pixels (4x is twice this)")
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--encoder", default="authors", choices=["authors", "small"], help="authors' model size, or a tiny one"
    )
    p.add_argument("--acquisitions", default="73,146")
    p.add_argument("--latencies", default="0,20,50,100", help="ms per request")
    p.add_argument("--server-concurrency", type=int, default=64, help="requests the server serves at once")
    p.add_argument("--workdir", default="/tmp/tsmap-bench-remote")
    p.add_argument("--tsmap", default=str(ROOT), help="checkout whose tsmap the runs use (compare before/after)")
    p.add_argument("--child"), p.add_argument("--out"), p.add_argument("--stac"), p.add_argument("--epsg", type=int)
    p.add_argument("--bounds"), p.add_argument("--gdal", default="")
    p.add_argument(
        "--ablations", action="store_true", help="also: each read setting changed alone, at 50 ms, first count"
    )
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    args.latencies = [int(v) for v in args.latencies.split(",")]
    from tsmap.gdal_config import READ_THREADS

    result = {"machine": f"{os.cpu_count()} cores, device {args.device}, encoder {args.encoder}", "tsmap": args.tsmap,
              "aoi_px": [args.size, 2 * args.size],
              "tile": args.tile, "read_threads": READ_THREADS}
    for n in (int(v) for v in args.acquisitions.split(",")):
        result[f"{n} acquisitions"] = bench_count(n, args)
        print(json.dumps(result, indent=1), flush=True)


if __name__ == "__main__":
    main()
