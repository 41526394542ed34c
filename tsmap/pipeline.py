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

import json
import logging
import os
from dataclasses import dataclass, replace

from .aoi import AOI, read_aoi
from .catalog import EARTH_SEARCH, SOURCES, Query, search
from .encode import EncoderSpec
from .errors import InputError
from .geo import BBox, Grid
from .items import band_assets, check_href, prepare_item
from .outputs import OutputPaths, write_stac_item
from .overwrite import check_writable
from .plan import Plan, plan
from .plausibility import describe
from .prompts import PromptSet, load_prompts
from .provenance import Provenance
from .results import open_map, plot_map, result_html
from .retry import RetryPolicy
from .run import Deliverables, EmbeddingOutput, RunSummary, execute
from .scenic import ScenicPrompts
from .scorers import CLASS_LAYER, CONFIDENCE_LAYERS, SCENIC_LAYER, ClassScorer, ScenicScorer
from .specs import Preprocessing
from .store import RasterStore, open_embeddings
from .tasks import TileTask
from .text_model import DEFAULT_MODEL, DEFAULT_PRETRAINED
from .tiles import default_tile, fit_tile, tile_grid

log = logging.getLogger("tsmap")


@dataclass(frozen=True)
class MapResult:
    """The files a run wrote and what went into them."""

    grid: Grid
    n_items: int  #: Sentinel-2 items (scenes) the maps were made from
    outputs: tuple[str, ...]  #: every file written (COGs, STAC item, quicklook, embedding store)
    summary: RunSummary | None = None
    classes: tuple[str, ...] = ()
    class_map: str | None = None
    score_map: str | None = None  #: the confidence COG (score, probability, margin)
    scenic_map: str | None = None
    embeddings: str | None = None  #: the embedding store, when kept

    @property
    def quicklook(self) -> str | None:
        main = self.class_map or self.scenic_map
        png = OutputPaths(main).quicklook if main else None
        return png if png in self.outputs else None

    @property
    def maps(self) -> dict[str, str]:
        """The COGs written, by kind: ``class``, ``confidence``, ``scenic``."""
        kinds = (("class", self.class_map), ("confidence", self.score_map), ("scenic", self.scenic_map))
        return {k: v for k, v in kinds if v}

    def open(self, *, chunks: dict | None = None):
        """Every map layer as one lazy ``xarray.Dataset`` with CRS, class legend and provenance."""
        return open_map(self.maps, chunks=chunks)

    def plot(self, layer: str | None = None, *, ax=None):
        """Draw ``layer`` (default: the class map, else scenicness) in the prompt set's colours, with a legend."""
        return plot_map(self.open(), layer, ax=ax)

    def _repr_html_(self) -> str:
        h, w = self.grid.shape
        rows = [
            ("grid", f"{w} x {h} px at {self.grid.resolution:g} m, EPSG:{self.grid.epsg}"),
            ("scenes", self.n_items),
        ]
        rows += [(k, v) for k, v in self.maps.items()] + (
            [("classes", ", ".join(self.classes))] if self.classes else []
        )
        if self.summary is not None:
            s = self.summary
            rows.append(("tiles", f"{s.tiles} ({s.computed} computed, {s.reused} reused, {len(s.missing)} missing)"))
        return result_html("tsmap MapResult", rows)


@dataclass(frozen=True)
class EmbedResult:
    """The embedding store a run wrote, on which grid, from how many scenes."""

    path: str
    grid: Grid
    n_items: int  #: Sentinel-2 items (scenes) the embeddings were made from
    summary: RunSummary | None
    item: str | None = None  #: the STAC item describing the store

    def open(self):
        """The embedding store as a lazy ``xarray.Dataset`` with its CRS (:func:`tsmap.open_embeddings`)."""
        return open_embeddings(self.path)


