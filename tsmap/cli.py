"""The ``tsmap`` command line. It only parses options and calls the library.

Each command imports the library inside its function, so that ``tsmap --help`` and option errors load
neither torch nor xarray.
"""

from __future__ import annotations

import logging
import signal
import sys

import click

from .cli_group import ErrorGroup
from .text_model import AUTHORS_TEXT_MODEL, DEFAULT_MODEL, DEFAULT_PRETRAINED


@click.group(cls=ErrorGroup)
@click.version_option(package_name="tsmap")
@click.option("-v", "--verbose", is_flag=True, help="Log progress details (also accepted after the command).")
def main(verbose: bool) -> None:
    """Open-vocabulary maps from Sentinel-2 time series (TimeSenCLIP)."""
    _logging(verbose, False)
    _stop_on_sigterm(click.get_current_context())


def _logging(verbose: bool, quiet: bool) -> None:
    level = logging.INFO if verbose else logging.ERROR if quiet else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s", stream=sys.stderr, force=True)


def _verbosity(f):
    """``-v/--verbose`` and ``-q/--quiet`` on every command (as rio does): quiet means no progress bar and
    only errors on stderr."""

    def apply(ctx, param, value):
        if value:
            _logging(param.name == "verbose", param.name == "quiet")
        return value

    f = click.option("-q", "--quiet", is_flag=True, callback=apply, help="No progress bar; only errors on stderr.")(f)
    return click.option("-v", "--verbose", is_flag=True, callback=apply, help="Log progress details.")(f)


def _stop_on_sigterm(ctx) -> None:
    """SIGTERM stops a run like Ctrl-C does: finished tiles kept, one line saying so (restored on exit)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    ctx.call_on_close(lambda: signal.signal(signal.SIGTERM, previous))


class _Seconds(click.ParamType):
    """A positive, finite number of seconds (click's FloatRange lets nan and inf through)."""

    name = "seconds"

    def convert(self, value, param, ctx):
        import math

        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds) or seconds <= 0:
            self.fail(f"{value!r} is not a positive, finite number of seconds", param, ctx)
        return seconds


SECONDS = _Seconds()

#: --overwrite, rio's convention: the one rule for existing outputs (see tsmap.overwrite).
_overwrite = click.option(
    "--overwrite", is_flag=True, help="Replace existing outputs of another run or not written by tsmap (never inputs)."
)


