"""`tsmap predict`: every bad input is one line, exits non-zero and leaves nothing behind (table-driven)."""

from __future__ import annotations

import os
import shutil

import pytest
from click.testing import CliRunner

from tsmap.cli import main

from .badinput import ALIAS_BOMB, DEEP_YAML, LATIN1_PROMPTS, Case, catalog, long_prompt, many_texts, run_case, write


def predict(*extra: str, out: str = "{out}/map.tif", prompts: str = "land-cover") -> tuple[str, ...]:
    """A predict call on the one-item catalog; later options override earlier ones (click keeps the last)."""
    return (
        "predict",
        "--bbox",
        "{box}",
        "--year",
        "2023",
        "--prompts",
        prompts,
        "--out",
        out,
        "--stac",
        "{catalog}",
        "--clip-pretrained",
        "none",
        "--quiet",
        *extra,
    )


def _file(rel: str, text: str | bytes):
    return lambda root: write(root, rel, text)


def _folder(rel: str):
    return lambda root: (root / rel).mkdir(parents=True, exist_ok=True)


def _finished_run(*extra: str):
    """Setup: one successful run into out/map.tif (with ``extra`` options)."""

    def setup(root):
        argv = [a.format(out=root / "out", catalog=catalog(root), box="7.0,50.0,7.003,50.002") for a in predict(*extra)]
        res = CliRunner().invoke(main, argv)
        assert res.exit_code == 0, res.output

    return setup


def _two_classes(root):
    write(root, "in/two.yaml", "classes:\n  - name: a\n  - name: b\n")


def _no_gpu():
    import torch

    return pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")


