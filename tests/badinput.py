"""Table-driven bad-input cases for the command line, run in one process with click's CliRunner.

Each :class:`Case` is an argv (with ``{in}``, ``{out}``, ``{catalog}``, ``{box}``, ... placeholders), the
exit code it must end with, a phrase its one-line message must contain, and the files it may leave. A
failing case must print exactly one ``Error: ...`` line (no usage block, no traceback) and leave the
case folder exactly as it found it: inputs untouched, nothing new beside the output.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

#: A tiny box near Bonn (about 20 x 15 px) and the one-item catalog the area commands read.
BOX = "7.0,50.0,7.003,50.002"
#: Longest a single case may run (a hang is a failure, not a stuck suite).
CASE_SECONDS = 120


@dataclass(frozen=True)
class Case:
    """One command line and what must come of it."""

    id: str
    argv: tuple[str, ...]
    code: int = 1  #: expected exit code (2: click usage errors)
    phrase: str = ""  #: must appear in the one error line (or, for code 0, in the output)
    setup: Callable[[Path], None] | None = None  #: writes files into the case folder first
    leaves: tuple[str, ...] = ()  #: paths (relative to the case folder) a failing case may leave or change
    marks: tuple = field(default=(), compare=False)

    def param(self):
        return pytest.param(self, id=self.id, marks=self.marks)


def snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` with a hash of its content (folders: '<dir>')."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for d in dirs:
            out[os.path.relpath(os.path.join(folder, d), root)] = "<dir>"
        for f in files:
            path = os.path.join(folder, f)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def run_case(case: Case, root: Path, main, **context) -> object:
    """Run ``case`` in ``root`` (``root/in`` inputs, ``root/out`` outputs) and check it; returns the result."""
    (root / "in").mkdir(exist_ok=True)
    (root / "out").mkdir(exist_ok=True)
    if case.setup is not None:
        case.setup(root)
    names = {"in": root / "in", "out": root / "out", "root": root, "box": BOX, **context}
    argv = [a.format(**names) for a in case.argv]
    before = snapshot(root)
    with _time_limit(CASE_SECONDS):
        res = CliRunner().invoke(main, argv)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        import traceback

        raise AssertionError("".join(traceback.format_exception(res.exception))) from None
    assert res.exit_code == case.code, f"exit {res.exit_code}, expected {case.code}:\n{res.output}"
    if case.code == 0:
        assert case.phrase in res.output, res.output
        return res
    check_one_line(res.stderr, case.phrase)
    after = snapshot(root)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    allowed = {k for k in changed if any(k == p or k.startswith(p + os.sep) for p in case.leaves)}
    assert changed == allowed, f"the case changed {len(changed - allowed)} paths: {sorted(changed - allowed)[:10]}"
    return res


@contextlib.contextmanager
def _time_limit(seconds: int):
    """A case that hangs fails (SIGALRM; the cases run in the main thread)."""

    def _stop(signum, frame):
        raise TimeoutError(f"the case ran for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, _stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def check_one_line(stderr: str, phrase: str) -> None:
    """Exactly one ``Error:`` line holding ``phrase``; other lines may only be warnings; no usage, no traceback."""
    lines = [line for line in stderr.replace("\r", "\n").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, f"expected one 'Error:' line, got:\n{stderr}"
    assert phrase in errors[0], f"{phrase!r} not in {errors[0]!r}"
    assert "Traceback" not in stderr and "Usage:" not in stderr, stderr
    others = [line for line in lines if line is not errors[0]]
    assert all(line.startswith(("WARNING", "note:", "tsmap demo:")) for line in others), stderr


# --- files the cases feed the commands ------------------------------------------------------------


def write(root: Path, rel: str, text: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def catalog(root: Path) -> str:
    """A static item collection (``in/items.geojson``) of one small real-GeoTIFF item near Bonn (June 2023)."""
    import pystac

    from .stac_factory import lonlat_box_in, make_item

    path = root / "in" / "items.geojson"
    if not path.exists():
        bounds = lonlat_box_in(32632, (7.0, 50.0, 7.003, 50.002))
        item = make_item(
            root / "in" / "img",
            item_id="one",
            when=dt.datetime(2023, 6, 1, tzinfo=dt.timezone.utc),
            epsg=32632,
            bounds=bounds,
        )
        pystac.ItemCollection([item]).save_object(dest_href=str(path))
    return str(path)


#: A YAML "billion laughs": nine levels of nine aliases (9**9 strings once expanded).
ALIAS_BOMB = (
    "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))
    + "classes: *i\nprompts: *i\ndata: *i\n"
)

LATIN1_PROMPTS = "classes:\n  - name: Gew\xe4sser\n    prompts: [ein See mit Schilf]\n".encode("latin-1")
DEEP_YAML = "classes: " + "[" * 3000 + "]" * 3000 + "\n"


def many_texts(n_classes: int = 254, n_templates: int = 100) -> str:
    """A prompt set whose templates make ``n_classes * n_templates`` texts."""
    classes = "".join(f"  - name: class {i}\n" for i in range(n_classes))
    templates = ", ".join(f'"picture {j} of {{}}"' for j in range(n_templates))
    return f"templates: [{templates}]\nclasses:\n{classes}"


def long_prompt(chars: int = 2000) -> str:
    return f"classes:\n  - name: a\n    prompts: [{'x' * chars}]\n  - name: b\n"
