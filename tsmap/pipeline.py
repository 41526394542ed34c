"""The mapping pipeline: embed an area once, score the embeddings many times, or predict in one pass.

* :func:`embed_area` — imagery -> composites -> embeddings, into a Zarr v3 store (``emb.zarr``).
* :func:`classify_embeddings` / :func:`scenic_embeddings` — a store + prompts -> maps, without
  touching imagery.
* :func:`predict` — both in one pass (the embeddings are kept only when asked).
* :func:`open_source` — the imagery side of all three: the items found, the grid, the encoder and
  the provenance every output records.

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

from ._version import __version__
from .encode import EncoderSpec
from .errors import InputError
from .geo import BBox, Grid
from .items import band_assets, check_href, prepare_item
from .plan import Plan, plan
from .overwrite import check_writable
from .plausibility import describe
from .prompts import PromptSet, load_prompts
from .retry import RetryPolicy
from .run import Deliverables, EmbeddingOutput, RunSummary, execute
from .scenic import ScenicPrompts
from .scorers import ClassScorer, ScenicScorer, stem_of
from .catalog import EARTH_SEARCH, SOURCES, Query, search
from .outputs import typed_value
from .specs import Preprocessing
from .store import RasterStore
from .tasks import TileTask
from .text import DEFAULT_MODEL, DEFAULT_PRETRAINED
from .tiles import default_tile, fit_tile, tile_grid


log = logging.getLogger("tsmap")

@dataclass(frozen=True)
class MapResult:
    """The files a run wrote and what went into them."""

    grid: Grid
    n_items: int
    outputs: tuple[str, ...]  #: every file written (COGs, STAC item, quicklook, embedding store)
    summary: RunSummary | None = None
    classes: tuple[str, ...] = ()
    class_map: str | None = None
    score_map: str | None = None  #: the confidence COG (score, probability, margin)
    scenic_map: str | None = None
    embeddings: str | None = None  #: the embedding store, when kept

    @property
    def quicklook(self) -> str | None:
        return next((p for p in self.outputs if p.endswith("_quicklook.png")), None)

    @property
    def maps(self) -> dict[str, str]:
        """The COGs written, by kind: ``class``, ``confidence``, ``scenic``."""
        return {k: v for k, v in (("class", self.class_map), ("confidence", self.score_map), ("scenic", self.scenic_map)) if v}

    def open(self, *, chunks: dict | None = None):
        """Every map layer as one lazy ``xarray.Dataset`` with CRS, class legend and provenance."""
        from .results import open_map

        return open_map(self.maps, chunks=chunks)

    def plot(self, layer: str | None = None, *, ax=None):
        """Draw ``layer`` (default: the class map, else scenicness) in the prompt set's colours, with a legend."""
        from .results import plot_map

        return plot_map(self.open(), layer, ax=ax)

    def _repr_html_(self) -> str:
        from .results import result_html

        h, w = self.grid.shape
        rows = [("grid", f"{w} x {h} px at {self.grid.resolution:g} m, EPSG:{self.grid.epsg}"), ("scenes", self.n_items)]
        rows += [(k, v) for k, v in self.maps.items()] + ([("classes", ", ".join(self.classes))] if self.classes else [])
        if self.summary is not None:
            rows.append(("tiles", f"{self.summary.tiles} ({self.summary.computed} computed, {self.summary.reused} reused, "
                                  f"{len(self.summary.missing)} missing)"))
        return result_html("tsmap MapResult", rows)


@dataclass(frozen=True)
class EmbedResult:
    path: str
    grid: Grid
    n_items: int
    summary: RunSummary | None
    item: str | None = None  #: the STAC item describing the store

    def open(self):
        """The embedding store as a lazy ``xarray.Dataset`` with its CRS (:func:`tsmap.open_embeddings`)."""
        from .store import open_embeddings

        return open_embeddings(self.path)


