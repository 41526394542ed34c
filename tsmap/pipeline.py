"""The mapping pipeline: embed an area once, classify the embeddings many times, or predict in one pass.

* :func:`embed_area` — imagery -> composites -> embeddings, into a Zarr v3 store (``emb.zarr``).
* :func:`classify_embeddings` — a store + prompts -> maps, without touching imagery.
* :func:`predict` — both in one pass (the embeddings are kept only when asked).

Work goes tile by tile (:mod:`tsmap.tiles`) on threads here or on a Dask cluster (``client``),
results go to disk as each tile finishes, a ledger beside the output records every tile
(:mod:`tsmap.ledger`), and the same call after a crash redoes only what is missing. Final files
appear only when complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass

from . import __version__
from .encoder_spec import EncoderSpec
from .errors import InputError
from .geo import BBox, Grid
from .plan import Plan, plan
from .prompts import PromptSet, load_prompts
from .retry import RetryPolicy
from .runner import RunSummary
from .scoring import ClassScorer, class_embeddings  # noqa: F401  (class_embeddings: public API)
from .search import EARTH_SEARCH, Query, search
from .store import RasterStore
from .tasks import Imagery, TileTask
from .text import DEFAULT_MODEL, DEFAULT_PRETRAINED
from .tiles import default_tile, tile_grid
from .work import Deliverables, EmbeddingOutput, execute

log = logging.getLogger("tsmap")


@dataclass(frozen=True)
class PredictResult:
    """Paths of the files written and what went into them."""

    class_map: str
    score_map: str
    grid: Grid
    n_items: int
    classes: tuple[str, ...]
    outputs: tuple[str, ...] = ()  #: every file written (COGs, STAC item, quicklook)
    summary: RunSummary | None = None
    embeddings: str | None = None  #: the embedding store, when kept


@dataclass(frozen=True)
class EmbedResult:
    path: str
    grid: Grid
    n_items: int
    summary: RunSummary | None


@dataclass(frozen=True)
class Source:
    """The imagery side of a run: what was found, on which grid, encoded by which model."""

    items: tuple
    grid: Grid
    encoder: EncoderSpec
    dim: int
    imagery: Imagery
    provenance: dict
    period: tuple[str, str]


def open_source(*, bbox=None, year=None, grid=None, query=None, stac=EARTH_SEARCH, encoder: EncoderSpec, retry=None) -> Source:
    """Search the imagery for an AOI and year (or ``query``) and load the encoder's description."""
    if query is None:
        if bbox is None or year is None:
            raise InputError("give bbox and year (or a query) to map an area")
        query = Query.for_year(bbox, year)
    grid = grid or Grid.from_bbox(query.bbox)
    pixel_encoder = encoder.load()
    if encoder.checkpoint is None:
        log.warning("no checkpoint given: the satellite encoder has RANDOM weights (%s); maps are meaningless", encoder.weights_id)
    items = tuple(search(query, stac=stac))
    log.info("found %d items; grid %s x %s px in EPSG:%d", len(items), *grid.shape, grid.epsg)
    prep = pixel_encoder.preprocessing
    hrefs = json.dumps([[it.id, sorted(a.href for a in it.assets.values())] for it in items])
    provenance = {
        "tsmap_version": __version__,
        "checkpoint": encoder.weights_id,
        "preprocessing": json.dumps(prep.to_dict(), sort_keys=True, default=str),
        "stac": stac,
        "query": query.describe(),
        "items": ",".join(it.id for it in items),
        "items_sha256": hashlib.sha256(hrefs.encode()).hexdigest(),
    }
    imagery = Imagery(items, grid, prep, retry or RetryPolicy())
    period = (query.start.isoformat(), query.end.isoformat())
    return Source(items, grid, encoder, pixel_encoder.out_dim, imagery, provenance, period)


def embed_area(
    *, out: str | os.PathLike, bbox: BBox | None = None, year: int | None = None, grid: Grid | None = None,
    query: Query | None = None, stac: str = EARTH_SEARCH, checkpoint: str | None = None,
    encoder: EncoderSpec | None = None, device: str | None = None, encoding: str = "float16", tile: int | None = None,
    client=None, workers: int | None = None, allow_missing: bool = False, retry: RetryPolicy | None = None,
    progress: bool = True,
) -> EmbedResult:
    """Write the per-pixel embedding cube of an AOI and year to the Zarr v3 store ``out``."""
    out = _output_path(out, ".zarr")
    spec = encoder or EncoderSpec(checkpoint, device=device)
    src = open_source(bbox=bbox, year=year, grid=grid, query=query, stac=stac, encoder=spec, retry=retry)
    size = tile or default_tile(spec.device)
    emb = EmbeddingOutput(out, src.dim, encoding)
    task = TileTask(src.grid, src.imagery, spec, embeddings=emb.partial, encoding=encoding)
    summary, _ = execute(
        task, tile_grid(src.grid, size), grid=src.grid, tile=size, ledger_path=f"{out}.ledger.jsonl",
        provenance={**src.provenance, "encoding": encoding}, embeddings=emb, period=src.period,
        client=client, workers=workers, allow_missing=allow_missing, progress=progress,
    )
    return EmbedResult(out, src.grid, len(src.items), summary)