def _area_options(f):
    """Options that choose the imagery: where, when, which catalog, which encoder (listed first), then where to run."""
    f = _run_options(f)
    for opt in reversed(
        [
            click.option(
                "--bbox",
                metavar="W,S,E,N",
                default=None,
                help="Area of interest in lon/lat degrees, west,south,east,north (or give --aoi).",
            ),
            click.option(
                "--aoi",
                metavar="FILE",
                default=None,
                help="Area of interest as polygons (GeoJSON, GeoPackage, Shapefile; any CRS); outside them is no data.",
            ),
            click.option(
                "--year",
                metavar="YYYY",
                type=int,
                default=None,
                help="Calendar year of imagery (or give --start and --end).",
            ),
            click.option(
                "--start",
                metavar="YYYY-MM-DD",
                default=None,
                help="First day of imagery (with --end; at most one year).",
            ),
            click.option("--end", metavar="YYYY-MM-DD", default=None, help="Last day of imagery (inclusive)."),
            click.option(
                "--stac",
                metavar="URL|FILE",
                default=None,
                help="earth-search, planetary-computer, cdse, any STAC API URL, or a static catalog/item collection "
                     "[default: earth-search].",
            ),
            click.option(
                "--checkpoint",
                metavar="FILE|hf://OWNER/REPO/FILE",
                default=None,
                help="Encoder weights: a tsmap .safetensors, the authors' .ckpt, or hf://OWNER/REPO/FILE. Random if "
                     "omitted.",
            ),
            click.option(
                "--precision",
                type=click.Choice(["auto", "fp32", "bf16"]),
                default="auto",
                show_default=True,
                help="Encoder precision; auto = bf16 where the CPU/GPU runs it natively.",
            ),
            click.option(
                "--collection",
                metavar="NAME[,NAME]",
                default=None,
                help="STAC collection(s) to search [default: sentinel-2-l2a at a STAC API; "
                "sentinel-2-l2a, sentinel-2-c1-l2a or sentinel-s2-l2a-cogs in a static catalog].",
            ),
            click.option(
                "--max-cloud",
                metavar="PERCENT",
                default=100.0,
                type=click.FloatRange(0, 100),
                show_default=True,
                help="Skip scenes with more cloud cover (%).",
            ),
            click.option(
                "--crs",
                metavar="EPSG|WKT|PROJ",
                default=None,
                help="Output CRS: an EPSG code (32632, EPSG:32632) or a WKT/PROJ string with one [default: UTM zone "
                     "of the AOI centre].",
            ),
            click.option(
                "--epsg",
                default=None,
                type=click.IntRange(min=1),
                hidden=True,
                help="Output EPSG code (older spelling of --crs).",
            ),
            click.option(
                "--resolution",
                metavar="METRES",
                default=None,
                type=click.FloatRange(min=0, min_open=True),
                help="Output pixel size in the CRS's units [default: 10 m; a geographic CRS needs it in degrees].",
            ),
            click.option(
                "--max-area",
                metavar="KM2",
                default=None,
                type=click.FloatRange(min=0, min_open=True),
                help="AOI size limit in km² [default: 10,000].",
            ),
            click.option("--force", is_flag=True, help="Allow AOIs larger than the --max-area limit."),
            click.option(
                "--device",
                metavar="DEVICE",
                default=None,
                help="torch device for the encoder [default: cuda if available, else cpu].",
            ),
            click.option(
                "--encoding",
                type=click.Choice(["float16", "int8"]),
                default="float16",
                show_default=True,
                help="How embeddings are stored (int8: with a per-pixel scale, half the size).",
            ),
            click.option(
                "--allow-missing",
                is_flag=True,
                help="Write nodata (and record it) where imagery cannot be read, instead of failing.",
            ),
            click.option(
                "--max-skipped",
                metavar="N",
                default=None,
                type=click.IntRange(min=0),
                help="Stop when more than this many unreadable assets had to be left out [default: no limit].",
            ),
            click.option(
                "--allow-local-assets",
                is_flag=True,
                help="Let a remote catalog point at local files (only if you trust it).",
            ),
            click.option(
                "--retries",
                metavar="N",
                default=4,
                type=click.IntRange(min=1),
                show_default=True,
                help="Reads of a tile before an unreadable remote asset is left out (local files: no retry).",
            ),
            click.option(
                "--timeout",
                metavar="SECONDS",
                default=120.0,
                type=SECONDS,
                show_default=True,
                help="Seconds before a stalled HTTP read is abandoned (then retried).",
            ),
            click.option(
                "--dry-run",
                is_flag=True,
                help="Print scenes per month, collection and overpass, pixels, tiles, bytes to read and write and an "
                "estimated time; compute nothing.",
            ),
        ]
    ):
        f = opt(f)
    return f


def _run_options(f):
    """Options that choose where tiles run."""
    for opt in reversed(
        [
            click.option(
                "--tile",
                metavar="PX",
                default=None,
                type=click.IntRange(min=16),
                help="Tile side in pixels, >= 16 [default: 256 on CPU, 512 on GPU, halved on small areas so every "
                     "worker has a tile].",
            ),
            click.option(
                "--scheduler",
                metavar="ADDRESS",
                default=None,
                help="Dask scheduler address (tcp://host:8786); default: threads on this machine.",
            ),
            click.option(
                "--workers",
                metavar="N",
                default=None,
                type=click.IntRange(min=1),
                help="Tile threads on this machine [default: one per core].",
            ),
        ]
    ):
        f = opt(f)
    return _verbosity(f)