#: The parameters shared by the functions that read imagery, documented once (appended by :func:`_parameters`).
AREA_PARAMETERS = """
    bbox
        The area (:class:`~tsmap.geo.BBox`, lon/lat degrees), with ``year``; not with ``query``.
    year
        The calendar year to composite, with ``bbox``; not with ``query``.
    grid
        The output grid (default: 10 m in the UTM zone of the area's centre).
    query
        A full :class:`~tsmap.catalog.Query` (area, dates, cloud cover, collection) instead of ``bbox`` and
        ``year``.
    stac
        The catalog: a name from :data:`tsmap.catalog.SOURCES`, a STAC API URL or a static catalog's path.
    checkpoint
        Encoder weights (a file or an ``hf://`` address); None: random weights, and meaningless maps. Not with
        ``encoder``.
    encoder
        A full :class:`~tsmap.encode.EncoderSpec` (checkpoint, device, batch size, precision) instead of
        ``checkpoint`` and ``device``.
    device
        The encoder's torch device (default: CUDA when available, else the CPU). Not with ``encoder``.
    tile
        Tile side in pixels, the unit of work, storage and resumption (default: fitted to the grid and the
        workers).
    client
        A ``distributed.Client`` or a scheduler address; without it tiles run on ``workers`` threads here.
    workers
        Threads that run tiles here (default: one per CPU core, at most one per tile).
    allow_missing
        Write nodata where a tile's imagery cannot be read (and record it) instead of failing the run.
    retry
        Timeouts and retries of imagery reads (:class:`~tsmap.retry.RetryPolicy`; default: its defaults).
    progress
        Show a progress bar.
    aoi
        A polygon file or :class:`~tsmap.aoi.AOI`: pixels outside its polygons are no data; its box is the
        default ``bbox``.
    max_skipped
        Stop after more than this many unreadable assets were left out (default: no limit).
    allow_local_assets
        Let a remote catalog (a STAC API, a catalog URL) point at local files.
    overwrite
        Replace existing outputs of another run (the same run's are replaced anyway; inputs never are).
"""

#: The parameters shared by the functions that score an embedding store, documented once.
STORE_PARAMETERS = """
    embeddings
        A complete embedding store (from :func:`embed_area` or ``predict(keep_embeddings=...)``).
    clip_model, clip_pretrained
        The open_clip text model and its weights (a tag, a file, or ``"none"`` for a random tower): the one
        the encoder is aligned to.
    quicklook
        Also write ``<stem>_quicklook.png`` with a legend (or a colour bar).
    client
        A ``distributed.Client`` or a scheduler address; without it tiles run on ``workers`` threads here.
    workers
        Threads that run tiles here (default: one per CPU core).
    progress
        Show a progress bar.
    allow_missing
        Write nodata where the store lacks a tile or cannot decode it (and record it) instead of failing.
    overwrite
        Replace existing outputs of another run (the same run's are replaced anyway; inputs never are).
"""


def _parameters(shared: str):
    """Append the ``shared`` parameter descriptions to a function's own."""

    def add(function):
        function.__doc__ = function.__doc__.rstrip() + "\n" + shared
        return function

    return add


