"""The chunk ledger: an append-only JSON-lines record, beside an output, of what each tile came to.

Line 1 is a header with the run's fingerprint (a hash of everything that determines the result);
every later line is one event: a tile ``done``, ``failed`` (after its retries) or ``missing``
(failed, and accepted as nodata with ``allow_missing``), or the run ``complete``. A run that dies
(``kill -9``) loses at most the line it was writing; the same command then redoes only the tiles
not recorded as done. A ledger whose fingerprint differs from the new run's is started afresh.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from . import __version__

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

    @classmethod
    def open(cls, path: str | os.PathLike, *, fingerprint: str, tiles: int, resume: bool = True) -> "Ledger":
        """Resume the ledger at ``path`` if it belongs to the same run (and ``resume``), else start anew."""
        path = os.fspath(path)
        old = cls._read(path) if resume else None
        if old is not None and old.fingerprint == fingerprint:
            old.resumed = True
            return old
        ledger = cls(path, fingerprint)
        header = {"kind": "header", "fingerprint": fingerprint, "tiles": tiles, "tsmap": __version__}
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps(header) + "\n")
        os.replace(tmp, path)
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
        self.status[tile_id] = status
        self.complete = False
        if status == DONE:
            self.errors.pop(tile_id, None)
        elif "error" in info:
            self.errors[tile_id] = str(info["error"])
        self._append({"tile": tile_id, "status": status, **info})

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
        ledger = cls(path, events[0]["fingerprint"])
        for ev in events[1:]:
            if ev.get("kind") == "complete":
                ledger.complete, ledger.outputs = True, list(ev.get("outputs", []))
            elif "tile" in ev:
                ledger.complete = False
                ledger.status[ev["tile"]] = ev["status"]
                if ev["status"] == DONE:
                    ledger.errors.pop(ev["tile"], None)
                elif "error" in ev:
                    ledger.errors[ev["tile"]] = ev["error"]
        return ledger