def _source_kwargs(o: dict) -> dict:
    """Library keyword arguments for the area options (checks the AOI size first)."""
    from .encode import check_device
    from .encode import EncoderSpec
    from .errors import InputError
    from .geo import MAX_AOI_KM2, BBox, Grid, check_area
    from .retry import RetryPolicy
    from .catalog import EARTH_SEARCH, Query

    aoi = _aoi(o)
    box = aoi.bbox if aoi is not None else BBox.parse(o["bbox"])
    check_device(o["device"])
    check_area(box, max_km2=MAX_AOI_KM2 if o["max_area"] is None else o["max_area"], force=o["force"])
    year, start, end = o["year"], o["start"], o["end"]
    if (year is None) == (start is None and end is None) or (start is None) != (end is None):
        raise InputError("give either --year, or both --start and --end (YYYY-MM-DD)")
    if year is not None:
        query = Query.for_year(box, year, max_cloud=o["max_cloud"], collection=o["collection"])
    else:
        query = Query.for_dates(box, start, end, max_cloud=o["max_cloud"], collection=o["collection"])
    return dict(
        query=query,
        grid=Grid.from_bbox(box, epsg=_epsg(o), resolution=o["resolution"]),
        aoi=aoi,
        stac=o["stac"] or EARTH_SEARCH,
        encoder=EncoderSpec(o["checkpoint"], device=o["device"], precision=o["precision"]),
        retry=RetryPolicy(attempts=o["retries"], timeout_s=o["timeout"]),
        allow_local_assets=o["allow_local_assets"],
    )


def _aoi(o: dict):
    from .aoi import read_aoi
    from .errors import InputError

    if (o["bbox"] is None) == (o["aoi"] is None):
        raise InputError("give the area as --bbox W,S,E,N (lon/lat degrees) or --aoi FILE (polygons), one of them")
    return read_aoi(o["aoi"]) if o["aoi"] else None


def _epsg(o: dict) -> int | None:
    from .errors import InputError
    from .geo import epsg_of

    if o["crs"] is not None and o["epsg"] is not None:
        raise InputError("give the output CRS once: --crs (or its older spelling --epsg)")
    return epsg_of(o["crs"]) if o["crs"] is not None else o["epsg"]


def _run_kwargs(o: dict) -> dict:
    return dict(tile=o["tile"], client=o["scheduler"], workers=o["workers"], progress=not o["quiet"])


def _dry_run(o: dict, *, out: str, layers: list[str], embeddings: bool) -> None:
    import os

    from .pipeline import plan_area
    from .space import embedding_bytes, human, run_bytes

    kw = _source_kwargs(o)
    plan = plan_area(**kw, tile=o["tile"], workers=o["workers"])
    per_px = embedding_bytes(kw["encoder"].load().out_dim, o["encoding"]) if embeddings else 0
    disk = run_bytes(pixels=plan.pixels, todo_pixels=plan.pixels, layers=layers, embedding_bytes_per_px=per_px)
    click.echo(plan.describe())
    click.echo(
        f"disk:   up to {human(disk)} written in {os.path.dirname(os.path.abspath(out))} (checked against its free "
        "space before a run)"
    )