def embed_area(
    *, out: str | os.PathLike, bbox: BBox | None = None, year: int | None = None, grid: Grid | None = None,
    query: Query | None = None, stac: str = EARTH_SEARCH, checkpoint: str | None = None,
    encoder: EncoderSpec | None = None, device: str | None = None, encoding: str = "float16", tile: int | None = None,
    client=None, workers: int | None = None, allow_missing: bool = False, retry: RetryPolicy | None = None,
    progress: bool = True, aoi=None, max_skipped: int | None = None, allow_local_assets: bool = False,
    overwrite: bool = False,
) -> EmbedResult:
    """Write the per-pixel embedding cube of an AOI and year to the Zarr v3 store ``out``.

    ``aoi`` (a polygon file or :class:`tsmap.aoi.AOI`) limits the store to its polygons (no data outside).
    Unreadable assets are left out and recorded (``max_skipped``: stop after more than that many);
    ``allow_local_assets`` lets a remote catalog point at local files. An existing store at ``out`` is
    replaced only when it comes from the same run (resumed or up to date) or with ``overwrite`` (a tsmap
    store of another run); a folder tsmap did not write never is.
    """
    out = _output_path(out, ".zarr")
    spec = encoder or EncoderSpec(checkpoint, device=device)
    src = open_source(bbox=bbox, year=year, grid=grid, query=query, stac=stac, encoder=spec, retry=retry, aoi=_aoi(aoi),
                      allow_local_assets=allow_local_assets)
    size = tile or fit_tile(src.grid, default_tile(spec.device), _slots(client, workers))
    emb = EmbeddingOutput(out, src.dim, encoding)
    task = TileTask(src.grid, src.imagery, spec, embeddings=emb.partial, encoding=encoding)
    summary, _ = execute(
        task, tile_grid(src.grid, size), grid=src.grid, tile=size, ledger_path=f"{out}.ledger.jsonl",
        provenance={**src.provenance, "encoding": encoding}, embeddings=emb, period=src.period,
        client=client, workers=workers, allow_missing=allow_missing, max_skipped=max_skipped, progress=progress,
        label="embedding", input_files=_local_inputs(src.items, stac, spec.checkpoint, aoi), overwrite=overwrite,
        more_outputs=[_store_item_path(out)],
    )
    item = _store_item(out, src, encoding, summary)
    return EmbedResult(out, src.grid, len(src.items), summary, item)


def _store_item(out: str, src, encoding: str, summary: RunSummary) -> str:
    """``<stem>_item.json``: a STAC item for the embedding store (footprint, grid, period, provenance)."""
    from .outputs import write_stac_item

    asset = {"href": out, "type": "application/vnd+zarr", "roles": ["data"],
             "title": f"TimeSenCLIP pixel embeddings ({src.dim}-d, L2-normalised, {encoding})"}
    tags = {**src.provenance, "encoding": encoding, "missing_tiles": json.dumps(list(summary.missing)),
            "implausible_observations": describe(dict(summary.implausible))}
    return write_stac_item(_store_item_path(out), grid=src.grid, assets={"embeddings": asset}, provenance=tags,
                           start=src.period[0], end=src.period[1])


def _store_item_path(out: str) -> str:
    return f"{stem_of(out)}_item.json"


def classify_embeddings(
    *, embeddings: str | os.PathLike, prompts: str | PromptSet, out: str | os.PathLike,
    clip_model: str = DEFAULT_MODEL, clip_pretrained: str = DEFAULT_PRETRAINED, quicklook: bool = False,
    client=None, workers: int | None = None, progress: bool = True, allow_missing: bool = False, overwrite: bool = False,
) -> MapResult:
    """Map ``prompts`` from an embedding store, without touching imagery (the maps :func:`predict` makes).

    A tile whose chunk is missing from the store or cannot be decoded fails the run, naming it; with
    ``allow_missing`` it becomes nodata and is recorded."""
    prompt_set = prompts if isinstance(prompts, PromptSet) else load_prompts(prompts)
    out = _output_path(out, ".tif")
    store = _complete_store(embeddings)
    scorer = ClassScorer.build(prompt_set, clip_model=clip_model, clip_pretrained=clip_pretrained)
    inputs = _local_inputs((), store.path, prompts, clip_pretrained)
    return _score_store(store, [scorer], scorer.products(out), quicklook, client, workers, progress, allow_missing,
                        inputs, overwrite)


def scenic_embeddings(
    *, embeddings: str | os.PathLike, out: str | os.PathLike, prompts: str | ScenicPrompts = "illustrative",
    method: str = "early", min_prompts: int = 2, clip_model: str = DEFAULT_MODEL,
    clip_pretrained: str = DEFAULT_PRETRAINED, quicklook: bool = False, client=None, workers: int | None = None,
    progress: bool = True, allow_missing: bool = False, overwrite: bool = False,
) -> MapResult:
    """Scenicness (float32, 1-10) from an embedding store, with rated ``prompts`` (YAML, CSV or bundled name)."""
    out = _output_path(out, ".tif")
    store = _complete_store(embeddings)
    scorer = ScenicScorer.build(prompts, method=method, min_prompts=min_prompts, clip_model=clip_model, clip_pretrained=clip_pretrained)
    inputs = _local_inputs((), store.path, prompts, clip_pretrained)
    return _score_store(store, [scorer], scorer.products(out), quicklook, client, workers, progress, allow_missing,
                        inputs, overwrite)