CASES = [
    # the area
    Case("bbox-inverted", predict("--bbox", "7.1,50.6,7.0,50.7"), phrase="inverted"),
    Case("bbox-lon-range", predict("--bbox", "7.0,50.6,200,50.7"), phrase="out of range"),
    Case("bbox-three-numbers", predict("--bbox", "7.0,50.6,7.1"), phrase="4 comma-separated"),
    Case("bbox-words", predict("--bbox", "a,b,c,d"), phrase="4 comma-separated"),
    Case("bbox-nan", predict("--bbox", "nan,50.0,7.1,50.1"), phrase="non-finite"),
    Case("aoi-too-big", predict("--bbox", "0,0,2,2"), phrase="above the 10,000 km² limit; pass --force"),
    Case("aoi-own-limit", predict("--max-area", "0.01"), phrase="above the 0 km² limit"),
    Case("max-area-negative", predict("--max-area", "-1"), code=2, phrase="'--max-area'"),
    Case("epsg-geographic", predict("--epsg", "4326"), phrase="geographic"),
    Case("epsg-unknown", predict("--epsg", "99999"), phrase="not a known CRS"),
    Case("epsg-zero", predict("--epsg", "0"), code=2, phrase="'--epsg'"),
    # the dates
    Case("year-abc", predict("--year", "abc"), code=2, phrase="Invalid value for '--year'"),
    Case(
        "dates-and-year",
        predict("--start", "2023-02-30", "--end", "2023-06-01", "--year", "2023"),
        phrase="give either --year, or both --start and --end",
    ),
    Case(
        "date-feb-30",
        (
            "predict",
            "--bbox",
            "{box}",
            "--start",
            "2023-02-30",
            "--end",
            "2023-06-01",
            "--prompts",
            "land-cover",
            "--out",
            "{out}/map.tif",
            "--stac",
            "{catalog}",
        ),
        phrase="is not a valid date",
    ),
    Case(
        "start-without-end",
        (
            "predict",
            "--bbox",
            "{box}",
            "--start",
            "2023-01-01",
            "--prompts",
            "land-cover",
            "--out",
            "{out}/map.tif",
            "--stac",
            "{catalog}",
        ),
        phrase="give either --year",
    ),
    Case("no-items", predict("--year", "2019"), phrase="no Sentinel-2 items found"),
    # options with ranges and choices
    Case("encoding-bogus", predict("--encoding", "float8"), code=2, phrase="'float8' is not one of 'float16', 'int8'"),
    Case("precision-bogus", predict("--precision", "fp64"), code=2, phrase="Invalid value for '--precision'"),
    Case("max-cloud-150", predict("--max-cloud", "150"), code=2, phrase="Invalid value for '--max-cloud'"),
    Case("max-cloud-abc", predict("--max-cloud", "abc"), code=2, phrase="Invalid value for '--max-cloud'"),
    Case(
        "missing-area",
        ("predict", "--year", "2023", "--prompts", "land-cover", "--out", "{out}/map.tif"),
        phrase="give the area as --bbox W,S,E,N",
    ),
    Case("missing-prompts", ("predict", "--bbox", "{box}", "--year", "2023", "--out", "{out}/map.tif"), code=2,
         phrase="Missing option '--prompts'"),
    Case("geographic-crs-with-resolution-in-metres", predict("--crs", "EPSG:4326", "--resolution", "10"),
         phrase="is in degrees"),
    Case("resolution-zero", predict("--resolution", "0"), code=2, phrase="Invalid value for '--resolution'"),
    Case("unknown-option", predict("--colour", "red"), code=2, phrase="No such option '--colour'"),
    Case("tile-0", predict("--tile", "0"), code=2, phrase="Invalid value for '--tile'"),
    Case("tile-negative", predict("--tile", "-5"), code=2, phrase="Invalid value for '--tile'"),
    Case("workers-0", predict("--workers", "0"), code=2, phrase="Invalid value for '--workers'"),
    Case("workers-negative", predict("--workers", "-1"), code=2, phrase="Invalid value for '--workers'"),
    Case("retries-0", predict("--retries", "0"), code=2, phrase="Invalid value for '--retries'"),
    Case("timeout-0", predict("--timeout", "0"), code=2, phrase="Invalid value for '--timeout'"),
    Case("timeout-negative", predict("--timeout", "-3"), code=2, phrase="Invalid value for '--timeout'"),
    Case("timeout-nan", predict("--timeout", "nan"), code=2, phrase="Invalid value for '--timeout'"),
    Case("timeout-inf", predict("--timeout", "inf"), code=2, phrase="Invalid value for '--timeout'"),
    Case("device-gpu", predict("--device", "gpu"), phrase="--device 'gpu'"),
    Case("device-cuda-without-gpu", predict("--device", "cuda"), phrase="no CUDA device", marks=(_no_gpu(),)),
    Case(
        "scheduler-unreachable", predict("--scheduler", "tcp://127.0.0.1:9"), phrase="cannot reach the Dask scheduler"
    ),
    Case("scheduler-not-an-address", predict("--scheduler", "nowhere"), phrase="--scheduler"),
    # the prompts
    Case("prompts-missing", predict(prompts="{in}/no.yaml"), phrase="does not exist"),
    Case("prompts-folder", predict(prompts="{in}/dir"), phrase="is a folder", setup=_folder("in/dir")),
    Case("prompts-latin1", predict(prompts="{in}/p.yaml"), phrase="UTF-8", setup=_file("in/p.yaml", LATIN1_PROMPTS)),
    Case("prompts-alias-bomb", predict(prompts="{in}/p.yaml"), phrase="aliases", setup=_file("in/p.yaml", ALIAS_BOMB)),
    Case("prompts-too-deep", predict(prompts="{in}/p.yaml"), phrase="nested", setup=_file("in/p.yaml", DEEP_YAML)),
    Case(
        "prompts-not-yaml",
        predict(prompts="{in}/p.yaml"),
        phrase="not valid YAML",
        setup=_file("in/p.yaml", "classes: [a\n"),
    ),
    Case(
        "prompts-empty",
        predict(prompts="{in}/p.yaml"),
        phrase="non-empty list 'classes:'",
        setup=_file("in/p.yaml", ""),
    ),
    Case(
        "prompts-too-many-texts",
        predict(prompts="{in}/p.yaml"),
        phrase="25,000",
        setup=_file("in/p.yaml", many_texts()),
    ),
    Case(
        "prompts-too-many-classes",
        predict(prompts="{in}/p.yaml"),
        phrase="at most 254",
        setup=_file("in/p.yaml", many_texts(300, 1)),
    ),
    Case(
        "prompt-too-long",
        predict(prompts="{in}/p.yaml"),
        phrase="1,000 characters",
        setup=_file("in/p.yaml", long_prompt()),
    ),
    Case(
        "template-without-placeholder",
        predict(prompts="{in}/p.yaml"),
        phrase="placeholder",
        setup=_file("in/p.yaml", "templates: [a photo]\nclasses: [{name: a}, {name: b}]\n"),
    ),
    Case("prompts-unknown-bundled", predict(prompts="landcover"), phrase="does not exist"),
    # the catalog
    Case(
        "stac-missing",
        predict("--stac", "{in}/nowhere/catalog.json"),
        phrase="does not exist; give the path of a catalog.json",
    ),
    Case("stac-empty-folder", predict("--stac", "{in}/dir"), phrase="holds no catalog.json", setup=_folder("in/dir")),
    Case(
        "stac-not-json",
        predict("--stac", "{in}/notes.json"),
        phrase="is not a readable STAC catalog",
        setup=_file("in/notes.json", "just some words\n"),
    ),
    # the encoder and text model
    Case("checkpoint-missing", predict("--checkpoint", "{in}/none.ckpt"), phrase="does not exist"),
    Case("checkpoint-folder", predict("--checkpoint", "{in}/dir"), phrase="is a folder", setup=_folder("in/dir")),
    Case(
        "checkpoint-text-file",
        predict("--checkpoint", "{in}/notes.ckpt"),
        phrase="is not a checkpoint",
        setup=_file("in/notes.ckpt", "these are my notes, not weights\n"),
    ),
    Case("checkpoint-bad-hf", predict("--checkpoint", "hf://only-owner"), phrase="hf://OWNER/REPO/FILE"),
    Case("clip-model-unknown", predict("--clip-model", "ViT-Q-99"), phrase="unknown open_clip model"),
    Case("clip-weights-missing", predict("--clip-pretrained", "{in}/none.bin"), phrase="cannot load open_clip weights"),
    # scenicness
    Case("scenic-missing", predict("--scenic", "{in}/none.yaml"), phrase="does not exist"),
    Case(
        "scenic-alias-bomb", predict("--scenic", "{in}/s.yaml"), phrase="aliases", setup=_file("in/s.yaml", ALIAS_BOMB)
    ),
    Case(
        "scenic-csv-columns",
        predict("--scenic", "{in}/s.csv"),
        phrase="missing column",
        setup=_file("in/s.csv", "rater,text\n1,a lake\n"),
    ),
    Case(
        "scenic-csv-latin1",
        predict("--scenic", "{in}/s.csv"),
        phrase="UTF-8",
        setup=_file(
            "in/s.csv", "user_index,values_in_order,prompts_in_order\n1,8,ein sch\xf6ner See\n".encode("latin-1")
        ),
    ),
    Case(
        "scenic-method-bogus",
        predict("--scenic", "illustrative", "--scenic-method", "middle"),
        code=2,
        phrase="Invalid value for '--scenic-method'",
    ),
    # the outputs
    Case("out-folder-missing", predict(out="{out}/no/map.tif"), phrase="does not exist"),
    Case("out-suffix", predict(out="{out}/map.png"), phrase="must end in .tif"),
    Case("out-is-a-folder", predict(out="{out}/map.tif"), phrase="is a folder", setup=_folder("out/map.tif")),
    Case(
        "out-not-written-by-tsmap",
        predict(),
        phrase="not written by tsmap; pass --overwrite",
        setup=_file("out/map.tif", "precious\n"),
    ),
    Case(
        "out-score-not-written-by-tsmap",
        predict(),
        phrase="not written by tsmap; pass --overwrite",
        setup=_file("out/map_score.tif", "precious\n"),
    ),
    Case(
        "out-item-not-written-by-tsmap",
        predict(),
        phrase="not written by tsmap; pass --overwrite",
        setup=_file("out/map_item.json", "{}\n"),
    ),
    Case("out-is-an-input", predict(out="{in}/img/one/B04.tif"), phrase="is one of this run's inputs"),
    Case(
        "out-is-an-input-even-with-overwrite",
        predict("--overwrite", out="{in}/img/one/B04.tif"),
        phrase="is one of this run's inputs",
    ),
    Case(
        "out-is-the-prompt-file",
        predict("--overwrite", out="{in}/p.tif", prompts="{in}/p.tif"),
        phrase="is one of this run's inputs",
        setup=_file("in/p.tif", "classes: [{name: a}, {name: b}]\n"),
    ),
    Case(
        "out-of-another-run",
        predict(prompts="{in}/two.yaml"),
        phrase="output of a different tsmap run",
        setup=lambda root: (_two_classes(root), _finished_run()(root)),
    ),
    Case("keep-embeddings-suffix", predict("--keep-embeddings", "{out}/emb"), phrase="must end in .zarr"),
    Case(
        "keep-embeddings-foreign-folder",
        predict("--keep-embeddings", "{out}/emb.zarr", "--overwrite"),
        phrase="not written by tsmap",
        setup=_folder("out/emb.zarr/mine"),
    ),
    # success: the same run again is up to date; another run replaces the files only with --overwrite
    Case("same-run-up-to-date", predict(), code=0, phrase="up to date", setup=_finished_run()),
    Case(
        "other-run-with-overwrite",
        predict("--overwrite", prompts="{in}/two.yaml"),
        code=0,
        phrase="wrote",
        setup=lambda root: (_two_classes(root), _finished_run()(root)),
    ),
    Case(
        "not-tsmap-file-with-overwrite",
        predict("--overwrite"),
        code=0,
        phrase="wrote",
        setup=_file("out/map.tif", "old\n"),
    ),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_predict_bad_input(case, tmp_path, monkeypatch):
    monkeypatch.setattr("tsmap.executor.CONNECT_TIMEOUT_S", 2.0)
    run_case(case, tmp_path, main, catalog=catalog(tmp_path))


def test_read_only_output_folder_is_refused_before_any_work(tmp_path):
    folder = "/sys/kernel"  # read-only even for root in containers
    if os.access(folder, os.W_OK) and not _read_only(folder):
        pytest.skip(f"{folder} is writable here")
    case = Case("out-read-only", predict(out=f"{folder}/map.tif"), phrase="cannot write")
    run_case(case, tmp_path, main, catalog=catalog(tmp_path))
    assert not os.path.exists(f"{folder}/map.tif.ledger.jsonl")


def _read_only(folder: str) -> bool:
    try:
        with open(os.path.join(folder, ".tsmap-probe"), "w"):
            pass
    except OSError:
        return True
    os.remove(os.path.join(folder, ".tsmap-probe"))
    return False


def test_an_input_cog_is_never_overwritten(tmp_path):
    """The catalog's own band COG as --out: refused, with and without --overwrite, and its bytes stay."""
    cat = catalog(tmp_path)
    cog = tmp_path / "in" / "img" / "one" / "B04.tif"
    copy = tmp_path / "B04.copy"
    shutil.copy(cog, copy)
    for extra in ((), ("--overwrite",)):
        res = CliRunner().invoke(
            main,
            [a.format(out=tmp_path, catalog=cat, box="7.0,50.0,7.003,50.002") for a in predict(*extra, out=str(cog))],
        )
        assert res.exit_code == 1 and "is one of this run's inputs" in res.stderr
        assert cog.read_bytes() == copy.read_bytes()
