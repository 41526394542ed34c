"""``tsmap demo``: make the synthetic scene, then map it with the same code path as ``predict``.

When the training package (``tsmap_train``) is installed, the demo first trains a small encoder on
synthetic cross-view data of the demo classes (about a minute on CPU) and maps with it; tsmap
finds that trainer through the entry-point group ``tsmap.demo_trainer`` and never imports it.
Without a trainer or checkpoint the encoder has random weights.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np

from .synthetic import DemoScene, make_scene
from .pipeline import MapResult, predict
from .search import Query

log = logging.getLogger("tsmap")


@dataclass(frozen=True)
class DemoResult:
    scene: DemoScene
    predict: MapResult
    trained: bool = False  #: the encoder was trained on synthetic data for this demo
    accuracy: float | None = None  #: fraction of valid pixels whose class matches the synthetic truth
    checkpoint: str | None = None  #: the encoder weights used (None = random)


def run_demo(out_dir: str, *, size: int = 256, checkpoint: str | None = None, clip_pretrained: str = "none",
             progress: bool = True, train: bool = True, trainer=None) -> DemoResult:
    """Write the synthetic scene into ``out_dir`` and the maps as ``out_dir/map.tif``.

    With ``train`` and no ``checkpoint``, ``trainer`` (default: the installed demo trainer, if any)
    is called as ``trainer(folder, clip_pretrained=...)`` and returns the checkpoint to map with.
    """
    os.makedirs(out_dir, exist_ok=True)
    scene = make_scene(out_dir, size=size)
    trained = False
    if checkpoint is None and train:
        trainer = trainer or find_demo_trainer()
        if trainer is not None:
            checkpoint, trained = trainer(os.path.join(out_dir, "model"), clip_pretrained=clip_pretrained), True
    result = predict(
        prompts="land-cover",
        out=os.path.join(out_dir, "map.tif"),
        query=Query.for_year(scene.grid.lonlat_bbox(), scene.year),
        grid=scene.grid,
        stac=scene.catalog,
        checkpoint=checkpoint,
        clip_pretrained=clip_pretrained,
        progress=progress,
        quicklook=True,
    )
    return DemoResult(scene, result, trained, map_accuracy(result.class_map, scene.truth), checkpoint)


def find_demo_trainer():
    """The demo trainer another package declares under ``tsmap.demo_trainer``, or None."""
    from importlib.metadata import entry_points

    for ep in entry_points(group="tsmap.demo_trainer"):
        try:
            return ep.load()
        except Exception as exc:  # a broken plugin must not break the demo
            log.warning("cannot load demo trainer %s (%s); the demo uses random weights", ep.value, exc)
    return None


def map_accuracy(class_map: str, truth: str) -> float:
    """Fraction of pixels with a truth class (not 255) whose mapped class equals it."""
    import rasterio

    with rasterio.open(class_map) as f:
        mapped = f.read(1)
    with rasterio.open(truth) as f:
        expected = f.read(1)
    valid = expected != 255
    return float(np.mean(mapped[valid] == expected[valid])) if valid.any() else float("nan")