def predict(
    *, prompts: str | PromptSet, out: str | os.PathLike, bbox: BBox | None = None, year: int | None = None,
    grid: Grid | None = None, stac: str = EARTH_SEARCH, query: Query | None = None, checkpoint: str | None = None,
    encoder: EncoderSpec | None = None, clip_model: str = DEFAULT_MODEL, clip_pretrained: str = DEFAULT_PRETRAINED,
    device: str | None = None, tile: int | None = None, keep_embeddings: str | os.PathLike | None = None,
    encoding: str = "float16", scenic: str | ScenicPrompts | None = None, scenic_method: str = "early",
    quicklook: bool = False, client=None, workers: int | None = None, allow_missing: bool = False,
    retry: RetryPolicy | None = None, progress: bool = True, aoi=None, max_skipped: int | None = None,
    allow_local_assets: bool = False, overwrite: bool = False,
) -> MapResult:
    """Map ``prompts`` over an AOI for one year: class COG ``out``, confidence COG ``*_score.tif``,
    with ``scenic`` prompts also ``*_scenic.tif``, a STAC item ``*_item.json`` (and ``*_quicklook.png``);
    the embeddings go to ``keep_embeddings`` if given.

    Give ``bbox`` and ``year`` (or a full ``query``); ``grid`` overrides the output grid (default:
    10 m in the UTM zone of the AOI centre). ``aoi`` (a polygon file or :class:`tsmap.aoi.AOI`) maps only
    inside its polygons (no data outside; its box is the default ``bbox``). ``client`` is a
    ``distributed.Client`` or a scheduler address; without it tiles run on ``workers`` threads here.
    Unreadable assets are left out and recorded (``max_skipped``: stop after more than that many);
    ``allow_local_assets`` lets a remote catalog point at local files. Existing files at the output
    paths are replaced only by the same run or with ``overwrite``, and never when they are inputs of the run.
    """
    prompt_set = prompts if isinstance(prompts, PromptSet) else load_prompts(prompts)
    out = _output_path(out, ".tif")
    keep = _output_path(keep_embeddings, ".zarr") if keep_embeddings else None
    spec = encoder or EncoderSpec(checkpoint, device=device)
    scorers = [ClassScorer.build(prompt_set, clip_model=clip_model, clip_pretrained=clip_pretrained)]
    products = scorers[0].products(out)
    if scenic is not None:
        scorers.append(ScenicScorer.build(scenic, method=scenic_method, clip_model=clip_model, clip_pretrained=clip_pretrained))
        products += scorers[1].products(f"{stem_of(out)}_scenic.tif")
    src = open_source(bbox=bbox, year=year, grid=grid, query=query, stac=stac, encoder=spec, retry=retry, aoi=_aoi(aoi),
                      allow_local_assets=allow_local_assets)
    _check_dims(src.dim, scorers)
    size = tile or fit_tile(src.grid, default_tile(spec.device), _slots(client, workers))
    emb = EmbeddingOutput(keep, src.dim, encoding) if keep else None
    task = TileTask(src.grid, src.imagery, spec, embeddings=emb.partial if emb else None, encoding=encoding, scorers=tuple(scorers))
    summary, written = execute(
        task, tile_grid(src.grid, size), grid=src.grid, tile=size, ledger_path=f"{out}.ledger.jsonl",
        provenance={**src.provenance, "encoding": encoding}, deliverables=Deliverables(products, prompt_set.names, quicklook),
        embeddings=emb, period=src.period, client=client, workers=workers, allow_missing=allow_missing,
        max_skipped=max_skipped, progress=progress, overwrite=overwrite,
        input_files=_local_inputs(src.items, stac, spec.checkpoint, aoi, prompts, scenic, clip_pretrained),
    )
    return _result(src.grid, len(src.items), written, summary, products, prompt_set.names, emb.path if emb else None)


