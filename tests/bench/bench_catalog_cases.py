"""The crafted real-catalog cases of issue 11, one line each: does tsmap find and read them?

Each case uses real item metadata (tests/real_catalog.py) with local imagery, through public calls
only (search, load_cube, predict), so the same script runs on any tsmap version:

* antimeridian: twins of a real zone-60 item whose tiles cross 180°; AOIs west and east of 180°.
* 3-D bbox: a real Earth Search item with a 6-number bbox, mapped by ``predict``.
* v0: an Earth Search v0 (``sentinel-s2-l2a-cogs``) twin in a static catalog, default search.
* mirror: hrefs rewritten to absolute local paths, the https ``self`` link kept.
* W > E AOI: a box across 180°.

    PYTHONPATH=$PWD python tests/bench/bench_catalog_cases.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile


def cases(tmp: str) -> dict:
    import numpy as np
    import pystac

    from tests import real_catalog as rc
    from tests.pipeline_helpers import SMALL
    from tsmap.geo import BBox, Grid
    from tsmap.load import load_cube
    from tsmap.catalog import Query, search

    pc = {f["properties"]["s2:mgrs_tile"]: f for f in rc.real_features(rc.PC)}
    es = {f["id"].split("_")[1]: f for f in rc.real_features(rc.ES)}
    out = {}

    def run(name, fn):
        try:
            out[name] = fn()
        except Exception as exc:
            out[name] = f"FAIL {type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
        print(f"{name}: {out[name]}", file=sys.stderr, flush=True)

    pair = rc.antimeridian_pair(pc["60VUK"])
    sides = {"west": (179.96, 58.2, 179.99, 58.21), "east": (-179.99, 58.2, -179.96, 58.21)}
    local = rc.localise(pair, os.path.join(tmp, "am"), list(sides.values()))
    am = rc.save_collection(local, os.path.join(tmp, "am.geojson"))
    for side, box in sides.items():
        run(f"antimeridian items found {side} of 180°",
            lambda box=box: f"{len(search(Query.for_dates(BBox(*box), '2019-01-01', '2019-01-01'), stac=am))} of 2")
    run("AOI across 180° (W > E)", lambda: f"grid {Grid.from_bbox(BBox(179.99, 58.2, -179.99, 58.21)).shape}")

    box = (-38.62, -4.62, -38.61, -4.61)

    def three_d():
        from tsmap.pipeline import predict

        local = rc.localise([rc.three_d(es["24MWV"])], os.path.join(tmp, "3d"), [box])
        cat = rc.save_collection(local, os.path.join(tmp, "3d.geojson"))
        res = predict(prompts="land-cover", out=os.path.join(tmp, "3d.tif"), stac=cat, encoder=SMALL,
                      query=Query.for_dates(BBox(*box), "2025-07-31", "2025-07-31"), clip_pretrained="none", tile=48,
                      progress=False, allow_missing=True)
        return f"missing tiles {len(res.summary.missing)} of {res.summary.tiles}"

    run("3-D bbox predict", three_d)

    def v0():
        local = rc.localise([rc.earth_search_v0(es["24MWV"])], os.path.join(tmp, "v0"), [box])
        cat = rc.save_collection(local, os.path.join(tmp, "v0.geojson"))
        return f"{len(search(Query.for_dates(BBox(*box), '2025-07-31', '2025-07-31'), stac=cat))} items"

    run("Earth Search v0 item, default search", v0)

    def mirror():
        local = rc.localise([es["24MWV"]], os.path.join(tmp, "mirror"), [box], keep_self=True)
        grid = Grid.from_bbox(BBox(*box))
        cube = load_cube([pystac.Item.from_dict(local[0].feature)], grid).compute()
        return f"read, {int(np.isfinite(cube.values).all(axis=1).sum())} valid px"

    run("mirror with https self link", mirror)
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(cases(tmp), indent=1))


if __name__ == "__main__":
    main()
