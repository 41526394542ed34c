"""Embed once, map many times, search by text: tsmap's Python API on a Dask ``LocalCluster``.

Works fully offline on the SYNTHETIC demo scene with RANDOM model weights, so the maps show the
pipeline, not real classes. Give ``--checkpoint`` and ``--clip-pretrained openai`` for real ones.

    python examples/map_with_cluster.py --out example-out [--size 128] [--workers 2]

Steps: a lazy cube (nothing read yet) -> embeddings of every pixel, tile by tile on the cluster,
into ``emb.zarr`` -> two prompt sets and a scenicness map from that store, without touching the
imagery again -> a free-text search over the stored embeddings.
"""

from __future__ import annotations

import argparse
import json
import os


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="example-out", help="folder for the scene, the store and the maps")
    parser.add_argument("--size", type=int, default=128, help="scene side in 10 m pixels")
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes")
    parser.add_argument("--tile", type=int, default=64, help="tile side in pixels")
    parser.add_argument("--checkpoint", default=None, help="encoder weights (random if omitted)")
    parser.add_argument("--clip-pretrained", default="none", help="text tower weights ('none': random, offline)")
    args = parser.parse_args(argv)

    from distributed import Client, LocalCluster

    import tsmap
    from tsmap.retrieval import search_text
    from tsmap.synthetic import make_scene

    os.makedirs(args.out, exist_ok=True)
    scene = make_scene(os.path.join(args.out, "scene"), size=args.size)
    query = tsmap.Query.for_year(scene.grid.lonlat_bbox(), scene.year)
    text = dict(clip_pretrained=args.clip_pretrained)

    # 1. The lazy cube: building it reads no pixels.
    items = tsmap.search(query, stac=scene.catalog)
    cube = tsmap.composite(tsmap.load_cube(items, scene.grid), tsmap.AUTHORS.composite)["s2"]
    print(f"lazy composite cube {dict(cube.sizes)} from {len(items)} scenes (nothing read yet)")

    with (
        LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        # 2. Embeddings of every pixel, tile by tile on the cluster's workers (model loaded once per worker).
        emb = tsmap.embed_area(out=os.path.join(args.out, "emb.zarr"), query=query, grid=scene.grid, stac=scene.catalog,
                               checkpoint=args.checkpoint, tile=args.tile, client=client, progress=False)
        print(f"embeddings: {emb.path} ({emb.summary.tiles} tiles, {emb.summary.px_per_s:,.0f} px/s)")

        # 3. Any number of prompt sets from the same store, without the imagery.
        maps = {}
        for name in ("land-cover", "land-use"):
            res = tsmap.classify_embeddings(
                embeddings=emb.path,
                prompts=name,
                out=os.path.join(args.out, f"{name}.tif"),
                quicklook=True,
                client=client,
                progress=False,
                **text,
            )
            maps[name] = res.class_map
            print(f"{name}: {res.class_map} + {os.path.basename(res.score_map)}")
        scenic = tsmap.scenic_embeddings(embeddings=emb.path, out=os.path.join(args.out, "scenic.tif"), client=client,
                                         progress=False, **text)
        maps["scenic"] = scenic.scenic_map
        print(f"scenicness: {scenic.scenic_map}")

    # 4. Text search over the lazy, georeferenced embedding cube.
    cube = tsmap.open_embeddings(emb.path)["embedding"]
    hits = search_text(cube, "a lake with clear water", grid=scene.grid, top=5, clip_pretrained=args.clip_pretrained)
    with open(os.path.join(args.out, "lake-search.geojson"), "w") as f:
        json.dump(hits, f, indent=1)
    print(f"text search: {len(hits['features'])} pixels -> {os.path.join(args.out, 'lake-search.geojson')}")
    print("NOTE: synthetic imagery and random weights: the maps demonstrate the pipeline, not real classes.")
    return {"embeddings": emb.path, "maps": maps, "search": hits}


if __name__ == "__main__":  # a LocalCluster in a script needs this guard
    main()
