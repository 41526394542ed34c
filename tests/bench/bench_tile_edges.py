"""Benchmark: AOIs placed systematically along every Sentinel-2 tile edge of real overpasses.

The real item metadata of one Planetary Computer overpass (33 tiles in UTM zones 58-60, 2019-01-01)
and one Earth Search v1 overpass (5 partial tiles at a swath edge, zone 24, 2025-07-31) get local
imagery at their real grids (``tests/real_catalog.py``). For every tile, ``--per-edge`` AOIs of
``--side`` metres straddle each of its four edges (``tile-edges``), and 4 x ``--per-edge`` sit on its
data edge inside the tile (``footprint-edges``: swath edges, nodata corners; tiles without one have
none). Each AOI runs as a real run does: the static
catalog is searched, the AOI grid is cut into ``--tile`` px tiles, and each tile is read, merged,
composited and encoded by a :class:`tsmap.tasks.TileTask` (a small seeded encoder).

Counted per AOI: a crash (any tile raising), and lost pixels: no embedding where the brute-force
reference (``real_catalog.reference``: every item of the catalog, warped by hand) has a pixel with
SCL and all bands valid; and pixels from nowhere: an embedding where no item has even a valid SCL.
(Under the authors' cloud rule a cloudy observation counts as zeros, so a cloudy pixel missing bands
still gets an embedding: that is neither.) Pixels the reference calls ambiguous (within 0.2 px of a
footprint or cloud edge in the source, where GDAL's approximate warp may pick either side) are not
counted.

    TSMAP_SHARED=/work/shared PYTHONPATH=$PWD python tests/bench/bench_tile_edges.py --per-edge 2 --json edges.json

Not a test: it reports counts, before and after a change, from one run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
import traceback


def run(per_edge: int, side_m: float, tile: int, workdir: str, families: tuple[str, ...]) -> dict:
    from tests.real_catalog import ES, PC, edge_boxes, footprint_boxes, localise, save_collection, shared_features

    overpasses = {
        "planetary-computer": (shared_features(PC), "2019-01-01"),
        "earth-search": ([f for f in shared_features(ES) if f["id"].startswith("S2B_24M")], "2025-07-31"),
    }
    makers = {
        "tile-edges": lambda f: edge_boxes(f, per_edge=per_edge, side_m=side_m),
        "footprint-edges": lambda f: footprint_boxes(f, count=4 * per_edge, side_m=side_m),
    }
    report = {"per_edge": per_edge, "side_m": side_m, "tile": tile, "sets": {}}
    for name, (features, day) in overpasses.items():
        boxes = {fam: [b for f in features for b in makers[fam](f)] for fam in families}
        start = time.perf_counter()
        local = localise(features, os.path.join(workdir, name), [b for bs in boxes.values() for b in bs])
        catalog = save_collection(local, os.path.join(workdir, f"{name}.geojson"))
        print(f"{name}: imagery written in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        for fam, fam_boxes in boxes.items():
            report["sets"][f"{name} {fam}"] = _sweep(f"{name} {fam}", local, catalog, day, fam_boxes, tile)
    return report


def _sweep(label: str, local, catalog: str, day: str, boxes: list, tile: int) -> dict:
    import numpy as np

    from tests.pipeline_helpers import SMALL
    from tests.real_catalog import reference
    from tsmap.geo import BBox, Grid
    from tsmap.specs import Preprocessing
    from tsmap.catalog import Query, search
    from tsmap.pipeline import Imagery
    from tsmap.tasks import TileTask
    from tsmap.tiles import tile_grid

    prep = Preprocessing()
    start = time.perf_counter()
    stats = dict(aois=0, aois_with_data=0, crashed=0, with_lost_pixels=0, lost_pixels=0, checked_pixels=0,
                 ambiguous_pixels=0, pixels_from_nowhere=0, errors={})
    for n, box in enumerate(boxes):
        if n % 20 == 0:
            print(f"{label}: AOI {n}/{len(boxes)}, {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        stats["aois"] += 1
        bbox = BBox(*box)
        grid = Grid.from_bbox(bbox)
        ref = reference(local, grid, groups=[[it.id for it in local]], masked=prep.composite.masked)
        has_data, ok = ref.has_data[0], ~ref.ambiguous[0]
        stats["aois_with_data"] += bool(has_data.any())
        try:
            items = search(Query.for_dates(bbox, day, day), stac=catalog)
        except Exception as exc:  # "no items" where the reference has none is fine
            items = []
            if has_data.any():
                stats["crashed"] += 1
                _count(stats["errors"], exc)
                continue
        got = np.zeros(grid.shape, bool)
        crashed = False
        if items:
            task = TileTask(grid, Imagery(tuple(items), grid, prep), SMALL)
            for t in tile_grid(grid, tile):
                try:
                    emb, _ = task._embed(t, {})
                except Exception as exc:
                    crashed = True
                    _count(stats["errors"], exc)
                    break
                got[t.slices] = ~np.isnan(emb).any(axis=0)
        if crashed:
            stats["crashed"] += 1
            continue
        lost = int((has_data & ~got & ok).sum())
        stats["lost_pixels"] += lost
        stats["with_lost_pixels"] += lost > 0
        stats["pixels_from_nowhere"] += int((got & (ref.ranks[0].min(axis=0) == 3) & ok).sum())
        stats["checked_pixels"] += int(ok.sum())
        stats["ambiguous_pixels"] += int((~ok).sum())
    stats["seconds"] = round(time.perf_counter() - start, 1)
    return stats


def _count(errors: dict, exc: BaseException) -> None:
    key = f"{type(exc).__name__}: {str(exc)[:120]}"
    errors[key] = errors.get(key, 0) + 1
    if os.environ.get("TSMAP_BENCH_TRACEBACKS"):
        traceback.print_exception(exc)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--per-edge", type=int, default=2, help="AOIs per tile edge")
    p.add_argument("--side", type=float, default=1000.0, help="AOI side (m)")
    p.add_argument("--tile", type=int, default=64, help="tile side (px)")
    p.add_argument("--workdir", default=None, help="folder for the local imagery (default: a temporary one)")
    p.add_argument("--edges", default="tile-edges,footprint-edges",
                   help="AOI families: tile-edges (the tiles' own edges), footprint-edges (their data edges inside)")
    p.add_argument("--json", default=None, help="also write the report here")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = run(a.per_edge, a.side, a.tile, a.workdir or tmp, tuple(a.edges.split(",")))
    report["when"] = dt.datetime.now().isoformat(timespec="seconds")
    text = json.dumps(report, indent=1)
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
