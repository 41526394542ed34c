"""Re-scoring stored embeddings vs a full predict, on one demo scene of a given size.

    PYTHONPATH=$PWD python tests/bench/bench_rescore.py --size 256

Re-scoring has a fixed cost (open the store, write the COGs), so its ratio to predict falls as the
area grows; run it at two sizes to see the trend. Random weights (timing only).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256, help="scene side in pixels")
    p.add_argument("--repeat", type=int, default=3, help="re-scoring runs (all reported)")
    args = p.parse_args(argv)

    import tsmap
    from tsmap.synthetic import make_scene

    work = tempfile.mkdtemp(prefix="tsmap-bench-rescore-")
    scene = make_scene(f"{work}/scene", size=args.size)
    where = dict(query=tsmap.Query.for_year(scene.grid.lonlat_bbox(), scene.year), grid=scene.grid, stac=scene.catalog)
    store = tsmap.embed_area(out=f"{work}/emb.zarr", progress=False, **where)
    start = time.perf_counter()
    tsmap.predict(prompts="land-cover", out=f"{work}/full.tif", clip_pretrained="none", progress=False, **where)
    predict_s = time.perf_counter() - start
    rescore = []
    for i in range(args.repeat):
        start = time.perf_counter()
        tsmap.classify_embeddings(embeddings=store.path, prompts="land-cover", out=f"{work}/re{i}.tif",
                                  clip_pretrained="none", progress=False)
        rescore.append(time.perf_counter() - start)
    result = {
        "pixels": args.size**2,
        "predict_s": round(predict_s, 2),
        "rescore_s": [round(t, 3) for t in rescore],
        "ratio_first (goal <= 0.01)": round(rescore[0] / predict_s, 4),
        "ratio_best (goal <= 0.01)": round(min(rescore) / predict_s, 4),
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
