"""`tsmap scenic`: every bad input is one line, exits non-zero and leaves nothing behind (table-driven)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tsmap.cli import main

from .badinput import ALIAS_BOMB, Case, catalog, run_case, write

CSV_HEAD = "user_index,values_in_order,prompts_in_order\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
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


def scenic(*extra: str, out: str = "{out}/scenic.tif", prompts: str = "illustrative") -> tuple[str, ...]:
    return (
        "scenic",
        "--embeddings",
        "{store}",
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


def _many_rated(n: int) -> str:
    return CSV_HEAD + "".join(f"{i % 7},5,landscape number {i}\n" for i in range(n))


CASES = [
    Case(
        "embeddings-missing",
        ("scenic", "--embeddings", "{in}/none.zarr", "--out", "{out}/s.tif"),
        phrase="does not exist",
    ),
    Case(
        "embeddings-plain-file",
        ("scenic", "--embeddings", "{in}/e.zarr", "--out", "{out}/s.tif"),
        phrase="is a file, not a store folder",
        setup=_file("in/e.zarr", "x\n"),
    ),
    Case("prompts-missing", scenic(prompts="{in}/none.yaml"), phrase="does not exist"),
    Case("prompts-folder", scenic(prompts="{in}"), phrase="is a folder"),
    Case("prompts-csv-missing", scenic(prompts="{in}/none.csv"), phrase="does not exist"),
    Case(
        "prompts-csv-folder",
        scenic(prompts="{in}/d.csv"),
        phrase="is a folder",
        setup=lambda root: (root / "in" / "d.csv").mkdir(),
    ),
    Case("prompts-alias-bomb", scenic(prompts="{in}/s.yaml"), phrase="aliases", setup=_file("in/s.yaml", ALIAS_BOMB)),
    Case(
        "prompts-latin1",
        scenic(prompts="{in}/s.yaml"),
        phrase="UTF-8",
        setup=_file("in/s.yaml", "prompts: [{text: ein sch\xf6ner See, value: 8}]\n".encode("latin-1")),
    ),
    Case(
        "prompts-value-11",
        scenic(prompts="{in}/s.yaml"),
        phrase="rating from 1 to 10",
        setup=_file("in/s.yaml", "prompts: [{text: a lake, value: 11}]\n"),
    ),
    Case(
        "prompts-empty", scenic(prompts="{in}/s.yaml"), phrase="non-empty list 'prompts:'", setup=_file("in/s.yaml", "")
    ),
    Case(
        "prompt-too-long",
        scenic(prompts="{in}/s.yaml"),
        phrase="1,000 characters",
        setup=_file("in/s.yaml", f"prompts: [{{text: {'y' * 1500}, value: 5}}]\n"),
    ),
    Case(
        "csv-missing-column",
        scenic(prompts="{in}/s.csv"),
        phrase="missing column",
        setup=_file("in/s.csv", "a,b\n1,2\n"),
    ),
    Case(
        "csv-latin1",
        scenic(prompts="{in}/s.csv"),
        phrase="UTF-8",
        setup=_file("in/s.csv", (CSV_HEAD + "1,8,ein sch\xf6ner See\n").encode("latin-1")),
    ),
    Case(
        "csv-bad-value",
        scenic(prompts="{in}/s.csv"),
        phrase="rating from 1 to 10",
        setup=_file("in/s.csv", CSV_HEAD + "1,high,a lake\n"),
    ),
    Case("csv-too-many", scenic(prompts="{in}/s.csv"), phrase="1,000", setup=_file("in/s.csv", _many_rated(1200))),
    Case("method-bogus", scenic("--method", "middle"), code=2, phrase="Invalid value for '--method'"),
    Case(
        "min-prompts-0",
        scenic("--method", "late", "--min-prompts", "0"),
        code=2,
        phrase="Invalid value for '--min-prompts'",
    ),
    Case("min-prompts-too-high", scenic("--method", "late", "--min-prompts", "50"), phrase="no rater"),
    Case("workers-negative", scenic("--workers", "-2"), code=2, phrase="Invalid value for '--workers'"),
    Case("out-suffix", scenic(out="{out}/s.png"), phrase="must end in .tif"),
    Case(
        "out-is-a-folder",
        scenic(out="{out}/s.tif"),
        phrase="is a folder",
        setup=lambda root: (root / "out" / "s.tif").mkdir(),
    ),
    Case(
        "out-not-written-by-tsmap",
        scenic(),
        phrase="not written by tsmap; pass --overwrite",
        setup=_file("out/scenic.tif", "x\n"),
    ),
    Case(
        "same-run-up-to-date",
        scenic(),
        code=0,
        phrase="up to date",
        setup=lambda root: CliRunner().invoke(
            main, [a.format(store=_STORE["path"], out=root / "out") for a in scenic()]
        ),
    ),
]

_STORE: dict[str, str] = {}


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_scenic_bad_input(case, tmp_path, store):
    _STORE["path"] = store
    run_case(case, tmp_path, main, store=store)
