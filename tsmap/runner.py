"""Run a tile task over every tile not yet done, recording each outcome in the ledger.

Tiles go to the executor a few at a time (memory stays bounded by the tiles in flight); each
finished tile's layers are written to the parts store *before* the ledger says ``done``, so a
crash at any moment loses at most the tiles then in flight. Assets a tile had to leave out are
recorded with it (``skipped``); more than ``max_skipped`` of them in the run stop it. A tile whose
input cannot be read even after retries is recorded as ``failed`` and the run goes on with the
others; any other error stops the run at once. At the end, failed tiles either become ``missing``
(``allow_missing``: nodata there, and recorded) or stop the run with an error naming them.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass

from .errors import DataError
from .ledger import DONE, FAILED, MISSING, Ledger
from .retry import ReadFailure
from .space import is_disk_full
from .store import RasterStore
from .tiles import Tile

log = logging.getLogger("tsmap")


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
        len(tiles), len(todo), len(tiles) - len(todo), missing, sum(t.pixels for t in tiles),
        sum(t.pixels for t in todo), time.perf_counter() - start, tuple(ledger.skipped_assets()), ledger.implausible_tiles(),
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
        names = ", ".join(f"{a['item']}/{a['band']}" for a in assets[:4]) + (f" and {len(assets) - 4} more" if len(assets) > 4 else "")
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