def classify_embeddings(
    *, embeddings: str | os.PathLike, prompts: str | PromptSet, out: str | os.PathLike,
    clip_model: str = DEFAULT_MODEL, clip_pretrained: str = DEFAULT_PRETRAINED, quicklook: bool = False,
    client=None, workers: int | None = None, progress: bool = True,
) -> PredictResult:
    """Map ``prompts`` from an embedding store, without touching imagery (same maps as :func:`predict`)."""
    prompt_set = prompts if isinstance(prompts, PromptSet) else load_prompts(prompts)
    out = _output_path(out, ".tif")
    store = RasterStore.open(embeddings)
    if not store.attrs.get("complete"):
        raise InputError(f"embedding store {store.path!r} is incomplete; finish it by rerunning `tsmap embed` with the same options")
    scorer = ClassScorer.build(prompt_set, clip_model=clip_model, clip_pretrained=clip_pretrained)
    _check_dims(store.group["embedding"].shape[0], scorer.dim)
    meta = store.attrs["tsmap_provenance"]
    provenance = {**meta, **scorer.tags(), "embeddings": os.path.abspath(store.path), "scorer_sha256": scorer.fingerprint()}
    task = TileTask(store.grid, None, embeddings=os.path.abspath(store.path), scorers=(scorer,))
    products = scorer.products(out)
    summary, written = execute(
        task, store.tiles, grid=store.grid, tile=store.tile_size, ledger_path=f"{out}.ledger.jsonl",
        provenance=provenance, deliverables=Deliverables(products, scorer.prompts.names, quicklook),
        period=tuple(store.attrs.get("tsmap_period", (None, None))), client=client, workers=workers, progress=progress,
    )
    return PredictResult(products[0].path, products[1].path, store.grid, len(meta.get("items", "").split(",")),
                         tuple(prompt_set.names), tuple(written), summary)


def predict(
    *, prompts: str | PromptSet, out: str | os.PathLike, bbox: BBox | None = None, year: int | None = None,
    grid: Grid | None = None, stac: str = EARTH_SEARCH, query: Query | None = None, checkpoint: str | None = None,
    encoder: EncoderSpec | None = None, clip_model: str = DEFAULT_MODEL, clip_pretrained: str = DEFAULT_PRETRAINED,
    device: str | None = None, tile: int | None = None, keep_embeddings: str | os.PathLike | None = None,
    encoding: str = "float16", quicklook: bool = False, client=None, workers: int | None = None,
    allow_missing: bool = False, retry: RetryPolicy | None = None, progress: bool = True,
) -> PredictResult:
    """Map ``prompts`` over an AOI for one year: class COG ``out``, confidence COG ``*_score.tif``,
    STAC item ``*_item.json`` (and ``*_quicklook.png``); embeddings go to ``keep_embeddings`` if given.

    Give ``bbox`` and ``year`` (or a full ``query``); ``grid`` overrides the output grid (default:
    10 m in the UTM zone of the AOI centre). ``client`` is a ``distributed.Client`` or a scheduler
    address; without it tiles run on ``workers`` threads here.
    """
    prompt_set = prompts if isinstance(prompts, PromptSet) else load_prompts(prompts)
    out = _output_path(out, ".tif")
    keep = _output_path(keep_embeddings, ".zarr") if keep_embeddings else None
    spec = encoder or EncoderSpec(checkpoint, device=device)
    scorer = ClassScorer.build(prompt_set, clip_model=clip_model, clip_pretrained=clip_pretrained)
    src = open_source(bbox=bbox, year=year, grid=grid, query=query, stac=stac, encoder=spec, retry=retry)
    _check_dims(src.dim, scorer.dim)
    size = tile or default_tile(spec.device)
    emb = EmbeddingOutput(keep, src.dim, encoding) if keep else None
    task = TileTask(src.grid, src.imagery, spec, embeddings=emb.partial if emb else None, encoding=encoding, scorers=(scorer,))
    products = scorer.products(out)
    provenance = {**src.provenance, **scorer.tags(), "encoding": encoding, "scorer_sha256": scorer.fingerprint()}
    summary, written = execute(
        task, tile_grid(src.grid, size), grid=src.grid, tile=size, ledger_path=f"{out}.ledger.jsonl",
        provenance=provenance, deliverables=Deliverables(products, prompt_set.names, quicklook), embeddings=emb,
        period=src.period, client=client, workers=workers, allow_missing=allow_missing, progress=progress,
    )
    return PredictResult(products[0].path, products[1].path, src.grid, len(src.items), tuple(prompt_set.names),
                         tuple(written), summary, emb.path if emb else None)


def plan_area(
    *, bbox: BBox | None = None, year: int | None = None, grid: Grid | None = None, query: Query | None = None,
    stac: str = EARTH_SEARCH, checkpoint: str | None = None, encoder: EncoderSpec | None = None,
    tile: int | None = None, retry: RetryPolicy | None = None,
) -> Plan:
    """What :func:`predict` or :func:`embed_area` would do (items, pixels, tiles, time), computing nothing."""
    src = open_source(bbox=bbox, year=year, grid=grid, query=query, stac=stac, encoder=encoder or EncoderSpec(checkpoint), retry=retry)
    return plan(source=src, tile=tile)


def output_paths(out: str | os.PathLike) -> tuple[str, str]:
    """Class-map and score-map paths for ``out``; checks the folder exists before any work."""
    out = _output_path(out, ".tif")
    return out, f"{out[: out.rfind('.')]}_score.tif"


def _output_path(out: str | os.PathLike, suffix: str) -> str:
    out = os.fspath(out)
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise InputError(f"output folder {folder!r} does not exist; create it or choose another --out")
    ok = (".tif", ".tiff") if suffix == ".tif" else (suffix,)
    if not out.lower().endswith(ok):
        raise InputError(f"output {out!r} must end in {suffix}")
    return out


def _check_dims(encoder_dim: int, text_dim: int) -> None:
    if encoder_dim != text_dim:
        raise InputError(
            f"the encoder makes {encoder_dim}-d embeddings but the text model makes {text_dim}-d ones; "
            "use the text model the checkpoint was aligned to (--clip-model)"
        )