def plan_area(
    *, bbox: BBox | None = None, year: int | None = None, grid: Grid | None = None, query: Query | None = None,
    stac: str = EARTH_SEARCH, checkpoint: str | None = None, encoder: EncoderSpec | None = None,
    tile: int | None = None, retry: RetryPolicy | None = None, aoi=None, workers: int | None = None,
    allow_local_assets: bool = False,
) -> Plan:
    """What :func:`predict` or :func:`embed_area` would do (items, pixels, tiles, time), computing nothing."""
    spec = encoder or EncoderSpec(checkpoint)
    src = open_source(bbox=bbox, year=year, grid=grid, query=query, stac=stac, encoder=spec, retry=retry, aoi=_aoi(aoi),
                      allow_local_assets=allow_local_assets)
    return plan(source=src, tile=tile or fit_tile(src.grid, default_tile(spec.device), _slots(None, workers)), workers=workers)


def _score_store(store: RasterStore, scorers: list, products: list, quicklook: bool, client, workers, progress,
                 allow_missing: bool = False, inputs=(), overwrite: bool = False) -> MapResult:
    _check_dims(store.group["embedding"].shape[0], scorers)
    meta = store.attrs["tsmap_provenance"]
    legend = scorers[0].legend()
    classes = list(legend.names) if legend is not None else None
    task = TileTask(store.grid, None, embeddings=os.path.abspath(store.path), scorers=tuple(scorers))
    summary, written = execute(
        task, store.tiles, grid=store.grid, tile=store.tile_size, ledger_path=f"{products[0].path}.ledger.jsonl",
        provenance={**meta, "embeddings": os.path.abspath(store.path),
                    "embeddings_missing_tiles": json.dumps(list(store.attrs.get("tsmap_missing_tiles", []))),
                    "embeddings_implausible_observations": describe(store.attrs.get("tsmap_implausible", {}))},
        deliverables=Deliverables(products, classes, quicklook), period=tuple(store.attrs.get("tsmap_period", (None, None))),
        client=client, workers=workers, allow_missing=allow_missing, progress=progress, label="scoring",
        input_files=inputs, overwrite=overwrite,
    )
    return _result(store.grid, len(typed_value(meta.get("items", "[]"))), written, summary, products, classes or ())


def _result(grid, n_items, written, summary, products, classes, embeddings=None) -> MapResult:
    by_layer = {p.layers[0]: p.path for p in products}
    confidence = next((p.path for p in products if "score" in p.layers), None)
    return MapResult(grid, n_items, tuple(written), summary, tuple(classes), by_layer.get("class"), confidence,
                     by_layer.get("scenic"), embeddings)


def _aoi(aoi):
    """An :class:`~tsmap.aoi.AOI` from a polygon file path (or as given)."""
    from .aoi import AOI, read_aoi

    return aoi if aoi is None or isinstance(aoi, AOI) else read_aoi(aoi)


def _slots(client, workers: int | None) -> int:
    """Tiles that can run at once: the local threads (a cluster's size is not known before it is reached)."""
    return 1 if client is not None else int(workers or os.cpu_count() or 1)


def _complete_store(path) -> RasterStore:
    store = RasterStore.open(path)
    if not store.attrs.get("complete"):
        raise InputError(f"embedding store {store.path!r} is incomplete; finish it by rerunning `tsmap embed` with the same options")
    return store


def _output_path(out: str | os.PathLike, suffix: str) -> str:
    """``out`` checked before any work: its folder exists and takes files, the name fits, a map is not a folder."""
    out = os.fspath(out)
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise InputError(f"output folder {folder!r} does not exist; create it or choose another --out")
    ok = (".tif", ".tiff") if suffix == ".tif" else (suffix,)
    if not out.rstrip("/" + os.sep).lower().endswith(ok):
        raise InputError(f"output {out!r} must end in {suffix}")
    if suffix == ".tif" and os.path.isdir(out):
        raise InputError(f"output {out!r} is a folder; give the map's file name (e.g. {os.path.join(out, 'map.tif')})")
    check_writable(folder)
    return out.rstrip("/" + os.sep) or out


def _local_inputs(items=(), *sources) -> list[str]:
    """The local files a run reads: its items' assets and the given paths (prompts, checkpoint, ...) that exist."""
    hrefs = [a.get_absolute_href() or a.href for it in items for a in it.assets.values()]
    paths = [h.removeprefix("file://") for h in hrefs if "://" not in h.removeprefix("file://")]
    paths += [os.fspath(s) for s in sources if isinstance(s, (str, os.PathLike))]
    return [p for p in paths if os.path.exists(p)]