@_parameters(AREA_PARAMETERS)
def embed_area(
    *, out: str | os.PathLike, bbox: BBox | None = None, year: int | None = None, grid: Grid | None = None,
    query: Query | None = None, stac: str = EARTH_SEARCH, checkpoint: str | None = None,
    encoder: EncoderSpec | None = None, device: str | None = None, encoding: str = "float16", tile: int | None = None,
    client=None, workers: int | None = None, allow_missing: bool = False, retry: RetryPolicy | None = None,
    progress: bool = True, aoi=None, max_skipped: int | None = None, allow_local_assets: bool = False,
    overwrite: bool = False,
) -> EmbedResult:
    """Write the per-pixel embedding cube of an AOI and year to the Zarr v3 store ``out``.

    Unreadable assets are left out and recorded. An existing store at ``out`` is replaced only when it
    comes from the same run (resumed or up to date) or with ``overwrite`` (a tsmap store of another run);
    a folder tsmap did not write never is. A STAC item describing the store goes beside it. Conflicting
    arguments (``encoder`` with ``checkpoint`` or ``device``, ``query`` with ``bbox`` or ``year``) raise
    :class:`~tsmap.errors.InputError`.

    Parameters
    ----------
    out
        The store to write (a ``.zarr`` folder); its STAC item goes to ``<stem>_item.json``.
    encoding
        How the embeddings are stored: ``float16``, or ``int8`` with a scale per pixel.
    """
    paths = OutputPaths(_output_path(out, ".zarr"))
    spec = _encoder(encoder, checkpoint, device)
    src = open_source(bbox=bbox, year=year, grid=grid, query=query, stac=stac, encoder=spec, retry=retry, aoi=_aoi(aoi),
                      allow_local_assets=allow_local_assets)
    record = replace(src.provenance, encoding=encoding)
    size = tile or fit_tile(src.grid, default_tile(spec.device), _slots(client, workers))
    emb = EmbeddingOutput(paths.main, src.dim, encoding)
    task = TileTask(src.grid, src.imagery, spec, embeddings=emb.partial, encoding=encoding)
    summary, _ = execute(
        task, tile_grid(src.grid, size), grid=src.grid, tile=size, paths=paths, provenance=record.tags(),
        embeddings=emb, period=src.period, client=client, workers=workers, allow_missing=allow_missing,
        max_skipped=max_skipped, progress=progress, label="embedding", overwrite=overwrite,
        input_files=_local_inputs(src.items, stac, spec.checkpoint, aoi), more_outputs=[paths.item],
    )
    item = _store_item(paths, src, record, summary)
    return EmbedResult(path=paths.main, grid=src.grid, n_items=record.n_items, summary=summary, item=item)


def _store_item(paths: OutputPaths, src: Source, record: Provenance, summary: RunSummary) -> str:
    """``<stem>_item.json``: a STAC item for the embedding store (footprint, grid, period, provenance)."""
    asset = {"href": paths.main, "type": "application/vnd+zarr", "roles": ["data"],
             "title": f"TimeSenCLIP pixel embeddings ({src.dim}-d, L2-normalised, {record.encoding})"}
    tags = {**record.tags(), "missing_tiles": json.dumps(list(summary.missing)),
            "implausible_observations": describe(dict(summary.implausible))}
    return write_stac_item(paths.item, grid=src.grid, assets={"embeddings": asset}, provenance=tags,
                           start=src.period[0], end=src.period[1])


@_parameters(STORE_PARAMETERS)
def classify_embeddings(
    *,
    embeddings: str | os.PathLike,
    prompts: str | PromptSet,
    out: str | os.PathLike,
    clip_model: str = DEFAULT_MODEL,
    clip_pretrained: str = DEFAULT_PRETRAINED,
    quicklook: bool = False,
    client=None,
    workers: int | None = None,
    progress: bool = True,
    allow_missing: bool = False,
    overwrite: bool = False,
) -> MapResult:
    """Map ``prompts`` from an embedding store, without touching imagery (the maps :func:`predict` makes).

    A tile whose chunk is missing from the store or cannot be decoded fails the run, naming it; with
    ``allow_missing`` it becomes nodata and is recorded.

    Parameters
    ----------
    prompts
        A prompt set: a bundled name (``land-cover``), a YAML file or a :class:`~tsmap.prompts.PromptSet`.
    out
        The class map to write (``.tif``); the confidence layers go to ``<stem>_score.tif``, the STAC item to
        ``<stem>_item.json``.
    """
    prompt_set = prompts if isinstance(prompts, PromptSet) else load_prompts(prompts)
    paths = OutputPaths(_output_path(out, ".tif"))
    store = _complete_store(embeddings)
    scorer = ClassScorer.build(prompt_set, clip_model=clip_model, clip_pretrained=clip_pretrained)
    inputs = _local_inputs((), store.path, prompts, clip_pretrained)
    return _score_store(store, [scorer], scorer.products(paths), paths, quicklook, client, workers, progress,
                        allow_missing, inputs, overwrite)


