"""``tsmap demo``: make the synthetic scene, then map it with the same code path as ``predict``."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .synthetic import DemoScene, make_scene
from .pipeline import PredictResult, predict
from .search import Query


@dataclass(frozen=True)
class DemoResult:
    scene: DemoScene
    predict: PredictResult


def run_demo(out_dir: str, *, size: int = 256, checkpoint: str | None = None, clip_pretrained: str = "none", progress: bool = True) -> DemoResult:
    """Write the synthetic scene into ``out_dir`` and the maps as ``out_dir/map.tif``."""
    os.makedirs(out_dir, exist_ok=True)
    scene = make_scene(out_dir, size=size)
    result = predict(
        prompts="land-cover",
        out=os.path.join(out_dir, "map.tif"),
        query=Query.for_year(scene.grid.lonlat_bbox(), scene.year),
        grid=scene.grid,
        stac=scene.catalog,
        checkpoint=checkpoint,
        clip_pretrained=clip_pretrained,
        progress=progress,
    )
    return DemoResult(scene, result)
