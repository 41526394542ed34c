"""`tsmap demo`: bad options are one line, exit non-zero and write nothing (table-driven)."""

from __future__ import annotations

import pytest

from tsmap.cli import main

from .badinput import Case, run_case, write

CASES = [
    Case(
        "size-0", ("demo", "--out", "{out}/d", "--size", "0", "--no-train"), code=2, phrase="Invalid value for '--size'"
    ),
    Case("size-odd", ("demo", "--out", "{out}/d", "--size", "33", "--no-train"), phrase="even"),
    Case(
        "size-small",
        ("demo", "--out", "{out}/d", "--size", "16", "--no-train"),
        code=2,
        phrase="Invalid value for '--size'",
    ),
    Case("size-abc", ("demo", "--out", "{out}/d", "--size", "abc"), code=2, phrase="Invalid value for '--size'"),
    Case(
        "out-is-a-file",
        ("demo", "--out", "{out}/d", "--no-train"),
        phrase="is a file",
        setup=lambda root: write(root, "out/d", "mine\n"),
    ),
    Case(
        "out-holds-other-files",
        ("demo", "--out", "{out}/d", "--no-train"),
        phrase="not empty",
        setup=lambda root: write(root, "out/d/thesis.tex", "mine\n"),
    ),
    Case("out-missing", ("demo",), code=2, phrase="Missing option '--out'"),
    Case(
        "checkpoint-text-file",
        ("demo", "--out", "{out}/d", "--checkpoint", "{in}/c.ckpt", "--no-train"),
        phrase="is not a checkpoint",
        setup=lambda root: write(root, "in/c.ckpt", "text\n"),
    ),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_demo_bad_input(case, tmp_path):
    run_case(case, tmp_path, main)
