"""`tsmap classify`: every bad input is one line, exits non-zero and leaves nothing behind (table-driven)."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from tsmap.cli import main

from .badinput import ALIAS_BOMB, LATIN1_PROMPTS, Case, catalog, long_prompt, many_texts, run_case, write


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A finished embedding store of the one-item catalog (23 x 23 px, one tile)."""
    root = tmp_path_factory.mktemp("store")
    (root / "in").mkdir()
    res = CliRunner().invoke(
        main,
        [
            "embed",
            "--bbox",
            "7.0,50.0,7.003,50.002",
            "--year",
            "2023",
            "--out",
            str(root / "emb.zarr"),
            "--stac",
            catalog(root),
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    return str(root / "emb.zarr")


#: The module's finished store (set by the tests; the case setups copy it).
_STORE: dict[str, str] = {}


def classify(
    *extra: str, out: str = "{out}/map.tif", prompts: str = "land-cover", store: str = "{store}"
) -> tuple[str, ...]:
    return (
        "classify",
        "--embeddings",
        store,
        "--prompts",
        prompts,
        "--out",
        out,
        "--clip-pretrained",
        "none",
        "--quiet",
        *extra,
    )


def _file(rel: str, text):
    return lambda root: write(root, rel, text)


def _copy_store(root, *, corrupt: str | None = None, incomplete: bool = False, foreign: bool = False):
    """in/emb.zarr: a copy of the store, with one chunk file overwritten by random bytes, or marked incomplete."""
    src = _STORE["path"]
    dst = root / "in" / "emb.zarr"
    shutil.copytree(src, dst)
    if corrupt:
        chunk = dst / corrupt
        data = bytearray(chunk.read_bytes())
        data[16:] = np.random.default_rng(0).integers(0, 256, len(data) - 16, dtype=np.uint8).tobytes()
        chunk.write_bytes(bytes(data))
    if incomplete or foreign:
        meta = json.loads((dst / "zarr.json").read_text())
        if incomplete:
            meta["attributes"]["complete"] = False
        if foreign:
            meta["attributes"] = {}
        (dst / "zarr.json").write_text(json.dumps(meta))


def _finished(*extra):
    def setup(root):
        argv = [a.format(out=root / "out", store=_STORE["path"]) for a in classify(*extra)]
        res = CliRunner().invoke(main, argv)
        assert res.exit_code == 0, res.output

    return setup


CASES = [
    # the store
    Case("store-missing", classify(store="{in}/none.zarr"), phrase="does not exist"),
    Case(
        "store-is-a-file",
        classify(store="{in}/emb.zarr"),
        phrase="is a file, not a store folder",
        setup=_file("in/emb.zarr", "not a store\n"),
    ),
    Case(
        "store-plain-folder",
        classify(store="{in}/dir"),
        phrase="is not a tsmap Zarr store",
        setup=lambda root: (root / "in" / "dir").mkdir(),
    ),
    Case(
        "store-zarr-not-tsmap",
        classify(store="{in}/emb.zarr"),
        phrase="is not a tsmap Zarr store",
        setup=lambda root: _copy_store(root, foreign=True),
    ),
    Case(
        "store-incomplete",
        classify(store="{in}/emb.zarr"),
        phrase="is incomplete",
        setup=lambda root: _copy_store(root, incomplete=True),
    ),
    Case(
        "store-corrupt-chunk",
        classify(store="{in}/emb.zarr"),
        phrase="tile r0000c0000",
        setup=lambda root: _copy_store(root, corrupt="embedding/c/0/0/0"),
        leaves=("out/map.tif.ledger.jsonl",),
    ),
    Case(
        "store-corrupt-valid-periods",
        classify(store="{in}/emb.zarr"),
        phrase="cannot be decoded",
        setup=lambda root: _copy_store(root, corrupt="valid_periods/c/0/0"),
        leaves=("out/map.tif.ledger.jsonl",),
    ),
    # the prompts
    Case("prompts-missing", classify(prompts="{in}/none.yaml"), phrase="does not exist"),
    Case("prompts-folder", classify(prompts="{in}"), phrase="is a folder"),
    Case("prompts-latin1", classify(prompts="{in}/p.yaml"), phrase="UTF-8", setup=_file("in/p.yaml", LATIN1_PROMPTS)),
    Case("prompts-alias-bomb", classify(prompts="{in}/p.yaml"), phrase="aliases", setup=_file("in/p.yaml", ALIAS_BOMB)),
    Case("prompts-too-many", classify(prompts="{in}/p.yaml"), phrase="25,000", setup=_file("in/p.yaml", many_texts())),
    Case(
        "prompt-too-long",
        classify(prompts="{in}/p.yaml"),
        phrase="1,000 characters",
        setup=_file("in/p.yaml", long_prompt()),
    ),
    Case(
        "prompts-binary", classify(prompts="{in}/p.yaml"), phrase="UTF-8", setup=_file("in/p.yaml", bytes(range(256)))
    ),
    # options
    Case("workers-0", classify("--workers", "0"), code=2, phrase="Invalid value for '--workers'"),
    Case("tile-0", classify("--tile", "0"), code=2, phrase="Invalid value for '--tile'"),
    Case(
        "scheduler-unreachable", classify("--scheduler", "tcp://127.0.0.1:9"), phrase="cannot reach the Dask scheduler"
    ),
    Case(
        "missing-embeddings",
        ("classify", "--prompts", "land-cover", "--out", "{out}/map.tif"),
        code=2,
        phrase="Missing option '--embeddings'",
    ),
    Case("clip-model-unknown", classify("--clip-model", "ViT-Q-99"), phrase="unknown open_clip model"),
    # the outputs
    Case("out-suffix", classify(out="{out}/map.jpg"), phrase="must end in .tif"),
    Case("out-folder-missing", classify(out="{out}/none/map.tif"), phrase="does not exist"),
    Case(
        "out-is-a-folder",
        classify(out="{out}/map.tif"),
        phrase="is a folder",
        setup=lambda root: (root / "out" / "map.tif").mkdir(),
    ),
    Case(
        "out-not-written-by-tsmap",
        classify(),
        phrase="not written by tsmap; pass --overwrite",
        setup=_file("out/map.tif", "mine\n"),
    ),
    Case(
        "out-quicklook-not-written-by-tsmap",
        classify("--quicklook"),
        phrase="not written by tsmap; pass --overwrite",
        setup=_file("out/map_quicklook.png", "mine\n"),
    ),
    Case(
        "out-is-the-prompt-file",
        classify("--overwrite", out="{in}/p.tif", prompts="{in}/p.tif"),
        phrase="is one of this run's inputs",
        setup=_file("in/p.tif", "classes: [{name: a}, {name: b}]\n"),
    ),
    Case(
        "out-of-another-run",
        classify(prompts="{in}/two.yaml"),
        phrase="output of a different tsmap run",
        setup=lambda root: (write(root, "in/two.yaml", "classes: [{name: a}, {name: b}]\n"), _finished()(root)),
    ),
    Case("same-run-up-to-date", classify(), code=0, phrase="up to date", setup=_finished()),
    Case(
        "other-run-with-overwrite",
        classify("--overwrite", prompts="{in}/two.yaml"),
        code=0,
        phrase="wrote",
        setup=lambda root: (write(root, "in/two.yaml", "classes: [{name: a}, {name: b}]\n"), _finished()(root)),
    ),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_classify_bad_input(case, tmp_path, monkeypatch, store):
    monkeypatch.setattr("tsmap.executor.CONNECT_TIMEOUT_S", 2.0)
    _STORE["path"] = store
    run_case(case, tmp_path, main, store=store)


def test_a_corrupt_chunk_names_the_store_and_the_tile(tmp_path, store):
    _STORE["path"] = store
    (tmp_path / "in").mkdir()
    _copy_store(tmp_path, corrupt="embedding/c/0/0/0")
    res = CliRunner().invoke(main, [a.format(store=tmp_path / "in" / "emb.zarr", out=tmp_path) for a in classify()])
    assert res.exit_code == 1 and res.exception is None or isinstance(res.exception, SystemExit)
    line = res.stderr.strip().splitlines()[-1]
    assert "emb.zarr" in line and "tile r0000c0000" in line and "embedding" in line and os.path.basename(store) in line