def _check_dims(encoder_dim: int, scorers: list) -> None:
    for scorer in scorers:
        if encoder_dim != scorer.dim:
            raise InputError(
                f"the encoder makes {encoder_dim}-d embeddings but the text model makes {scorer.dim}-d ones; "
                "use the text model the checkpoint was aligned to (--clip-model)"
            )

# --- The imagery side of a run: search the items, fix the grid, describe the encoder and what to record ---


@dataclass(frozen=True)
class Imagery:
    """Everything needed to read and composite any tile of the AOI."""

    items: tuple  #: pystac Items found for the AOI
    grid: Grid  #: the whole output grid
    preprocessing: Preprocessing
    retry: RetryPolicy = RetryPolicy()
    aoi: object = None  #: a :class:`tsmap.aoi.AOI`: pixels outside its polygons are no data (never encoded)


@dataclass(frozen=True)
class Source:
    """What was found, on which grid, encoded by which model, and the provenance every output records."""

    items: tuple
    grid: Grid
    encoder: EncoderSpec
    dim: int  #: embedding size of the encoder
    imagery: Imagery
    provenance: dict
    period: tuple[str, str]  #: start and end of the query (ISO dates)


def open_source(*, bbox=None, year=None, grid=None, query=None, stac=EARTH_SEARCH, encoder: EncoderSpec, retry=None,
                aoi=None, allow_local_assets: bool = False) -> Source:
    """Search the imagery for an AOI and year (or ``query``) and load the encoder (once, in this process).

    ``aoi`` (a :class:`tsmap.aoi.AOI`) limits the outputs to its polygons; its box is the default ``bbox``.
    Asset hrefs of a remote catalog (a STAC API, a catalog URL) must be http(s) or object-store URLs;
    local files are read only from a local catalog, or with ``allow_local_assets`` (:func:`check_hrefs`).
    """
    if query is None:
        bbox = bbox or (aoi.bbox if aoi is not None else None)
        if bbox is None or year is None:
            raise InputError("give bbox and year (or a query) to map an area")
        query = Query.for_year(bbox, year)
    grid = grid or Grid.from_bbox(query.bbox)
    pixel_encoder = encoder.load()
    if encoder.checkpoint is None:
        log.warning(
            "no checkpoint given: the satellite encoder has RANDOM weights (seed %d); maps are meaningless. "
            "Pass --checkpoint (e.g. hf://pallavijainpj/TimeSenCLIP/TimeSenCLIP_1x1.ckpt) for real results",
            encoder.seed,
        )
    query = query.for_stac(stac)  # the collections searched, for the provenance
    items = tuple(search(query, stac=stac))
    for item in items:
        band_assets(item)  # a missing band is an input problem: say so now, before any tile runs
    check_hrefs(items, stac=stac, allow_local=allow_local_assets)
    log.info("found %d items; grid %s x %s px in EPSG:%d", len(items), *grid.shape, grid.epsg)
    prep = pixel_encoder.preprocessing
    hrefs = json.dumps([[it.id, sorted(a.href for a in it.assets.values())] for it in items])
    provenance = {
        "tsmap_version": __version__,
        "checkpoint": encoder.weights_id,
        "preprocessing": json.dumps(prep.to_dict(), sort_keys=True, default=str),
        "stac": stac,
        "query": query.describe(),
        "items": json.dumps([it.id for it in items]),
        "items_sha256": hashlib.sha256(hrefs.encode()).hexdigest(),
        "item_hrefs": json.dumps([it.get_self_href() for it in items]),
        "synthetic": "yes" if any(it.properties.get("tsmap:synthetic") for it in items) else "no",
        **({"aoi": aoi.geometry} if aoi is not None else {}),
    }
    imagery = Imagery(items, grid, prep, retry or RetryPolicy(), aoi)
    return Source(items, grid, encoder, pixel_encoder.out_dim, imagery, provenance, (query.start.isoformat(), query.end.isoformat()))


def check_hrefs(items, *, stac: str, allow_local: bool = False) -> None:
    """Refuse hrefs the catalog ``stac`` may not give (:func:`tsmap.items.check_href`)."""
    where = SOURCES.get(stac, stac)
    local_catalog = "://" not in where or where.lower().startswith("file://")
    for item in items:
        for band, asset in prepare_item(item)["assets"].items():
            check_href(asset["href"], item_id=item.id, band=band, catalog=stac, local_ok=local_catalog or allow_local)