@main.command()
@_area_options
@click.option(
    "--prompts", metavar="NAME|FILE", required=True, help="Prompt YAML file, or a bundled set name (e.g. land-cover)."
)
@click.option(
    "--out", metavar="FILE.tif", required=True, help="Class map to write; confidence layers go to *_score.tif."
)
@click.option("--clip-model", metavar="MODEL", default=DEFAULT_MODEL, show_default=True, help="open_clip text model.")
@click.option(
    "--clip-pretrained",
    metavar="TAG|FILE",
    default=DEFAULT_PRETRAINED,
    show_default=True,
    help="open_clip tag, weights file, or 'none'.",
)
@click.option(
    "--keep-embeddings",
    metavar="STORE.zarr",
    default=None,
    help="Also keep the embedding cube in this Zarr store (.zarr).",
)
@click.option(
    "--scenic",
    metavar="NAME|FILE",
    default=None,
    help="Also map scenicness (*_scenic.tif) with these rated prompts (YAML, CSV or 'illustrative').",
)
@click.option(
    "--scenic-method",
    type=click.Choice(["early", "late"]),
    default="early",
    show_default=True,
    help="Scenicness ensembling.",
)
@click.option("--quicklook", is_flag=True, help="Also write *_quicklook.png with a legend.")
@_overwrite
def predict(**o):
    """Map text prompts over an area for one year (embed + classify in one pass)."""
    from .pipeline import predict as run

    if o["dry_run"]:
        from .scorers import layer_dtypes

        layers = layer_dtypes(scenic=bool(o["scenic"]))
        return _dry_run(o, out=o["out"], layers=layers, embeddings=bool(o["keep_embeddings"]))
    result = run(
        prompts=o["prompts"],
        out=o["out"],
        clip_model=o["clip_model"],
        clip_pretrained=o["clip_pretrained"],
        keep_embeddings=o["keep_embeddings"],
        encoding=o["encoding"],
        scenic=o["scenic"],
        scenic_method=o["scenic_method"],
        quicklook=o["quicklook"],
        allow_missing=o["allow_missing"],
        max_skipped=o["max_skipped"],
        overwrite=o["overwrite"],
        **_source_kwargs(o),
        **_run_kwargs(o),
    )
    _report(
        result.summary, result.outputs, f"{result.grid.shape[1]}x{result.grid.shape[0]} px, {result.n_items} scenes"
    )


@main.command()
@click.option("--out", "out_dir", metavar="DIR", required=True, help="Folder for the synthetic scene and the maps.")
@click.option("--size", metavar="PX", default=256, type=click.IntRange(min=32), show_default=True,
              help="Scene side in 10 m pixels (even, >= 32).")
@click.option(
    "--checkpoint",
    metavar="FILE",
    default=None,
    help="Encoder weights; random if omitted (unless a demo model is trained).",
)
@click.option(
    "--clip-pretrained",
    metavar="TAG|FILE",
    default="none",
    show_default=True,
    help="Text tower weights; 'none' = random, offline.",
)
@click.option("--train/--no-train", default=True, show_default=True,
              help="Train a small encoder on synthetic data first (about a minute; needs tsmap_train).")
@_verbosity
def demo(out_dir, size, checkpoint, clip_pretrained, train, verbose, quiet):
    """Write a SYNTHETIC Sentinel-2 year and map it, fully offline."""
    from .demo import run_demo

    click.echo("tsmap demo: the imagery is SYNTHETIC.")
    result = run_demo(out_dir, size=size, checkpoint=checkpoint, clip_pretrained=clip_pretrained, train=train,
                      progress=not quiet)
    if result.trained:
        click.echo(f"the encoder was trained for this demo on synthetic cross-view data: {result.checkpoint}")
    elif checkpoint is None:
        click.echo("the encoder has RANDOM weights, so the map shows the pipeline, not real classes.")
    click.echo(f"scene catalog: {result.scene.catalog}")
    click.echo(
        f"wrote {result.predict.class_map}, {result.predict.score_map} and the quicklook {result.predict.quicklook}"
    )
    click.echo(f"map accuracy against the synthetic truth: {result.accuracy:.3f}")


def _add_plugin_commands(group: click.Group) -> None:
    """Commands other packages declare under the entry-point group ``tsmap.commands`` (e.g. tsmap_train's
    ``prepare``, ``train``, ``eval``); tsmap itself never imports them."""
    from importlib.metadata import entry_points

    for ep in entry_points(group="tsmap.commands"):
        if ep.name in group.commands:
            continue
        try:
            group.add_command(ep.load(), ep.name)
        except Exception as exc:  # a broken plugin must not break tsmap
            logging.getLogger("tsmap").warning("cannot load command %r from %s: %s", ep.name, ep.value, exc)


_add_plugin_commands(main)