@_parameters(STORE_PARAMETERS)
def scenic_embeddings(
    *, embeddings: str | os.PathLike, out: str | os.PathLike, prompts: str | ScenicPrompts = "illustrative",
    method: str = "early", min_prompts: int = 2, clip_model: str = DEFAULT_MODEL,
    clip_pretrained: str = DEFAULT_PRETRAINED, quicklook: bool = False, client=None, workers: int | None = None,
    progress: bool = True, allow_missing: bool = False, overwrite: bool = False,
) -> MapResult:
    """Scenicness (float32, 1-10) from an embedding store, with rated ``prompts``.

    Parameters
    ----------
    out
        The scenicness map to write (``.tif``); the STAC item goes to ``<stem>_item.json``.
    prompts
        Rated landscape prompts: a bundled name (``illustrative``), a YAML or CSV file, or
        :class:`~tsmap.scenic.ScenicPrompts`.
    method
        ``early`` (one softmax over all prompts) or ``late`` (one per rater, then their mean).
    min_prompts
        With ``late``: raters with fewer prompts are left out.
    """
    paths = OutputPaths(_output_path(out, ".tif"))
    store = _complete_store(embeddings)
    scorer = ScenicScorer.build(prompts, method=method, min_prompts=min_prompts, clip_model=clip_model,
                                clip_pretrained=clip_pretrained)
    inputs = _local_inputs((), store.path, prompts, clip_pretrained)
    return _score_store(store, [scorer], scorer.products(paths.main), paths, quicklook, client, workers, progress,
                        allow_missing, inputs, overwrite)


@_parameters(AREA_PARAMETERS)
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
    """Map ``prompts`` over an AOI for one year, in one pass from imagery to maps.

    Writes the class COG ``out``, the confidence COG ``<stem>_score.tif``, with ``scenic`` prompts also
    ``<stem>_scenic.tif``, a STAC item ``<stem>_item.json`` (and ``<stem>_quicklook.png``). Unreadable
    assets are left out and recorded. Existing files at the output paths are replaced only by the same run
    or with ``overwrite``, and never when they are inputs of the run. Conflicting arguments (``encoder``
    with ``checkpoint`` or ``device``, ``query`` with ``bbox`` or ``year``) raise
    :class:`~tsmap.errors.InputError`.

    Parameters
    ----------
    prompts
        A prompt set: a bundled name (``land-cover``), a YAML file or a :class:`~tsmap.prompts.PromptSet`.
    out
        The class map to write (``.tif``).
    clip_model, clip_pretrained
        The open_clip text model and its weights (a tag, a file, or ``"none"`` for a random tower): the one
        the encoder is aligned to.
    keep_embeddings
        Also keep the embeddings in this Zarr store (``.zarr``), to score them again without imagery.
    encoding
        How kept embeddings are stored: ``float16``, or ``int8`` with a scale per pixel.
    scenic
        Also map scenicness with these rated prompts (a bundled name, a YAML or CSV file, ScenicPrompts).
    scenic_method
        How the scenic ratings combine: ``early`` or ``late``.
    quicklook
        Also write ``<stem>_quicklook.png`` with a legend.
    """
    prompt_set = prompts if isinstance(prompts, PromptSet) else load_prompts(prompts)
    paths = OutputPaths(_output_path(out, ".tif"))
    keep = _output_path(keep_embeddings, ".zarr") if keep_embeddings else None
    spec = _encoder(encoder, checkpoint, device)
    _check_query(query, bbox, year)
    scorers = [ClassScorer.build(prompt_set, clip_model=clip_model, clip_pretrained=clip_pretrained)]
    products = scorers[0].products(paths)
    if scenic is not None:
        scorers.append(ScenicScorer.build(scenic, method=scenic_method, clip_model=clip_model,
                                          clip_pretrained=clip_pretrained))
        products += scorers[1].products(paths.scenic)
    src = open_source(bbox=bbox, year=year, grid=grid, query=query, stac=stac, encoder=spec, retry=retry, aoi=_aoi(aoi),
                      allow_local_assets=allow_local_assets)
    _check_dims(src.dim, scorers)
    size = tile or fit_tile(src.grid, default_tile(spec.device), _slots(client, workers))
    emb = EmbeddingOutput(keep, src.dim, encoding) if keep else None
    task = TileTask(src.grid, src.imagery, spec, embeddings=emb.partial if emb else None, encoding=encoding,
                    scorers=tuple(scorers))
    inputs = _local_inputs(src.items, stac, spec.checkpoint, aoi, prompts, scenic, clip_pretrained)
    summary, written = execute(
        task, tile_grid(src.grid, size), grid=src.grid, tile=size, paths=paths,
        provenance=replace(src.provenance, encoding=encoding).tags(),
        deliverables=Deliverables(products, prompt_set.names, quicklook), embeddings=emb, period=src.period,
        client=client, workers=workers, allow_missing=allow_missing, max_skipped=max_skipped, progress=progress,
        overwrite=overwrite, input_files=inputs,
    )
    return _result(src.grid, src.provenance.n_items, written, summary, products, prompt_set.names,
                   emb.path if emb else None)


