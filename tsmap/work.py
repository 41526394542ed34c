"""One resumable run: ledger, parts store, tiles, then the deliverables — or nothing, on failure.

:func:`execute` is shared by ``embed``, ``classify`` and ``predict``. Beside the main output it keeps
``<out>.ledger.jsonl`` and, while the run is unfinished, ``<out>.parts.zarr`` (per-tile map layers)
and ``<store>.partial`` (the embedding store being built). The same call again resumes them, and a
run that already completed is not redone.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass

from .ledger import FAILED, MISSING, Ledger
from .runner import RunSummary, run_tiles
from .store import RasterStore, Variable, consolidate, embedding_variables
from .tiles import Tile
from .write import Product

log = logging.getLogger("tsmap")


@dataclass(frozen=True)
class Deliverables:
    """The COGs a run makes (first: the main map), the class names of a class map, and a quicklook."""

    products: list[Product]
    classes: list[str] | None = None
    quicklook: bool = False


@dataclass(frozen=True)
class EmbeddingOutput:
    """An embedding store to build: written at ``<path>.partial``, moved to ``path`` when complete."""

    path: str
    dim: int
    encoding: str = "float16"

    @property
    def partial(self) -> str:
        return f"{self.path}.partial"

    def create(self, grid, tile: int, attrs: dict) -> None:
        RasterStore.create(self.partial, grid=grid, tile=tile, variables=embedding_variables(self.dim, self.encoding), attrs=attrs)

    def reopen(self, fingerprint: str) -> bool:
        """Resume from ``partial``, or from a finished store of the same run that had missing tiles."""
        if os.path.isdir(self.partial):
            return True
        if os.path.isdir(self.path):
            attrs = RasterStore.open(self.path).attrs
            if attrs.get("tsmap_fingerprint") == fingerprint and attrs.get("tsmap_missing_tiles"):
                os.replace(self.path, self.partial)
                return True
        return False

    def finalize(self, missing: tuple[str, ...]) -> None:
        store = RasterStore.open(self.partial, mode="r+")
        store.group.attrs.update({"complete": True, "tsmap_missing_tiles": list(missing)})
        for stray in glob.glob(os.path.join(self.partial, "**", "*.partial"), recursive=True):
            os.remove(stray)  # chunk writes cut short by a crash
        if os.path.exists(self.path):
            RasterStore.open(self.path)  # refuses to delete anything but a tsmap store
            shutil.rmtree(self.path)
        os.replace(self.partial, self.path)
        consolidate(self.path)


def execute(
    task, tiles: list[Tile], *, grid, tile: int, ledger_path: str, provenance: dict,
    deliverables: Deliverables | None = None, embeddings: EmbeddingOutput | None = None,
    period=(None, None), client=None, workers=None, allow_missing: bool = False, progress: bool = True,
    label: str = "mapping",
) -> tuple[RunSummary, list[str]]:
    """Run ``task`` over the tiles not yet done and deliver; returns the summary and the files written."""
    from .executor import make_executor

    products = deliverables.products if deliverables else []
    fingerprint = _fingerprint(provenance, grid, tile, products, embeddings)
    done_before = _up_to_date(ledger_path, fingerprint, allow_missing)
    if done_before is not None:
        log.info("%s is up to date (same inputs, run complete); nothing to do", ledger_path)
        return RunSummary(len(tiles), 0, len(tiles), tuple(done_before.tiles_with(MISSING)), sum(t.pixels for t in tiles), 0, 0.0), done_before.outputs
    parts_path = ledger_path.removesuffix(".ledger.jsonl") + ".parts.zarr"
    resumable = (not products or os.path.isdir(parts_path)) and (embeddings is None or embeddings.reopen(fingerprint))
    ledger = Ledger.open(ledger_path, fingerprint=fingerprint, tiles=len(tiles), resume=resumable)
    if ledger.resumed:
        log.info("resuming: %d of %d tiles already done (ledger %s)", sum(ledger.done(t.id) for t in tiles), len(tiles), ledger_path)
    parts = None
    if products:
        parts = RasterStore.open(parts_path, mode="r+") if ledger.resumed else RasterStore.create(
            parts_path, grid=grid, tile=tile, variables=_layers(products), attrs={"tsmap_fingerprint": fingerprint})
    if embeddings is not None and not ledger.resumed:
        embeddings.create(grid, tile, {"tsmap_provenance": provenance, "tsmap_period": list(period),
                                       "tsmap_fingerprint": fingerprint, "complete": False})
    todo = sum(not ledger.done(t.id) for t in tiles)
    executor = make_executor(client, workers=workers or max(1, min(os.cpu_count() or 1, todo)))
    try:
        summary = run_tiles(task, tiles, ledger=ledger, executor=executor, parts=parts,
                            allow_missing=allow_missing, progress=progress, label=label)
    except BaseException:
        if not any(ledger.done(t.id) for t in tiles):  # nothing worth resuming: leave no work files behind
            _remove(parts_path if products else None, embeddings.partial if embeddings else None,
                    None if ledger.tiles_with(FAILED) else ledger_path)  # a ledger naming failed tiles stays
        raise
    written = _deliver(summary, parts, deliverables, embeddings, provenance, tile, period)
    ledger.mark_complete(written, missing=list(summary.missing))
    if parts is not None and not summary.missing:  # kept while tiles are missing: a later run can fill them
        shutil.rmtree(parts_path)
    return summary, written


def _up_to_date(ledger_path: str, fingerprint: str, allow_missing: bool) -> Ledger | None:
    """The ledger of a completed identical run whose files are all there, else None."""
    old = Ledger.load(ledger_path)
    if old is None or old.fingerprint != fingerprint or not old.complete:
        return None
    if old.tiles_with(MISSING) and not allow_missing:
        return None  # this time the holes must be filled
    return old if all(os.path.exists(p) for p in old.outputs) else None


def _deliver(summary, parts, deliverables, embeddings, provenance, tile, period) -> list[str]:
    """Finish the embedding store, then write the COGs, the STAC item and the quicklook."""
    from .outputs import publish

    written = []
    if embeddings is not None:
        embeddings.finalize(summary.missing)
        written.append(embeddings.path)
    if deliverables is None or not deliverables.products:
        return written
    tags = {**provenance, "tile_size": tile, "tiles": summary.tiles, "missing_tiles": json.dumps(list(summary.missing)),
            "complete": "no: missing tiles are nodata" if summary.missing else "yes"}
    extra = {"embeddings": {"href": embeddings.path, "type": "application/vnd+zarr", "roles": ["data"]}} if embeddings else None
    return publish(parts, deliverables.products, tags=tags, classes=deliverables.classes, quicklook=deliverables.quicklook,
                   extra_assets=extra, period=period) + written


def _remove(*paths) -> None:
    for path in paths:
        if path and os.path.isdir(path):
            shutil.rmtree(path)
        elif path and os.path.exists(path):
            os.remove(path)


def _layers(products: list[Product]) -> dict[str, Variable]:
    return {layer: Variable(p.dtype, p.nodata) for p in products for layer in p.layers}


def _fingerprint(provenance: dict, grid, tile: int, products: list[Product], embeddings: EmbeddingOutput | None) -> str:
    what = {
        "provenance": provenance,
        "grid": [grid.epsg, list(grid.bounds), grid.resolution],
        "tile": tile,
        "products": [[os.path.abspath(p.path), list(p.layers), p.dtype, p.tags] for p in products],
        "embeddings": [os.path.abspath(embeddings.path), embeddings.encoding] if embeddings else None,
    }
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()
