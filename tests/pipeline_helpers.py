"""Shared pieces of the pipeline tests: a small seeded encoder and one-call runs on the demo scene."""

from __future__ import annotations

import numpy as np
import rasterio

from tsmap.encode import EncoderSpec
from tsmap.model import EncoderConfig
from tsmap.catalog import Query

#: A small seeded encoder whose embeddings have the text tower's width (512), so prompts score.
SMALL = EncoderSpec(config=EncoderConfig(dim=32, depth=1, heads=4, mlp_dim=16, out_dim=512), seed=0, device="cpu")
TILE = 32


def scene_query(scene) -> Query:
    return Query.for_year(scene.grid.lonlat_bbox(), scene.year)


def predict_scene(scene, out, **kw):
    """``tsmap.predict`` on the demo scene with the small encoder, a random text tower and 32 px tiles."""
    from tsmap.pipeline import predict

    args = dict(prompts="land-cover", out=str(out), query=scene_query(scene), grid=scene.grid, stac=scene.catalog,
                encoder=SMALL, clip_pretrained="none", tile=TILE, progress=False)
    return predict(**{**args, **kw})


def read(path) -> np.ndarray:
    with rasterio.open(path) as f:
        return f.read()


def same_maps(a, b) -> bool:
    return np.array_equal(read(a), read(b), equal_nan=True)
