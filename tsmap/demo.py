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

from .encode import EncoderSpec
from .errors import InputError
from .synthetic import DemoScene, make_scene
from .pipeline import MapResult, predict
from .catalog import Query

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
    _check_folder(out_dir)
    if size < 32 or size % 2:
        raise InputError(f"demo size must be an even number of pixels >= 32, got {size}")
    if checkpoint is not None:
        EncoderSpec(checkpoint).load()  # a bad checkpoint fails before the scene is written (and stays cached)
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
        overwrite=True,  # the folder is the demo's own (checked above); a rerun may train a different model
    )
    return DemoResult(scene, result, trained, map_accuracy(result.class_map, scene.truth), checkpoint)


def _check_folder(out_dir: str) -> None:
    """The demo writes into a new folder, an empty one, or the folder of an earlier demo; nothing else."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise InputError(f"demo --out {out_dir!r} is a file; give a folder (it is created if missing)")
    earlier = os.path.exists(os.path.join(out_dir, "stac", "catalog.json"))
    if os.path.isdir(out_dir) and os.listdir(out_dir) and not earlier:
        raise InputError(f"demo --out {out_dir!r} is not empty and holds no earlier demo; give a new or empty folder")


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
