"""Rebuild the vendored extracts in tests/data from the project's ../shared (run from the repository root).

    TSMAP_SHARED=/work/shared python tests/data/make_extracts.py

Each extract is a cut of a real public file, small enough to ship with the tests, so that they run in
any checkout; tests/data/README.md says what was cut and under which licence.
"""

from __future__ import annotations

import json
import re
import os
import shutil
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("TSMAP_SHARED", DATA.parents[2] / "shared"))

#: The Planetary Computer items the tests read: one overpass's six overlapping tiles in UTM zones 59 and 60.
PC_TILES = ("59VND", "59VNE", "59VPD", "59VPE", "60VUJ", "60VUK")
#: LVIS names the tests use as real CLIP text geometry (besides the first LVIS_FIRST categories).
LVIS_WORDS = (
    "car_(automobile)", "truck", "bus_(vehicle)", "banana", "apple", "orange_(fruit)", "dog", "cat", "horse",
    "minivan", "pear", "piano", "umbrella", "hat", "elephant", "cow", "lemon", "tractor_(farm_equipment)",
)  # fmt: skip
LVIS_FIRST = 48
#: A 24 x 24 px window of the eo-learn patch, and the year of its dates the tests composite.
EO_WINDOW, EO_YEAR = (slice(40, 64), slice(40, 64)), "2017"
PRESTO_PIXELS = 300


def write_collection(path: Path, collection: dict, features: list[dict]) -> None:
    """An item collection with one compact item per line (items unchanged, keys in their order)."""
    head = {k: v for k, v in collection.items() if k != "features"}
    lines = [json.dumps(f, separators=(",", ":"), ensure_ascii=False) for f in features]
    body = json.dumps(head, ensure_ascii=False)[:-1] + ', "features": [\n' + ",\n".join(lines) + "\n]}\n"
    path.write_text(body, encoding="utf-8")


ES_EXTRACT = "earth_search_v1_sentinel-2-l2a_items_extract.geojson"
PC_EXTRACT = "planetary_computer_sentinel-2-l2a_items_extract.geojson"
#: Assets no test reads (metadata files, previews, true-colour images) and links other than ``self``.
UNUSED_ASSET = re.compile(r"metadata|manifest|thumbnail|preview|tilejson|^visual")


def _bands_only(feature: dict) -> dict:
    """An item with its band assets (COG and JPEG 2000 twins), properties, geometry and self link only."""
    assets = {k: v for k, v in feature["assets"].items() if not UNUSED_ASSET.search(k)}
    links = [link for link in feature.get("links", []) if link.get("rel") == "self"]
    return {**feature, "assets": assets, "links": links}


def stac_items() -> None:
    src, dst = SHARED / "data" / "stac-items", DATA / "stac-items"
    dst.mkdir(exist_ok=True)
    es = json.loads((src / "earth_search_v1_sentinel-2-l2a_items.geojson").read_text())
    write_collection(dst / ES_EXTRACT, es, [_bands_only(f) for f in es["features"]])
    pc = json.loads((src / "planetary_computer_sentinel-2-l2a_items.geojson").read_text())
    strip = [_bands_only(f) for f in pc["features"] if f["properties"]["s2:mgrs_tile"] in PC_TILES]
    write_collection(dst / PC_EXTRACT, pc, strip)
    shutil.copyfile(src / "LICENSE.pystac-client", dst / "LICENSE.pystac-client")


def clip_text_embeddings() -> None:
    src, dst = SHARED / "data" / "clip_vitb32_text_embeddings_detic", DATA / "clip_vitb32_text_embeddings_detic"
    dst.mkdir(exist_ok=True)
    cats = sorted(json.loads((src / "lvis_v1_train_cat_info.json").read_text()), key=lambda c: c["id"])
    emb = np.load(src / "lvis_v1_clip_a+cname.npy")
    rows = [i for i, c in enumerate(cats) if i < LVIS_FIRST or c["name"] in LVIS_WORDS]
    assert {cats[i]["name"] for i in rows} >= set(LVIS_WORDS)
    np.save(dst / "lvis_v1_clip_a+cname.extract.npy", emb[rows])  # float16, as published
    names = [{"id": cats[i]["id"], "name": cats[i]["name"]} for i in rows]
    (dst / "lvis_v1_names.extract.json").write_text("[\n" + ",\n".join(json.dumps(n) for n in names) + "\n]\n")
    shutil.copyfile(src / "LICENSE.detic", dst / "LICENSE.detic")


def eo_learn_patch() -> None:
    src, dst = SHARED / "data" / "eo-learn_TestEOPatch", DATA / "eo-learn_TestEOPatch"
    dst.mkdir(exist_ok=True)
    times = json.loads((src / "timestamps.json").read_text())
    keep = [i for i, t in enumerate(times) if t.startswith(EO_YEAR)]
    ndvi = np.load(src / "data" / "NDVI.npy")[keep][(slice(None), *EO_WINDOW, 0)]
    clm = np.load(src / "mask" / "CLM.npy")[keep][(slice(None), *EO_WINDOW, 0)].astype(bool)
    np.savez_compressed(dst / "ndvi_clm_2017_window.npz", ndvi=ndvi, clm=clm, times=np.array([times[i] for i in keep]))
    shutil.copyfile(src / "LICENSE.eo-learn", dst / "LICENSE.eo-learn")


def presto_pixels() -> None:
    src, dst = SHARED / "data" / "presto", DATA / "presto"
    dst.mkdir(exist_ok=True)
    dn = np.load(src / "algae_blooms_s2_10band_timeseries.npz")["s2_dn"][:PRESTO_PIXELS]
    np.savez_compressed(dst / "algae_blooms_s2_dn_first300.npz", s2_dn=dn)  # float32, as published
    shutil.copyfile(src / "LICENSE.presto", dst / "LICENSE.presto")


def class_lists() -> None:
    dst = DATA / "timesenclip"
    dst.mkdir(exist_ok=True)
    shutil.copyfile(SHARED / "reference" / "class-lists.txt", dst / "class-lists.txt")


if __name__ == "__main__":
    stac_items()
    clip_text_embeddings()
    eo_learn_patch()
    presto_pixels()
    class_lists()
