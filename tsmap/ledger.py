"""The chunk ledger: an append-only JSON-lines record, beside an output, of what each tile came to.

Line 1 is a header with the run's fingerprint (a hash of everything that determines the result)
and its inputs (per-part digests and asset stamps, :mod:`tsmap.stamps`, to say what changed);
every later line is one event: a tile ``done`` (with the assets it had to leave out, ``skipped``),
``failed`` (after its retries) or ``missing`` (failed, and accepted as nodata with
``allow_missing``), or the run ``complete``. A run that dies (``kill -9``) loses at most the line it
was writing; the same command then redoes only the tiles not recorded as done. A ledger whose
fingerprint differs from the new run's is started afresh.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from ._version import __version__
from ._files import write_text

DONE, FAILED, MISSING = "done", "failed", "missing"


@dataclass
class Ledger:
    """What is known about a run's tiles; updated with :meth:`record`, persisted line by line."""

    path: str
    fingerprint: str
    status: dict[str, str] = field(default_factory=dict)  #: tile id -> last status
    errors: dict[str, str] = field(default_factory=dict)  #: tile id -> last error (failed / missing)
    complete: bool = False
    outputs: list = field(default_factory=list)  #: files the completed run wrote
    resumed: bool = False  #: True when an earlier ledger of the same run was found
    inputs: dict = field(default_factory=dict)  #: the header's per-part digests and asset stamps
    skipped: dict[str, list] = field(default_factory=dict)  #: tile id -> assets left out ([item, band, error])
    implausible: dict[str, int] = field(default_factory=dict)  #: tile id -> observations left out as impossible

    @classmethod
    def open(
        cls, path: str | os.PathLike, *, fingerprint: str, tiles: int, resume: bool = True, inputs: dict | None = None
    ) -> "Ledger":
        """Resume the ledger at ``path`` if it belongs to the same run (and ``resume``), else start anew."""
        path = os.fspath(path)
        old = cls._read(path) if resume else None
        if old is not None and old.fingerprint == fingerprint:
            old.resumed = True
            _end_line(path)  # a line cut short by a crash must not swallow the next event
            return old
        ledger = cls(path, fingerprint, inputs=dict(inputs or {}))
        header = {
            "kind": "header",
            "fingerprint": fingerprint,
            "tiles": tiles,
            "tsmap": __version__,
            "inputs": ledger.inputs,
        }
        write_text(path, json.dumps(header) + "\n")
        return ledger

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Ledger | None":
        """Read an existing ledger to inspect it; None when there is none."""
        return cls._read(os.fspath(path))

    def done(self, tile_id: str) -> bool:
        return self.status.get(tile_id) == DONE

    def tiles_with(self, status: str) -> list[str]:
        return sorted(t for t, s in self.status.items() if s == status)

    def record(self, tile_id: str, status: str, **info) -> None:
        """Append one tile event (call only after the tile's data is safely on disk)."""
        self._apply({"tile": tile_id, "status": status, **info})
        self._append({"tile": tile_id, "status": status, **info})

    def _apply(self, ev: dict) -> None:
        """Update the state for one tile event (as recorded now, or read back)."""
        tile, status = ev["tile"], ev["status"]
        self.status[tile], self.complete = status, False
        self.skipped.pop(tile, None)
        self.implausible.pop(tile, None)
        if status == DONE:
            self.errors.pop(tile, None)
            if ev.get("skipped"):
                self.skipped[tile] = list(ev["skipped"])
            if ev.get("implausible"):
                self.implausible[tile] = int(ev["implausible"])
        elif "error" in ev:
            self.errors[tile] = str(ev["error"])

    def implausible_tiles(self) -> tuple[tuple[str, int], ...]:
        """(tile, count) of the done tiles that had impossible observations left out, by tile."""
        return tuple((t, n) for t, n in sorted(self.implausible.items()) if self.status.get(t) == DONE)

    def skipped_assets(self) -> list[dict]:
        """Every asset left out by a done tile: item, band, the first error and the tiles concerned."""
        out: dict[tuple, dict] = {}
        for tile_id in sorted(self.skipped):
            if self.status.get(tile_id) != DONE:
                continue
            for item, band, error in self.skipped[tile_id]:
                entry = out.setdefault((item, band), {"item": item, "band": band, "error": error, "tiles": []})
                entry["tiles"].append(tile_id)
        return [out[k] for k in sorted(out)]

    def mark_complete(self, outputs: list[str], **info) -> None:
        self.complete, self.outputs = True, list(outputs)
        self._append({"kind": "complete", "outputs": self.outputs, **info})

    def _append(self, event: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(event, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())

    @classmethod
    def _read(cls, path: str) -> "Ledger | None":
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        events = []
        for line in lines:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by a crash
                continue
        if not events or events[0].get("kind") != "header":
            return None
        ledger = cls(path, events[0]["fingerprint"], inputs=events[0].get("inputs") or {})
        for ev in events[1:]:
            if ev.get("kind") == "complete":
                ledger.complete, ledger.outputs = True, list(ev.get("outputs", []))
            elif "tile" in ev:
                ledger._apply(ev)
        return ledger


def _end_line(path: str) -> None:
    """Terminate a last line that a crash cut short, so that the next event starts on a line of its own."""
    with open(path, "rb+") as f:
        if f.seek(0, os.SEEK_END) == 0:
            return
        f.seek(-1, os.SEEK_END)
        if f.read(1) != b"\n":
            f.write(b"\n")
