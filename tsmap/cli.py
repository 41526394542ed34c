"""The ``tsmap`` command line. It only parses options and calls the library."""

from __future__ import annotations

import logging
import sys

import click

from .errors import TsmapError


class _Group(click.Group):
    """Turns library errors into one line on stderr and exit code 1, without a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except TsmapError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(1)


@click.group(cls=_Group)
@click.version_option(package_name="tsmap")
@click.option("-v", "--verbose", is_flag=True, help="Log progress details.")
def main(verbose: bool) -> None:
    """Open-vocabulary maps from Sentinel-2 time series (TimeSenCLIP)."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s: %(message)s", stream=sys.stderr
    )


@main.command()
@click.option("--bbox", required=True, help="Area of interest as W,S,E,N in lon/lat degrees.")
@click.option("--year", type=int, default=None, help="Calendar year of imagery (or give --start and --end).")
@click.option("--start", default=None, help="First day of imagery, YYYY-MM-DD (with --end; at most one year).")
@click.option("--end", default=None, help="Last day of imagery, YYYY-MM-DD (inclusive).")
@click.option("--prompts", required=True, help="Prompt YAML file, or a bundled set name (e.g. land-cover).")
@click.option("--out", required=True, help="Class map to write (.tif); the top-1 score goes to *_score.tif.")
@click.option("--stac", default=None,
              help="earth-search, planetary-computer, cdse, any STAC API URL, or a static catalog/item collection [default: earth-search].")
@click.option("--checkpoint", default=None, help="Encoder weights: a tsmap .safetensors, the authors' .ckpt, or hf://OWNER/REPO/FILE. Random if omitted.")
@click.option("--clip-model", default="ViT-B-32", show_default=True, help="open_clip text model.")
@click.option("--clip-pretrained", default="openai", show_default=True, help="open_clip tag, weights file, or 'none'.")
@click.option("--max-cloud", default=100.0, show_default=True, help="Skip scenes with more cloud cover (%).")
@click.option("--epsg", default=None, type=int, help="Output CRS [default: UTM zone of the AOI centre].")
@click.option("--max-area", default=None, type=float, help="AOI size limit in km² [default: 10,000].")
@click.option("--force", is_flag=True, help="Allow AOIs larger than the --max-area limit.")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto", show_default=True, help="Encoder precision; auto = bf16 where the CPU/GPU runs it natively.")
def predict(bbox, year, start, end, prompts, out, stac, checkpoint, clip_model, clip_pretrained, max_cloud, epsg, max_area, force, precision):
    """Map text prompts over an area for one year (or a window of at most one year)."""
    from .geo import MAX_AOI_KM2, BBox, Grid, check_area
    from .errors import InputError
    from .pipeline import predict as run
    from .search import EARTH_SEARCH, Query

    box = BBox.parse(bbox)
    check_area(box, max_km2=MAX_AOI_KM2 if max_area is None else max_area, force=force)
    if (year is None) == (start is None and end is None) or (start is None) != (end is None):
        raise InputError("give either --year, or both --start and --end (YYYY-MM-DD)")
    if year is not None:
        query = Query.for_year(box, year, max_cloud=max_cloud)
    else:
        query = Query.for_dates(box, start, end, max_cloud=max_cloud)
    result = run(
        prompts=prompts,
        out=out,
        query=query,
        grid=Grid.from_bbox(box, epsg=epsg),
        stac=stac or EARTH_SEARCH,
        checkpoint=checkpoint,
        clip_model=clip_model,
        clip_pretrained=clip_pretrained,
        precision=precision,
    )
    click.echo(f"wrote {result.class_map} and {result.score_map} ({result.grid.shape[1]}x{result.grid.shape[0]} px, {result.n_items} scenes)")