@main.command()
@click.argument("source", metavar="[NAME|FILE]", required=False)
@_verbosity
def prompts(source, verbose, quiet):
    """List the bundled prompt sets (class and scenic), or validate one and show its classes and prompt texts."""
    from .prompts import bundled, load_prompts
    from .scenic import bundled_scenic, load_scenic

    if source is None:
        for name in bundled():
            ps = load_prompts(name)
            click.echo(f"{name:<12} {len(ps.classes):>3} classes  {ps.description}")
        for name in bundled_scenic():
            sp = load_scenic(name)
            click.echo(f"{name:<12} {len(sp.texts):>3} rated scenicness prompts (tsmap scenic --prompts {name})")
        return
    if source in bundled_scenic() or str(source).lower().endswith((".csv", ".scenic.yaml")):
        sp = load_scenic(source)
        click.echo(
            f"{sp.name}: {len(sp.texts)} rated prompts (1-10) from {len(set(sp.raters))} raters, sha256 {sp.sha256()}"
        )
        for text, value, rater in zip(sp.texts, sp.values, sp.raters):
            click.echo(f"  {value:>4g}  {text}  [{rater}]")
        return
    ps = load_prompts(source)
    click.echo(f"{ps.name}: {len(ps.classes)} classes, ensembling {ps.ensembling}, sha256 {ps.sha256()}")
    if ps.unknown:
        click.echo(f"unknown rule: {ps.to_dict()['unknown']}")
    for i, (c, texts) in enumerate(zip(ps.classes, ps.texts())):
        click.echo(f"{i:>3} {c.code or '-':<5} {c.color or '-':<8} {c.name} ({len(texts)} prompts)")
        for text in texts:
            click.echo(f"        - {text}")


@main.command()
@_area_options
@click.option(
    "--out",
    metavar="STORE.zarr",
    required=True,
    help="Embedding store to write (a .zarr folder; a STAC item goes to *_item.json).",
)
@_overwrite
def embed(**o):
    """Write the per-pixel embedding cube of an area and year (Zarr), to classify later without imagery."""
    from .pipeline import embed_area

    if o["dry_run"]:
        return _dry_run(o, out=o["out"], layers=[], embeddings=True)
    kw = _source_kwargs(o)
    result = embed_area(
        out=o["out"],
        encoding=o["encoding"],
        allow_missing=o["allow_missing"],
        max_skipped=o["max_skipped"],
        overwrite=o["overwrite"],
        **kw,
        **_run_kwargs(o),
    )
    _report(
        result.summary,
        [result.path, result.item],
        f"{result.grid.shape[1]}x{result.grid.shape[0]} px, {result.n_items} scenes",
    )


@main.command()
@click.option(
    "--embeddings",
    metavar="STORE.zarr",
    required=True,
    help="Embedding store written by `tsmap embed` (or predict --keep-embeddings).",
)
@click.option(
    "--prompts", metavar="NAME|FILE", required=True, help="Prompt YAML file, or a bundled set name (e.g. land-cover)."
)
@click.option(
    "--out", metavar="FILE.tif", required=True, help="Class map to write; confidence layers go to *_score.tif."
)
@click.option("--clip-model", metavar="MODEL", default=DEFAULT_MODEL, show_default=True, help="open_clip text model.")
@click.option(
    "--clip-pretrained",
    metavar="TAG|FILE",
    default=DEFAULT_PRETRAINED,
    show_default=True,
    help="open_clip tag, weights file, or 'none'.",
)
@click.option("--quicklook", is_flag=True, help="Also write *_quicklook.png with a legend.")
@click.option(
    "--allow-missing",
    is_flag=True,
    help="Write nodata (and record it) for tiles missing from the store, instead of failing.",
)
@_overwrite
@_run_options
def classify(**o):
    """Map text prompts from stored embeddings, without touching imagery."""
    from .pipeline import classify_embeddings

    if o["tile"] is not None:
        click.echo("note: --tile is ignored; the store's own tiles are used", err=True)
    result = classify_embeddings(
        embeddings=o["embeddings"], prompts=o["prompts"], out=o["out"], clip_model=o["clip_model"],
        clip_pretrained=o["clip_pretrained"], quicklook=o["quicklook"], client=o["scheduler"], workers=o["workers"],
        progress=not o["quiet"], allow_missing=o["allow_missing"], overwrite=o["overwrite"],
    )
    _report(result.summary, result.outputs, f"{result.grid.shape[1]}x{result.grid.shape[0]} px")


