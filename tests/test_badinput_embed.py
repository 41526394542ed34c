"""`tsmap embed`: every bad input is one line, exits non-zero and leaves nothing behind (table-driven)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tsmap.cli import main

from .badinput import Case, catalog, run_case, write


def embed(*extra: str, out: str = "{out}/emb.zarr") -> tuple[str, ...]:
    return ("embed", "--bbox", "{box}", "--year", "2023", "--out", out, "--stac", "{catalog}", "--quiet", *extra)


def _finished_embed(*extra: str):
    def setup(root):
        argv = [a.format(out=root / "out", catalog=catalog(root), box="7.0,50.0,7.003,50.002") for a in embed(*extra)]
        res = CliRunner().invoke(main, argv)
        assert res.exit_code == 0, res.output

    return setup


def _no_gpu():
    import torch

    return pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")


CASES = [
    Case("bbox-inverted", embed("--bbox", "7.1,50.6,7.0,50.7"), phrase="inverted"),
    Case("year-abc", embed("--year", "abc"), code=2, phrase="Invalid value for '--year'"),
    Case("year-and-dates", embed("--start", "2023-01-01"), phrase="give either --year"),
    Case("encoding-bogus", embed("--encoding", "int4"), code=2, phrase="'int4' is not one of 'float16', 'int8'"),
    Case("epsg-geographic", embed("--epsg", "4326"), phrase="geographic"),
    Case("epsg-geographic-nad83", embed("--epsg", "4269"), phrase="geographic"),
    Case("tile-0", embed("--tile", "0"), code=2, phrase="Invalid value for '--tile'"),
    Case("tile-8", embed("--tile", "8"), code=2, phrase="Invalid value for '--tile'"),
    Case("workers-0", embed("--workers", "0"), code=2, phrase="Invalid value for '--workers'"),
    Case("workers-negative", embed("--workers", "-1"), code=2, phrase="Invalid value for '--workers'"),
    Case("retries-0", embed("--retries", "0"), code=2, phrase="Invalid value for '--retries'"),
    Case("timeout-nan", embed("--timeout", "nan"), code=2, phrase="Invalid value for '--timeout'"),
    Case("timeout-0", embed("--timeout", "0"), code=2, phrase="Invalid value for '--timeout'"),
    Case("device-gpu", embed("--device", "gpu"), phrase="--device 'gpu'"),
    Case("device-tpu", embed("--device", "tpu:0"), phrase="--device 'tpu:0'"),
    Case("device-cuda-without-gpu", embed("--device", "cuda"), phrase="no CUDA device", marks=(_no_gpu(),)),
    Case("scheduler-unreachable", embed("--scheduler", "tcp://127.0.0.1:9"), phrase="cannot reach the Dask scheduler"),
    Case(
        "checkpoint-folder",
        embed("--checkpoint", "{in}/dir"),
        phrase="is a folder",
        setup=lambda root: (root / "in" / "dir").mkdir(),
    ),
    Case(
        "checkpoint-text-file",
        embed("--checkpoint", "{in}/w.ckpt"),
        phrase="is not a checkpoint",
        setup=lambda root: write(root, "in/w.ckpt", "weights? no\n"),
    ),
    Case(
        "checkpoint-empty-file",
        embed("--checkpoint", "{in}/w.safetensors"),
        phrase="is not a checkpoint",
        setup=lambda root: write(root, "in/w.safetensors", b""),
    ),
    Case("out-suffix", embed(out="{out}/emb.tif"), phrase="must end in .zarr"),
    Case("out-folder-missing", embed(out="{out}/no/emb.zarr"), phrase="does not exist"),
    Case(
        "out-is-a-file",
        embed(),
        phrase="not written by tsmap",
        setup=lambda root: write(root, "out/emb.zarr", "mine\n"),
    ),
    Case(
        "out-foreign-folder",
        embed(),
        phrase="not written by tsmap",
        setup=lambda root: write(root, "out/emb.zarr/notes.txt", "mine\n"),
    ),
    Case(
        "out-foreign-folder-even-with-overwrite",
        embed("--overwrite"),
        phrase="not written by tsmap",
        setup=lambda root: write(root, "out/emb.zarr/notes.txt", "mine\n"),
    ),
    Case(
        "out-of-another-run",
        embed("--encoding", "int8"),
        phrase="output of a different tsmap run",
        setup=_finished_embed(),
    ),
    Case("no-items", embed("--year", "2020"), phrase="no Sentinel-2 items found"),
    Case("same-run-up-to-date", embed(), code=0, phrase="up to date", setup=_finished_embed()),
    Case(
        "other-run-with-overwrite",
        embed("--encoding", "int8", "--overwrite"),
        code=0,
        phrase="wrote",
        setup=_finished_embed(),
    ),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_embed_bad_input(case, tmp_path, monkeypatch):
    monkeypatch.setattr("tsmap.executor.CONNECT_TIMEOUT_S", 2.0)
    run_case(case, tmp_path, main, catalog=catalog(tmp_path))