def plan_area(
    *, bbox: BBox | None = None, year: int | None = None, grid: Grid | None = None, query: Query | None = None,
    stac: str = EARTH_SEARCH, checkpoint: str | None = None, encoder: EncoderSpec | None = None,
    tile: int | None = None, retry: RetryPolicy | None = None, aoi=None, workers: int | None = None,
    allow_local_assets: bool = False,
) -> Plan:
    """What :func:`predict` or :func:`embed_area` would do (items, pixels, tiles, time), computing nothing.

    The encoder is loaded to time it on this machine.

    Parameters
    ----------
    bbox, year, grid, query, stac, checkpoint, encoder, tile, retry, aoi, workers, allow_local_assets
        As for :func:`predict` (the same conflicts raise :class:`~tsmap.errors.InputError`).
    """
    spec = _encoder(encoder, checkpoint, None)
    src = open_source(bbox=bbox, year=year, grid=grid, query=query, stac=stac, encoder=spec, retry=retry, aoi=_aoi(aoi),
                      allow_local_assets=allow_local_assets)
    size = tile or fit_tile(src.grid, default_tile(spec.device), _slots(None, workers))
    return plan(source=src, tile=size, workers=workers)


def _score_store(store: RasterStore, scorers: list, products: list, paths: OutputPaths, quicklook: bool, client,
                 workers, progress, allow_missing: bool = False, inputs=(), overwrite: bool = False) -> MapResult:
    _check_dims(store.group["embedding"].shape[0], scorers)
    meta = store.attrs["tsmap_provenance"]  # the store's record (Provenance.tags()), passed on as written
    legend = scorers[0].legend()
    classes = list(legend.names) if legend is not None else None
    task = TileTask(store.grid, None, embeddings=os.path.abspath(store.path), scorers=tuple(scorers))
    summary, written = execute(
        task, store.tiles, grid=store.grid, tile=store.tile_size, paths=paths,
        provenance={**meta, "embeddings": os.path.abspath(store.path),
                    "embeddings_missing_tiles": json.dumps(list(store.attrs.get("tsmap_missing_tiles", []))),
                    "embeddings_implausible_observations": describe(store.attrs.get("tsmap_implausible", {}))},
        deliverables=Deliverables(products, classes, quicklook),
        period=tuple(store.attrs.get("tsmap_period", (None, None))), client=client, workers=workers,
        allow_missing=allow_missing, progress=progress, label="scoring", input_files=inputs, overwrite=overwrite,
    )
    return _result(store.grid, Provenance.from_tags(meta).n_items, written, summary, products, classes or ())


def _result(grid, n_items, written, summary, products, classes, embeddings=None) -> MapResult:
    by_layer = {p.layers[0]: p.path for p in products}
    confidence = next((p.path for p in products if p.layers == CONFIDENCE_LAYERS), None)
    return MapResult(grid=grid, n_items=n_items, outputs=tuple(written), summary=summary, classes=tuple(classes),
                     class_map=by_layer.get(CLASS_LAYER), score_map=confidence, scenic_map=by_layer.get(SCENIC_LAYER),
                     embeddings=embeddings)