@main.command()
@click.option("--out", "out_dir", required=True, help="Folder for the synthetic scene and the maps.")
@click.option("--size", default=256, show_default=True, help="Scene side in 10 m pixels.")
@click.option("--checkpoint", default=None, help="Encoder weights; random if omitted (unless a demo model is trained).")
@click.option("--clip-pretrained", default="none", show_default=True, help="Text tower weights; 'none' = random, offline.")
@click.option("--train/--no-train", default=True, show_default=True,
              help="Train a small encoder on synthetic data first (about a minute; needs tsmap_train).")
def demo(out_dir, size, checkpoint, clip_pretrained, train):
    """Write a SYNTHETIC Sentinel-2 year and map it, fully offline."""
    from .demo import run_demo

    click.echo("tsmap demo: the imagery is SYNTHETIC.")
    result = run_demo(out_dir, size=size, checkpoint=checkpoint, clip_pretrained=clip_pretrained, train=train)
    if result.trained:
        click.echo(f"the encoder was trained for this demo on synthetic cross-view data: {result.checkpoint}")
    elif checkpoint is None:
        click.echo("the encoder has RANDOM weights, so the map shows the pipeline, not real classes.")
    click.echo(f"scene catalog: {result.scene.catalog}")
    click.echo(f"wrote {result.predict.class_map} and {result.predict.score_map}")
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
@click.argument("source", required=False)
def prompts(source):
    """List the bundled prompt sets, or validate and show one (a name or a YAML file)."""
    from .prompts import bundled, load_prompts

    if source is None:
        for name in bundled():
            ps = load_prompts(name)
            click.echo(f"{name:<12} {len(ps.classes):>3} classes  {ps.description}")
        return
    ps = load_prompts(source)
    click.echo(f"{ps.name}: {len(ps.classes)} classes, ensembling {ps.ensembling}, sha256 {ps.sha256()}")
    if ps.unknown:
        click.echo(f"unknown rule: {ps.to_dict()['unknown']}")
    for i, (c, texts) in enumerate(zip(ps.classes, ps.texts())):
        click.echo(f"{i:>3} {c.code or '-':<5} {c.color or '-':<8} {c.name} ({len(texts)} prompts)")


@main.command()
@click.argument("source")
@click.argument("dest")
@click.option("--text-model", default=None, help="Text model id the encoder is aligned to [default: the source's; open_clip:ViT-B-32/openai for the authors' weights].")
def convert(source, dest, text_model):
    """Convert encoder weights (the authors' .ckpt, a path or hf://OWNER/REPO/FILE) to a tsmap checkpoint (.safetensors)."""
    from .checkpoint import convert_checkpoint

    ckpt = convert_checkpoint(source, dest, text_model=text_model)
    config = ckpt.model.config
    click.echo(f"wrote {dest}: {config.patch}x{config.patch} encoder, {ckpt.preprocessing.temporal} input, text model {ckpt.text_model}, weights sha256 {ckpt.weights_sha256[:16]}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
@click.option("--device", default=None, help="cpu or cuda [default: cuda when available].")
@click.option("--precision", "precisions", default="fp32,bf16", show_default=True, help="Comma-separated precisions to measure.")
@click.option("--batch", default=None, type=int, help="Pixels per forward [default: the encoder's default for the device].")
@click.option("--rounds", default=3, show_default=True, help="Interleaved rounds; each figure is the best round.")
@click.option("--workers", default=1, show_default=True, help="CPU: concurrent single-threaded callers (as under Dask) instead of one all-thread caller.")
@click.option("--no-vit", is_flag=True, help="Skip the open_clip ViT-B-32 comparison.")
def bench(as_json, device, precisions, batch, rounds, workers, no_vit):
    """Encoder px/s vs the same run's matmul roofline and CLIP ViT-B-32, in fp32 and bf16."""
    import json

    from .bench import format_report, run_bench

    result = run_bench(device=device, precisions=tuple(p.strip() for p in precisions.split(",") if p.strip()), batch=batch, rounds=rounds, workers=workers, vit=not no_vit)
    click.echo(json.dumps(result, indent=2) if as_json else format_report(result))


if __name__ == "__main__":  # pragma: no cover
    main()
