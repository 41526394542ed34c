"""``predict``: imagery -> composites -> embeddings -> class scores -> COGs, as one pipeline."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass

import dask
import numpy as np

from . import __version__
from .checkpoint import load_encoder
from .composite import composite
from .encode import PixelEncoder, embed
from .errors import InputError
from .geo import BBox, Grid
from .load import DEFAULT_CHUNK, load_cube
from .prompts import PromptSet, load_prompts
from .score import CLASS_NODATA, classify, ensemble
from .search import EARTH_SEARCH, Query, search
from .text import DEFAULT_MODEL, DEFAULT_PRETRAINED, encode_texts, model_id
from .write import write_cog

log = logging.getLogger("tsmap")


@dataclass(frozen=True)
class PredictResult:
    """Paths of the files written and what went into them."""

    class_map: str
    score_map: str
    grid: Grid
    n_items: int
    classes: tuple[str, ...]


def class_embeddings(prompts: PromptSet, *, clip_model: str = DEFAULT_MODEL, clip_pretrained: str = DEFAULT_PRETRAINED) -> np.ndarray:
    """(K, D) ensembled, L2-normalised text embeddings of a prompt set's classes."""
    texts = prompts.texts()
    flat = encode_texts([t for group in texts for t in group], model=clip_model, pretrained=clip_pretrained)
    bounds = np.cumsum([0] + [len(g) for g in texts])
    return ensemble([flat[a:b] for a, b in zip(bounds[:-1], bounds[1:])])


def predict(
    *,
    prompts: str | PromptSet,
    out: str | os.PathLike,
    bbox: BBox | None = None,
    year: int | None = None,
    grid: Grid | None = None,
    stac: str = EARTH_SEARCH,
    query: Query | None = None,
    checkpoint: str | None = None,
    clip_model: str = DEFAULT_MODEL,
    clip_pretrained: str = DEFAULT_PRETRAINED,
    chunk: int = DEFAULT_CHUNK,
    device: str | None = None,
    precision: str = "auto",
    progress: bool = True,
) -> PredictResult:
    """Map ``prompts`` over an AOI for one year and write ``out`` (class map) + ``*_score.tif``.

    Give ``bbox`` and ``year`` (or a full ``query``); ``grid`` overrides the output grid
    (default: 10 m in the UTM zone of the AOI centre). ``precision`` is the encoder's: ``"auto"``
    (bf16 where the device runs it natively), ``"fp32"`` or ``"bf16"``.
    """
    prompt_set = prompts if isinstance(prompts, PromptSet) else load_prompts(prompts)
    class_path, score_path = output_paths(out)
    if query is None:
        if bbox is None or year is None:
            raise InputError("give bbox and year (or a query) to predict")
        query = Query.for_year(bbox, year)
    grid = grid or Grid.from_bbox(query.bbox)

    model, prep = load_encoder(checkpoint)
    classes = class_embeddings(prompt_set, clip_model=clip_model, clip_pretrained=clip_pretrained)
    items = search(query, stac=stac)
    log.info("found %d items; grid %s x %s px in EPSG:%d", len(items), *grid.shape, grid.epsg)

    cube = load_cube(items, grid, chunk=chunk, harmonise=prep.harmonise_offset)
    comp = composite(cube, prep.composite)
    emb = embed(comp["s2"], PixelEncoder(model, prep, device=device, precision=precision))
    result = classify(emb, classes)

    with _progress(progress), _torch_threads_for_dask(result["class"].data.npartitions):
        (class_arr, score_arr) = dask.compute(result["class"].data, result["score"].data)

    tags = {
        "tsmap_version": __version__,
        "prompts_name": prompt_set.name,
        "prompts_sha256": prompt_set.sha256(),
        "classes": ",".join(prompt_set.names),
        "text_model": model_id(clip_model, clip_pretrained),
        "checkpoint": os.path.basename(checkpoint) if checkpoint else "random-init",
        "stac": stac,
        "query": query.describe(),
        "items": ",".join(it.id for it in items),
    }
    write_cog(class_arr, class_path, grid, nodata=CLASS_NODATA, tags=tags, band_names=["class"])
    write_cog(score_arr, score_path, grid, nodata=np.nan, tags=tags, band_names=["top1_cosine"])
    return PredictResult(class_path, score_path, grid, len(items), tuple(prompt_set.names))


def output_paths(out: str | os.PathLike) -> tuple[str, str]:
    """Class-map and score-map paths for ``out``; checks the folder exists before any work."""
    out = os.fspath(out)
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise InputError(f"output folder {folder!r} does not exist; create it or choose another --out")
    if not out.lower().endswith((".tif", ".tiff")):
        raise InputError(f"--out {out!r} must end in .tif")
    stem = out[: out.rfind(".")]
    return out, f"{stem}_score.tif"


class _progress:
    def __init__(self, enabled: bool) -> None:
        self.bar = None
        if enabled:
            from dask.diagnostics import ProgressBar

            self.bar = ProgressBar(out=sys.stderr, dt=0.5)

    def __enter__(self):
        if self.bar:
            self.bar.__enter__()

    def __exit__(self, *exc):
        if self.bar:
            self.bar.__exit__(*exc)


class _torch_threads_for_dask:
    """Share the cores between dask threads and torch threads instead of oversubscribing them."""

    def __init__(self, n_tasks: int) -> None:
        cores = os.cpu_count() or 1
        self.threads = max(1, cores // max(1, min(n_tasks, cores)))

    def __enter__(self):
        import torch

        self.saved = torch.get_num_threads()
        torch.set_num_threads(self.threads)

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.saved)