@main.command()
@click.option(
    "--embeddings",
    metavar="STORE.zarr",
    required=True,
    help="Embedding store written by `tsmap embed` (or predict --keep-embeddings).",
)
@click.option("--out", metavar="FILE.tif", required=True, help="Scenicness map to write (float32 on the 1-10 scale).")
@click.option("--prompts", metavar="NAME|FILE", default="illustrative", show_default=True,
              help="Rated prompts: a YAML file, the Levering et al. CSV, or a bundled set name.")
@click.option("--method", type=click.Choice(["early", "late"]), default="early", show_default=True,
              help="early: one softmax over all prompts; late: per rater, then the mean over raters.")
@click.option("--min-prompts", metavar="N", default=2, type=click.IntRange(min=1), show_default=True,
              help="late: only raters with at least this many prompts.")
@click.option("--clip-model", metavar="MODEL", default=DEFAULT_MODEL, show_default=True, help="open_clip text model.")
@click.option(
    "--clip-pretrained",
    metavar="TAG|FILE",
    default=DEFAULT_PRETRAINED,
    show_default=True,
    help="open_clip tag, weights file, or 'none'.",
)
@click.option("--quicklook", is_flag=True, help="Also write *_quicklook.png with a colour bar.")
@click.option(
    "--allow-missing",
    is_flag=True,
    help="Write nodata (and record it) for tiles missing from the store, instead of failing.",
)
@_overwrite
@_run_options
def scenic(**o):
    """Map scenicness (1-10) from stored embeddings and rated landscape prompts."""
    from .pipeline import scenic_embeddings

    result = scenic_embeddings(
        embeddings=o["embeddings"],
        out=o["out"],
        prompts=o["prompts"],
        method=o["method"],
        min_prompts=o["min_prompts"],
        clip_model=o["clip_model"],
        clip_pretrained=o["clip_pretrained"],
        quicklook=o["quicklook"],
        client=o["scheduler"],
        workers=o["workers"],
        progress=not o["quiet"],
        allow_missing=o["allow_missing"],
        overwrite=o["overwrite"],
    )
    _report(result.summary, result.outputs, f"{result.grid.shape[1]}x{result.grid.shape[0]} px")


def _report(summary, outputs, what: str) -> None:
    if summary is not None and summary.computed == 0 and summary.reused:
        click.echo("up to date: same inputs as the completed run; nothing recomputed")
    elif summary is not None and summary.reused:
        click.echo(f"resumed: {summary.reused} tiles from the earlier run, {summary.computed} computed now")
    if summary is not None and summary.missing:
        click.echo(f"WARNING: {len(summary.missing)} tiles are nodata because their imagery could not be read: "
                   f"{', '.join(summary.missing[:8])}", err=True)
    if summary is not None and summary.skipped:
        names = ", ".join(f"{a['item']}/{a['band']} ({len(a['tiles'])} tiles)" for a in summary.skipped[:4])
        more = f" and {len(summary.skipped) - 4} more" if len(summary.skipped) > 4 else ""
        click.echo(
            f"WARNING: {len(summary.skipped)} unreadable assets were left out: {names}{more}; first error: "
            f"{summary.skipped[0]['error']} (recorded as skipped_assets in the outputs and the ledger)",
            err=True,
        )
    if summary is not None and summary.implausible:
        total = sum(n for _, n in summary.implausible)
        tiles = ", ".join(t for t, _ in summary.implausible[:8])
        click.echo(f"WARNING: {total:,} observations held values no Sentinel-2 L2A product has (corrupt imagery?) and "
                   f"were left out, in tiles {tiles}; the outputs record them (implausible_observations)", err=True)
    click.echo(f"wrote {', '.join(outputs)} ({what})")


