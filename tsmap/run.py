"""One resumable run: ledger, parts store, tiles, then the deliverables — or nothing, on failure.

:func:`execute` is shared by ``embed``, ``classify`` and ``predict``. Beside the main output it keeps
``<out>.ledger.jsonl`` and, while the run is unfinished, ``<out>.parts.zarr`` (per-tile map layers)
and ``<store>.partial`` (the embedding store being built); :class:`tsmap.outputs.OutputPaths` names
them all. The same call again resumes them, and a run that already completed is not redone.

Faults cost the least work possible: ``<out>.lock`` keeps a second run off the same output
(:mod:`tsmap.lock`); a run resumes only when its inputs are the same, down to each asset's size and
time or ETag (:mod:`tsmap.stamps`), and otherwise says what changed; it starts only when the disk
has room for it, and a disk that fills up anyway, Ctrl-C or SIGTERM stop it with one line saying
what was kept. The final files are staged in a hidden folder beside them and appear together, or
not at all. Only folders and files that carry tsmap's marks are ever deleted.

The tile loop, :func:`run_tiles`, runs a tile task over every tile not yet done and records each
outcome in the ledger. Tiles go to the executor a few at a time (memory stays bounded by the tiles in flight); each
finished tile's layers are written to the parts store *before* the ledger says ``done``, so a
crash at any moment loses at most the tiles then in flight. Assets a tile had to leave out are
recorded with it (``skipped``); more than ``max_skipped`` of them in the run stop it. A tile whose
input cannot be read even after retries is recorded as ``failed`` and the run goes on with the
others; any other error stops the run at once. At the end, failed tiles either become ``missing``
(``allow_missing``: nodata there, and recorded) or stop the run with an error naming them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass

from ._files import atomic_path
from .errors import DataError, InputError, Interrupted
from .executor import make_executor
from .ledger import DONE, FAILED, MISSING, Ledger
from .lock import OutputLock
from .outputs import OutputPaths, publish
from .overwrite import check_outputs
from .plausibility import describe
from .retry import ReadFailure
from .space import check_free_space, disk_full, embedding_bytes, is_disk_full, run_bytes
from .stamps import asset_stamps, changed_assets, changes, digest
from .store import RasterStore, Variable, consolidate, embedding_variables
from .tiles import Tile
from .write import Product

log = logging.getLogger("tsmap")

#: File inside a delivery staging folder that marks it as tsmap's.
STAGE_MARK = ".tsmap-stage"
#: Names of the scratch files :func:`tsmap.write.write_cog_blocks` leaves when killed mid-write.
COG_SCRATCH = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{8}\.(blocks|cog)\.tmp$")


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
        return OutputPaths(self.path).partial

    def create(self, grid, tile: int, attrs: dict) -> None:
        _create_store(
            self.partial, grid=grid, tile=tile, variables=embedding_variables(self.dim, self.encoding), attrs=attrs
        )

    def reopen(self, fingerprint: str) -> bool:
        """Resume from ``partial``, or from a finished store of the same run (redelivered, or with missing tiles)."""
        partial = _work_store(self.partial)
        if partial is not None:
            return partial.attrs.get("tsmap_fingerprint") == fingerprint
        if os.path.isdir(self.path):
            attrs = RasterStore.open(self.path).attrs
            if attrs.get("tsmap_fingerprint") == fingerprint:
                os.replace(self.path, self.partial)
                return True
        return False

    def finalize(self, missing: tuple[str, ...], implausible: dict[str, int] | None = None) -> None:
        store = RasterStore.open(self.partial, mode="r+")
        store.group.attrs.update({"complete": True, "tsmap_missing_tiles": list(missing),
                                  "tsmap_implausible": dict(implausible or {})})
        for stray in _files_under(self.partial, ".partial"):
            os.remove(stray)  # chunk writes cut short by a crash
        if os.path.exists(self.path):
            RasterStore.open(self.path)  # refuses to delete anything but a tsmap store
            shutil.rmtree(self.path)
        os.replace(self.partial, self.path)
        consolidate(self.path)


def execute(
    task, tiles: list[Tile], *, grid, tile: int, paths: OutputPaths, provenance: dict,
    deliverables: Deliverables | None = None, embeddings: EmbeddingOutput | None = None,
    period=(None, None), client=None, workers=None, allow_missing: bool = False, max_skipped: int | None = None,
    progress: bool = True, label: str = "mapping", input_files=(), overwrite: bool = False, more_outputs=(),
) -> tuple[RunSummary, list[str]]:
    """Run ``task`` over the tiles not yet done and deliver; returns the summary and the files written.

    ``paths`` are the files of the main output (its ledger, parts and lock beside it).

    Files already at the output paths (and ``more_outputs``, which the caller writes) are replaced only by
    the same run (same fingerprint: resumed, redone or up to date) or with ``overwrite``, and never when
    they are among ``input_files`` (see :mod:`tsmap.overwrite`).
    """
    out = paths.main
    locks = [out] + ([embeddings.path] if embeddings is not None and embeddings.path != out else [])
    with contextlib.ExitStack() as stack:
        for path in sorted(locks):
            stack.enter_context(OutputLock(path))
        run = Run(task, tiles, grid, tile, paths, provenance, deliverables, embeddings, period)
        same_run = run.old is not None and run.old.fingerprint == run.fingerprint
        check_outputs(_output_paths(deliverables, embeddings) + list(more_outputs), inputs=input_files,
                      same_run=same_run, overwrite=overwrite)
        done_before = run.up_to_date(allow_missing)
        if done_before is not None:
            log.info("%s is up to date (same inputs, run complete); nothing to do", paths.ledger)
            summary = RunSummary(
                tiles=len(tiles), computed=0, reused=len(tiles), missing=tuple(done_before.tiles_with(MISSING)),
                pixels=sum(t.pixels for t in tiles), computed_pixels=0, seconds=0.0,
                skipped=tuple(done_before.skipped_assets()), implausible=done_before.implausible_tiles())
            return summary, done_before.outputs
        return run.go(
            client=client,
            workers=workers,
            allow_missing=allow_missing,
            max_skipped=max_skipped,
            progress=progress,
            label=label,
        )


class Run:
    """The state of one :func:`execute` call: what it is (fingerprint, inputs) and its work files."""

    def __init__(self, task, tiles, grid, tile, paths: OutputPaths, provenance, deliverables, embeddings,
                 period) -> None:
        self.task, self.tiles, self.grid, self.tile = task, tiles, grid, tile
        self.ledger_path, self.provenance, self.period = paths.ledger, provenance, period
        self.deliverables, self.embeddings = deliverables, embeddings
        self.products = deliverables.products if deliverables else []
        self.parts_path = paths.parts
        self.inputs = _inputs(task, provenance, grid, tile, self.products, embeddings)
        self.fingerprint = hashlib.sha256(json.dumps(self.inputs["parts"], sort_keys=True).encode()).hexdigest()
        self.old = Ledger.load(self.ledger_path)
        self.ledger: Ledger | None = None
        self.needed = 0

    def same_inputs(self, old: Ledger | None) -> bool:
        return (old is not None and old.fingerprint == self.fingerprint
                and not changed_assets(old.inputs.get("stamps", {}), self.inputs["stamps"]))

    def up_to_date(self, allow_missing: bool) -> Ledger | None:
        """The ledger of a completed identical run whose files are all there, else None."""
        old = self.old
        if old is None or not old.complete:
            return None
        if not self.same_inputs(old):
            log.info(
                "%s was made from other inputs (%s changed); making it again",
                old.path,
                changes(old.inputs, self.inputs),
            )
            return None
        if old.tiles_with(MISSING) and not allow_missing:
            return None  # this time the holes must be filled
        return old if all(os.path.exists(p) for p in old.outputs) else None

    def go(self, *, client, workers, allow_missing, max_skipped, progress, label) -> tuple[RunSummary, list[str]]:
        for path in ([self.parts_path] if self.products else []) + (
            [self.embeddings.partial] if self.embeddings else []
        ):
            _work_store(path)  # a folder of the user's there stops the run before anything is touched
        same = self.same_inputs(self.old)
        self._check_space([t for t in self.tiles if not (same and self.old.done(t.id))])
        try:
            parts = self._open_work(self._resumable())
            todo = [t for t in self.tiles if not self.ledger.done(t.id)]
            executor = make_executor(client, workers=workers or max(1, min(os.cpu_count() or 1, len(todo))))
            summary = run_tiles(self.task, self.tiles, ledger=self.ledger, executor=executor, parts=parts,
                                allow_missing=allow_missing, max_skipped=max_skipped, progress=progress, label=label)
            written = self._deliver(summary, parts)
        except BaseException as exc:
            instead = self._failed(exc)
            if instead is exc:
                raise
            raise instead from None
        self.ledger.mark_complete(written, missing=list(summary.missing))
        if parts is not None and not summary.missing:  # kept while tiles are missing: a later run can fill them
            shutil.rmtree(self.parts_path)
        return summary, written

    def _resumable(self) -> bool:
        old = self.old
        if old is None or old.complete:
            return old is not None and self.same_inputs(old) and self._stores_resumable()
        if not self.same_inputs(old):
            if old.tiles_with(DONE):
                log.warning("not resuming the %d finished tiles in %s: %s changed since; computing every tile afresh",
                            len(old.tiles_with(DONE)), old.path, changes(old.inputs, self.inputs))
            return False
        return self._stores_resumable()

    def _stores_resumable(self) -> bool:
        parts = _work_store(self.parts_path) if self.products else None
        parts_ok = not self.products or (parts is not None and parts.attrs.get("tsmap_fingerprint") == self.fingerprint)
        return parts_ok and (self.embeddings is None or self.embeddings.reopen(self.fingerprint))

    def _check_space(self, todo: list[Tile]) -> None:
        """Refuse to start without room for what is still to write (the dry-run estimate, an upper bound)."""
        pixels, todo_px = sum(t.pixels for t in self.tiles), sum(t.pixels for t in todo)
        layers = [p.dtype for p in self.products for _ in p.layers]
        need = {_folder(self.ledger_path): run_bytes(pixels=pixels, todo_pixels=todo_px, layers=layers)}
        if self.embeddings is not None:
            folder = _folder(self.embeddings.path)
            need[folder] = need.get(folder, 0) + todo_px * embedding_bytes(
                self.embeddings.dim, self.embeddings.encoding
            )
        self.needed = sum(need.values())
        for folder, needed in need.items():
            check_free_space(folder, needed)

    def _open_work(self, resume: bool) -> RasterStore | None:
        """The ledger and the stores to write: resumed, or new (after checking that what they replace is tsmap's)."""
        ledger = Ledger.open(
            self.ledger_path, fingerprint=self.fingerprint, tiles=len(self.tiles), resume=resume, inputs=self.inputs
        )
        self.ledger = ledger
        if ledger.resumed:
            log.info(
                "resuming: %d of %d tiles already done (ledger %s)",
                sum(ledger.done(t.id) for t in self.tiles),
                len(self.tiles),
                ledger.path,
            )
        parts = None
        if self.products:
            if ledger.resumed:
                parts = RasterStore.open(self.parts_path, mode="r+")
            else:
                parts = _create_store(self.parts_path, grid=self.grid, tile=self.tile, variables=_layers(self.products),
                                      attrs={"tsmap_fingerprint": self.fingerprint, "tsmap_work": "parts"})
        if self.embeddings is not None and not ledger.resumed:
            self.embeddings.create(
                self.grid,
                self.tile,
                {
                    "tsmap_provenance": self.provenance,
                    "tsmap_period": list(self.period),
                    "tsmap_fingerprint": self.fingerprint,
                    "tsmap_inputs": digest(self.inputs),
                    "complete": False,
                },
            )
        if ledger.resumed:
            self._forget_lost_tiles(parts)
        return parts

    def _forget_lost_tiles(self, parts: RasterStore | None) -> None:
        """Tiles the ledger calls done whose chunks are not in the work stores are computed again."""
        stores = [
            s for s in (parts, RasterStore.open(self.embeddings.partial) if self.embeddings else None) if s is not None
        ]
        for tile in self.tiles:
            holes = [h for s in stores for h in s.holes(tile)] if self.ledger.done(tile.id) else []
            if holes:
                log.warning("tile %s was done but %s is missing; computing it again", tile.id, holes[0])
                self.ledger.record(tile.id, FAILED, error=f"work chunk {os.path.basename(holes[0])} missing")

    def _deliver(self, summary: RunSummary, parts: RasterStore | None) -> list[str]:
        """Finish the embedding store and write the COGs, the STAC item and the quicklook: staged, then all moved in."""
        if not self.products:
            if self.embeddings is not None:
                self.embeddings.finalize(summary.missing, dict(summary.implausible))
                return [self.embeddings.path]
            return []
        main, folder = self.products[0], _folder(self.products[0].path)
        tags = {
            **self.provenance,
            "tile_size": self.tile,
            "tiles": summary.tiles,
            "missing_tiles": json.dumps(list(summary.missing)),
            "complete": "no: missing tiles are nodata" if summary.missing else "yes",
            "skipped_assets": json.dumps(list(summary.skipped)),
            "implausible_observations": describe(dict(summary.implausible)),
        }
        stage = tempfile.mkdtemp(prefix=OutputPaths(main.path).stage_prefix, dir=folder)
        try:
            open(os.path.join(stage, STAGE_MARK), "w").close()
            staged = [dataclasses.replace(p, path=os.path.join(stage, os.path.basename(p.path))) for p in self.products]
            extra = None
            if self.embeddings is not None:
                extra = {
                    "embeddings": {"href": self.embeddings.path, "type": "application/vnd+zarr", "roles": ["data"]}
                }
            files = publish(
                parts,
                staged,
                tags=tags,
                classes=self.deliverables.classes,
                quicklook=self.deliverables.quicklook,
                extra_assets=extra,
                period=self.period,
                folder=folder,
            )
            if self.embeddings is not None:
                self.embeddings.finalize(summary.missing, dict(summary.implausible))
            written = [os.path.join(os.path.dirname(main.path), os.path.basename(f)) for f in files]
            for staged_file, final in zip(files, written):
                os.replace(staged_file, final)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        _remove_scratch(folder, [os.path.basename(p.path) for p in self.products])
        return written + ([self.embeddings.path] if self.embeddings is not None else [])

    def _failed(self, exc: BaseException) -> BaseException:
        """What to raise after ``exc`` stopped the run, once the work files are tidied up."""
        ledger = self.ledger
        done = sum(ledger.done(t.id) for t in self.tiles) if ledger else 0
        if ledger is None or not done:  # nothing worth resuming: leave no work files behind
            keep_ledger = (
                ledger is not None and ledger.tiles_with(FAILED) and not is_disk_full(exc)
            )  # it names the failed tiles
            _remove(self.parts_path if self.products and ledger else None,
                    self.embeddings.partial if self.embeddings and ledger else None,
                    None if keep_ledger or ledger is None else self.ledger_path)
        if done == len(self.tiles):
            kept = f"all {done} tiles are done and kept: run the same command again to write the files"
        elif done:
            kept = (f"{done} of {len(self.tiles)} tiles are done and kept (ledger {ledger.path}): "
                    "run the same command again to resume")
        else:
            kept = "no tile had finished, so nothing was kept"
        if is_disk_full(exc):
            return disk_full(_folder(self.ledger_path), self.needed, exc, kept)
        if isinstance(exc, KeyboardInterrupt):
            return Interrupted(f"interrupted: {kept}")
        return exc


def _output_paths(deliverables: Deliverables | None, embeddings: EmbeddingOutput | None) -> list[str]:
    """Every final file (or store) the run writes."""
    paths = [embeddings.path] if embeddings is not None else []
    if deliverables is not None and deliverables.products:
        main = OutputPaths(deliverables.products[0].path)
        paths += [p.path for p in deliverables.products] + [main.item]
        paths += [main.quicklook] if deliverables.quicklook else []
    return paths


def _inputs(
    task, provenance: dict, grid, tile: int, products: list[Product], embeddings: EmbeddingOutput | None
) -> dict:
    """What the run is, part by part (digests), and the stamps of its assets' content."""
    parts = {
        **provenance,
        "grid": [grid.epsg, list(grid.bounds), grid.resolution],
        "tile size": tile,
        "outputs (paths, layers, prompts, text model)": [
            [os.path.abspath(p.path), list(p.layers), p.dtype, p.tags] for p in products
        ],
        "embedding store": [os.path.abspath(embeddings.path), embeddings.encoding] if embeddings else None,
    }
    stamps = {}
    if getattr(task, "imagery", None) is not None:
        parts["encoder weights"] = getattr(task.encoder.load(), "__dask_tokenize__")()
        stamps = asset_stamps(task.imagery.items, timeout=min(task.imagery.retry.timeout_s, 30))
    elif getattr(task, "embeddings", None):
        attrs = RasterStore.open(task.embeddings).attrs
        parts["embedding store content"] = [
            attrs.get("tsmap_fingerprint"),
            attrs.get("tsmap_inputs"),
            attrs.get("tsmap_missing_tiles"),
        ]
    return {"parts": {k: digest(v) for k, v in parts.items()}, "stamps": stamps}


def _work_store(path: str) -> RasterStore | None:
    """The tsmap store at ``path`` (None when there is none); a folder there that is not tsmap's is refused,
    never deleted."""
    if not os.path.lexists(path):
        return None
    try:
        store = RasterStore.open(path)
    except Exception:
        store = None
    if store is None or "tsmap_fingerprint" not in store.attrs:
        raise InputError(f"{path} exists and was not made by tsmap, which keeps its work there; move it away or choose "
                         "another --out")
    return store


def _create_store(path: str, **kwargs) -> RasterStore:
    """A new store at ``path``, built under a temporary name and moved in when complete (replacing tsmap's old one)."""
    _work_store(path)  # refuses a folder that is not tsmap's
    _remove_store_scratch(path)
    with atomic_path(path) as tmp:
        RasterStore.create(tmp, **kwargs)
    return RasterStore.open(path, mode="r+")


def _remove_scratch(folder: str, names: list[str]) -> None:
    """Scratch files of COG writes and staging folders that earlier, killed runs left for these outputs."""
    for entry in os.listdir(folder):
        path = os.path.join(folder, entry)
        scratch = COG_SCRATCH.match(entry)
        if scratch and scratch["name"] in names and os.path.isfile(path) and _is_tiff(path):
            os.remove(path)
        elif (any(entry.startswith(OutputPaths(n).stage_prefix) for n in names)
              and os.path.isfile(os.path.join(path, STAGE_MARK))):
            shutil.rmtree(path, ignore_errors=True)


def _remove_store_scratch(path: str) -> None:
    """Temporary stores (``<path>.<hex>.tmp``) that runs killed while creating the store at ``path`` left behind:
    removed when they hold nothing or a tsmap store (a Zarr group with tsmap's attributes, or none yet)."""
    folder, name = os.path.split(os.path.abspath(path))
    pattern = re.compile(rf"^{re.escape(name)}\.[0-9a-f]{{8}}\.tmp$")
    for entry in os.listdir(folder):
        scratch = os.path.join(folder, entry)
        if (
            pattern.match(entry)
            and os.path.isdir(scratch)
            and not os.path.islink(scratch)
            and _is_store_scratch(scratch)
        ):
            shutil.rmtree(scratch, ignore_errors=True)


def _is_store_scratch(folder: str) -> bool:
    entries = os.listdir(folder)
    if not entries:
        return True
    try:
        with open(os.path.join(folder, "zarr.json"), encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return False
    attrs = meta.get("attributes") or {} if isinstance(meta, dict) else None
    return meta.get("node_type") == "group" and isinstance(attrs, dict) and (not attrs or "tsmap_grid" in attrs)


def _is_tiff(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(4) in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _files_under(folder: str, suffix: str) -> list[str]:
    return [os.path.join(root, n) for root, _, names in os.walk(folder) for n in names if n.endswith(suffix)]


def _remove(*paths) -> None:
    for path in paths:
        if path and os.path.isdir(path):
            shutil.rmtree(path)
        elif path and os.path.exists(path):
            os.remove(path)


def _folder(path: str) -> str:
    return os.path.dirname(os.path.abspath(path))


def _layers(products: list[Product]) -> dict[str, Variable]:
    return {layer: Variable(p.dtype, p.nodata) for p in products for layer in p.layers}


# --- The tile loop ---


@dataclass(frozen=True)
class RunSummary:
    """What a run did: tiles computed now, reused from an earlier run, and missing (nodata)."""

    tiles: int
    computed: int
    reused: int
    missing: tuple[str, ...]
    pixels: int  #: pixels of the whole grid
    computed_pixels: int  #: pixels of the tiles computed in this run
    seconds: float
    skipped: tuple = ()  #: assets left out (unreadable): dicts of item, band, error and tiles
    implausible: tuple[tuple[str, int], ...] = ()  #: (tile, observations left out for impossible values), when any

    @property
    def px_per_s(self) -> float:
        return 0.0 if self.seconds <= 0 else self.computed_pixels / self.seconds


def run_tiles(
    task,
    tiles: list[Tile],
    *,
    ledger: Ledger,
    executor,
    parts: RasterStore | None = None,
    allow_missing: bool = False,
    max_skipped: int | None = None,
    progress: bool = True,
    label: str = "mapping",
) -> RunSummary:
    """Compute every tile of ``tiles`` that ``ledger`` does not list as done."""
    todo = [t for t in tiles if not ledger.done(t.id)]
    start = time.perf_counter()
    bar = _bar(sum(t.pixels for t in tiles), sum(t.pixels for t in tiles if ledger.done(t.id)), progress, label)
    with executor, bar:
        shared = executor.share(task)
        queue, in_flight = iter(todo), {}
        while True:
            while len(in_flight) < executor.slots + 1 and (tile := next(queue, None)) is not None:
                in_flight[executor.submit(_run, shared, tile)] = tile
            if not in_flight:
                break
            for future in executor.wait_any(list(in_flight)):
                tile = in_flight.pop(future)
                if _settle(future, tile, ledger, parts, executor, in_flight):
                    bar.update(tile.pixels)  # failed tiles are not progress
                if max_skipped is not None and ledger.skipped.get(tile.id):
                    _check_skipped(ledger, max_skipped)
    failed = [t.id for t in tiles if ledger.status.get(t.id) == FAILED]
    if failed and not allow_missing:
        raise DataError(_failure_message(failed, len(tiles), ledger))
    for tile_id in failed:
        ledger.record(tile_id, MISSING, error=ledger.errors.get(tile_id, ""))
    missing = tuple(t.id for t in tiles if ledger.status.get(t.id) == MISSING)
    return RunSummary(
        tiles=len(tiles), computed=len(todo), reused=len(tiles) - len(todo), missing=missing,
        pixels=sum(t.pixels for t in tiles), computed_pixels=sum(t.pixels for t in todo),
        seconds=time.perf_counter() - start, skipped=tuple(ledger.skipped_assets()),
        implausible=ledger.implausible_tiles(),
    )


def _run(task, tile):
    return task(tile)


def _settle(future, tile: Tile, ledger: Ledger, parts: RasterStore | None, executor, in_flight: dict) -> bool:
    """Record a finished tile; True when it is done, False when it failed."""
    try:
        result = future.result()
    except ReadFailure as exc:
        log.warning("tile %s failed: %s", tile.id, exc)
        ledger.record(tile.id, FAILED, error=str(exc))
        return False
    except BaseException as exc:
        executor.cancel(list(in_flight))
        if not (is_disk_full(exc) or isinstance(exc, KeyboardInterrupt)):  # no fault of the tile: the rerun computes it
            ledger.record(tile.id, FAILED, error=f"{type(exc).__name__}: {exc}"[:300])
        raise
    if parts is not None:
        for name, layer in result.layers.items():
            parts.write(tile, name, layer)
    info = {"skipped": [list(s) for s in result.skipped]} if result.skipped else {}
    if result.implausible:
        info.update(implausible=result.implausible, implausible_items=list(result.implausible_items))
        log.warning("tile %s: %d observations held impossible values (corrupt imagery?), most in %s; left out",
                    tile.id, result.implausible, ", ".join(result.implausible_items))
    ledger.record(tile.id, DONE, valid_pixels=result.valid_pixels, seconds=result.seconds, **info)
    return True


def _check_skipped(ledger: Ledger, max_skipped: int) -> None:
    assets = ledger.skipped_assets()
    if len(assets) > max_skipped:
        names = ", ".join(f"{a['item']}/{a['band']}" for a in assets[:4]) + (
            f" and {len(assets) - 4} more" if len(assets) > 4 else ""
        )
        raise DataError(
            f"{len(assets)} assets could not be read and were left out ({names}; first error: {assets[0]['error']}), "
            f"more than --max-skipped {max_skipped}; finished tiles are kept: fix the catalog or raise --max-skipped, "
            "then run the same command again"
        )


def _failure_message(failed: list[str], total: int, ledger: Ledger) -> str:
    names = ", ".join(failed[:8]) + (f" and {len(failed) - 8} more" if len(failed) > 8 else "")
    first = ledger.errors.get(failed[0], "")
    return (
        f"{len(failed)} of {total} tiles could not be read: {names} (first error: {first}); no map was written. "
        f"Finished tiles are kept: rerun the same command to retry only these, or pass --allow-missing to write "
        f"nodata there (the ledger {ledger.path} lists them)"
    )


def _bar(total: int, initial: int, enabled: bool, label: str):
    from tqdm.auto import tqdm  # a widget in notebooks, text in terminals

    return tqdm(
        total=total, initial=initial, unit="px", unit_scale=True, desc=label, disable=not enabled,
        file=sys.stderr, smoothing=0.2, mininterval=0.5,
    )
