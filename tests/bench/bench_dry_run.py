"""Benchmark: the ``--dry-run`` time estimate against the real run, on the synthetic scene.

    python tests/bench/bench_dry_run.py 128 256 384

For each scene size: ``plan_area`` (what ``--dry-run`` prints), then ``predict`` timed, with the full-size random
encoder and a random text tower. Goal: the estimate within 2x of the real run. Not a test: timings depend on the
machine (run it on a quiet one).
"""

import os
import sys
import tempfile
import time

import tsmap
import tsmap.synthetic
from tsmap.catalog import Query
from tsmap.pipeline import plan_area


def compare(size: int) -> str:
    folder = tempfile.mkdtemp(prefix="tsmap-dry-run-")
    scene = tsmap.synthetic.make_scene(folder, size=size)
    query = Query.for_year(scene.grid.lonlat_bbox(), 2023)
    plan = plan_area(query=query, grid=scene.grid, stac=scene.catalog)
    start = time.perf_counter()
    tsmap.predict(prompts="land-cover", out=os.path.join(folder, "map.tif"), query=query, grid=scene.grid,
                  stac=scene.catalog, clip_pretrained="none")
    real = time.perf_counter() - start
    ratio = max(real, plan.seconds) / min(real, plan.seconds)
    return f"{size} px: estimate {plan.seconds:.0f} s, real {real:.0f} s, ratio {ratio:.2f} (goal <= 2)"


if __name__ == "__main__":
    for arg in sys.argv[1:] or ["128", "256"]:
        print(compare(int(arg)), flush=True)