def _encoder(encoder: EncoderSpec | None, checkpoint, device) -> EncoderSpec:
    """The encoder to run: ``encoder`` as given, or one made from ``checkpoint`` and ``device`` (never both)."""
    if encoder is None:
        return EncoderSpec(checkpoint, device=device)
    given = [name for name, value in (("checkpoint", checkpoint), ("device", device)) if value is not None]
    if given:
        names = " and ".join(given)
        raise InputError(f"encoder and {names} were both given, but the EncoderSpec names its own checkpoint and "
                         f"device; drop {names}= or set it in EncoderSpec(...)")
    return encoder


def _check_query(query: Query | None, bbox, year) -> None:
    """``query`` holds the area and the dates: ``bbox`` or ``year`` beside it would be ignored, so they are refused."""
    given = [name for name, value in (("bbox", bbox), ("year", year)) if value is not None]
    if query is not None and given:
        names = " and ".join(given)
        raise InputError(f"query and {names} were both given, but the query holds its own area and dates; "
                         f"drop {names}= or build the query from them (Query.for_year(bbox, year))")


def _aoi(aoi):
    """An :class:`~tsmap.aoi.AOI` from a polygon file path (or as given)."""
    return aoi if aoi is None or isinstance(aoi, AOI) else read_aoi(aoi)


def _slots(client, workers: int | None) -> int:
    """Tiles that can run at once: the local threads (a cluster's size is not known before it is reached)."""
    return 1 if client is not None else int(workers or os.cpu_count() or 1)


def _complete_store(path) -> RasterStore:
    store = RasterStore.open(path)
    if not store.attrs.get("complete"):
        raise InputError(f"embedding store {store.path!r} is incomplete; finish it by rerunning `tsmap embed` with the "
                         "same options")
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
    provenance: Provenance  #: what every output records about the imagery and the encoder
    period: tuple[str, str]  #: start and end of the query (ISO dates)


def open_source(*, bbox: BBox | None = None, year: int | None = None, grid: Grid | None = None,
                query: Query | None = None, stac: str = EARTH_SEARCH, encoder: EncoderSpec,
                retry: RetryPolicy | None = None, aoi: AOI | None = None, allow_local_assets: bool = False) -> Source:
    """Search the imagery for an AOI and year (or ``query``) and load the encoder (once, in this process).

    Asset hrefs of a remote catalog (a STAC API, a catalog URL) must be http(s) or object-store URLs;
    local files are read only from a local catalog, or with ``allow_local_assets`` (:func:`check_hrefs`).

    Parameters
    ----------
    bbox, year, grid, query, stac, retry, allow_local_assets
        As for :func:`predict` (``query`` with ``bbox`` or ``year`` raises :class:`~tsmap.errors.InputError`).
    encoder
        The encoder to load (:class:`~tsmap.encode.EncoderSpec`).
    aoi
        An :class:`~tsmap.aoi.AOI` that limits the outputs to its polygons; its box is the default ``bbox``.
    """
    _check_query(query, bbox, year)
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
    provenance = Provenance.of(items, checkpoint=encoder.weights_id, preprocessing=prep.to_dict(), stac=stac,
                               query=query.describe(), aoi=aoi.geometry if aoi is not None else None)
    imagery = Imagery(items=items, grid=grid, preprocessing=prep, retry=retry or RetryPolicy(), aoi=aoi)
    return Source(items=items, grid=grid, encoder=encoder, dim=pixel_encoder.out_dim, imagery=imagery,
                  provenance=provenance, period=(query.start.isoformat(), query.end.isoformat()))


def check_hrefs(items, *, stac: str, allow_local: bool = False) -> None:
    """Refuse hrefs the catalog ``stac`` may not give (:func:`tsmap.items.check_href`)."""
    where = SOURCES.get(stac, stac)
    local_catalog = "://" not in where or where.lower().startswith("file://")
    for item in items:
        for band, asset in prepare_item(item)["assets"].items():
            check_href(asset["href"], item_id=item.id, band=band, catalog=stac, local_ok=local_catalog or allow_local)