@main.command()
@click.argument("source", metavar="SOURCE")
@click.argument("dest", metavar="DEST.safetensors")
@click.option(
    "--text-model",
    metavar="ID",
    default=None,
    help=f"Text model id the encoder is aligned to [default: the source's; {AUTHORS_TEXT_MODEL} for the authors' "
         "weights].",
)
@click.option(
    "--annual-position",
    type=click.Choice(["first", "mean"]),
    default=None,
    help="Position row of a single (annual) time step: row 0 or the mean of the rows [default: the source's; first "
         "for the authors' weights].",
)
@_overwrite
@_verbosity
def convert(source, dest, text_model, annual_position, overwrite, verbose, quiet):
    """Convert encoder weights (the authors' .ckpt, a path or hf://OWNER/REPO/FILE) to a tsmap checkpoint
    (.safetensors)."""
    from .checkpoint import convert_checkpoint

    ckpt = convert_checkpoint(source, dest, text_model=text_model, annual_position=annual_position, overwrite=overwrite)
    config = ckpt.model.config
    single = "position row 0" if config.annual_position == "first" else "the mean position row"
    click.echo(
        f"wrote {dest}: {config.patch}x{config.patch} encoder, {ckpt.preprocessing.temporal} input, single step at "
        f"{single}, "
        f"text model {ckpt.text_model}, weights sha256 {ckpt.weights_sha256[:16]}"
    )


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
@click.option("--device", default=None, help="cpu or cuda [default: cuda when available].")
@click.option(
    "--precision", "precisions", default="fp32,bf16", show_default=True, help="Comma-separated precisions to measure."
)
@click.option("--batch", default=None, type=click.IntRange(min=1),
              help="Pixels per forward [default: the encoder's default for the device].")
@click.option("--rounds", default=3, type=click.IntRange(min=1), show_default=True,
              help="Interleaved rounds; each figure is the best round.")
@click.option("--workers", default=1, type=click.IntRange(min=1), show_default=True,
              help="CPU: concurrent single-threaded callers (as under Dask) instead of one all-thread caller.")
@click.option("--no-vit", is_flag=True, help="Skip the open_clip ViT-B-32 comparison.")
@_verbosity
def bench(as_json, device, precisions, batch, rounds, workers, no_vit, verbose, quiet):
    """Encoder px/s vs the same run's matmul roofline and CLIP ViT-B-32, in fp32 and bf16."""
    import json

    from .bench import format_report, run_bench
    from .encode import check_device

    check_device(device)
    result = run_bench(
        device=device,
        precisions=tuple(p.strip() for p in precisions.split(",") if p.strip()),
        batch=batch,
        rounds=rounds,
        workers=workers,
        vit=not no_vit,
    )
    click.echo(json.dumps(result, indent=2) if as_json else format_report(result))


@main.command()
@click.argument("path", metavar="FILE")
@_verbosity
def info(path, verbose, quiet):
    """Describe a tsmap map (.tif), embedding store (.zarr) or checkpoint: grid, classes, provenance, completeness."""
    from .info import describe

    click.echo(describe(path))


@main.command()
@click.option("--checkpoint", metavar="hf://OWNER/REPO/FILE", default=None,
              help="Encoder weights to fetch into the Hugging Face cache (e.g. hf://pallavijainpj/TimeSenCLIP/TimeSenCLIP_1x1.ckpt).")
@click.option("--clip-model", metavar="MODEL", default=DEFAULT_MODEL, show_default=True, help="open_clip text model.")
@click.option("--clip-pretrained", metavar="TAG", default=DEFAULT_PRETRAINED, show_default=True,
              help="open_clip weights to fetch ('none' to skip the text tower).")
@_verbosity
def download(checkpoint, clip_model, clip_pretrained, verbose, quiet):
    """Fetch the text tower's weights and the encoder checkpoint now, so later runs work offline."""
    from .checkpoint import resolve
    from .text import prefetch

    if clip_pretrained.lower() != "none":
        click.echo(f"text tower {clip_model}/{clip_pretrained}: {prefetch(clip_model, clip_pretrained)}")
    if checkpoint:
        click.echo(f"checkpoint {checkpoint}: {resolve(checkpoint)}")


if __name__ == "__main__":  # pragma: no cover
    main()
