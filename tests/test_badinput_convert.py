"""`tsmap convert`: bad sources and destinations are one line; an existing file is never clobbered (table-driven)."""

from __future__ import annotations

import pytest

from tsmap.checkpoint import save_checkpoint
from tsmap.cli import main
from tsmap.model import EncoderConfig, build_encoder
from tsmap.specs import AUTHORS

from .badinput import Case, run_case, write


def _source_ckpt(root):
    """in/a.safetensors: a small encoder as a tsmap checkpoint (convert re-writes any checkpoint)."""
    model = build_encoder(EncoderConfig(dim=32, depth=1, heads=8, mlp_dim=16, out_dim=512), seed=0)
    save_checkpoint(root / "in" / "a.safetensors", model, AUTHORS, text_model="open_clip:ViT-B-32-quickgelu/openai")


def _with(*setups):
    return lambda root: [s(root) for s in setups]


CASES = [
    Case("source-missing", ("convert", "{in}/none.ckpt", "{out}/m.safetensors"), phrase="does not exist"),
    Case("source-folder", ("convert", "{in}", "{out}/m.safetensors"), phrase="is a folder"),
    Case(
        "source-text",
        ("convert", "{in}/t.ckpt", "{out}/m.safetensors"),
        phrase="is not a checkpoint",
        setup=lambda root: write(root, "in/t.ckpt", "hello\n"),
    ),
    Case(
        "source-json",
        ("convert", "{in}/t.ckpt", "{out}/m.safetensors"),
        phrase="is not a checkpoint",
        setup=lambda root: write(root, "in/t.ckpt", '{"weights": [1, 2]}\n'),
    ),
    Case(
        "dest-suffix",
        ("convert", "{in}/a.safetensors", "{out}/m.ckpt"),
        phrase="must end in .safetensors",
        setup=_source_ckpt,
    ),
    Case(
        "dest-folder-missing",
        ("convert", "{in}/a.safetensors", "{out}/no/m.safetensors"),
        phrase="does not exist",
        setup=_source_ckpt,
    ),
    Case(
        "dest-not-written-by-tsmap",
        ("convert", "{in}/a.safetensors", "{out}/m.safetensors"),
        phrase="not written by tsmap",
        setup=_with(_source_ckpt, lambda root: write(root, "out/m.safetensors", "mine\n")),
    ),
    Case(
        "dest-is-a-folder",
        ("convert", "{in}/a.safetensors", "{out}/m.safetensors"),
        phrase="is a folder",
        setup=_with(_source_ckpt, lambda root: (root / "out" / "m.safetensors").mkdir()),
    ),
    Case(
        "dest-is-the-source",
        ("convert", "{in}/a.safetensors", "{in}/a.safetensors", "--overwrite"),
        phrase="is one of this run's inputs",
        setup=lambda root: write(root, "in/a.safetensors", b"x"),
    ),
    Case("missing-dest", ("convert", "{in}/a.safetensors"), code=2, phrase="Missing argument 'DEST.safetensors'"),
    Case(
        "with-overwrite",
        ("convert", "{in}/a.safetensors", "{out}/m.safetensors", "--overwrite"),
        code=0,
        phrase="wrote",
        setup=_with(_source_ckpt, lambda root: write(root, "out/m.safetensors", "old\n")),
    ),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_convert_bad_input(case, tmp_path):
    run_case(case, tmp_path, main)
