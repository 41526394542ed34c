"""Command-line entry points: ``tsmap prepare``, ``tsmap train``, ``tsmap eval``.

The commands are plain click commands. tsmap's CLI picks them up through the entry-point group
``tsmap.commands`` (see pyproject.toml); ``python -m tsmap_train`` runs them on their own.
Each command only parses options and calls the library.
"""

from __future__ import annotations

import logging
import sys

import click

from tsmap.cli_group import ErrorGroup
from tsmap.text_model import DEFAULT_MODEL, DEFAULT_PRETRAINED


@click.command("prepare")
@click.argument("sen4map", nargs=-1, required=True, type=click.Path())
@click.option("--out", required=True, help="Training store to write (a .zarr folder).")
@click.option("--embeddings", default=None, help="LUCAS frozen CLIP embeddings (.pt dict '{NUTS0}_{ID}{W|E|N|S}').")
@click.option(
    "--photos",
    default=None,
    help="Folder of LUCAS photos to encode instead (<NUTS0>/<ID[:3]>/<ID[3:6]>/<ID><DIR>.jpg).",
)
@click.option(
    "--labels",
    "labels_csv",
    default=None,
    help="Sen4Map label table CSV (im_id, lc_label, ...); overrides HDF5 attributes.",
)
@click.option(
    "--split-file",
    "split_csv",
    default=None,
    help="CSV point_id,split (train/val/test); other points are dropped and reported.",
)
@click.option(
    "--split",
    "split_fractions",
    default="0.7,0.1,0.2",
    show_default=True,
    help="train,val,test fractions when there is no split file.",
)
@click.option("--patch", default=1, type=click.IntRange(min=1), show_default=True,
              help="Centre patch side kept per point (1, 5, 9, ...).")
@click.option(
    "--rule",
    default="authors",
    show_default=True,
    type=click.Choice(["authors", "clean"]),
    help="Cloud/composite rule.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the hash-based split.")
@click.option("--clip-model", default=DEFAULT_MODEL, show_default=True, help="open_clip image tower for --photos.")
@click.option(
    "--clip-pretrained", default=DEFAULT_PRETRAINED, show_default=True, help="Its weights (tag, file, or 'none')."
)
@click.option("--overwrite", is_flag=True, help="Replace an existing store.")
def prepare_command(sen4map, out, embeddings, photos, labels_csv, split_csv, split_fractions, patch, rule, seed,
                    clip_model, clip_pretrained, overwrite):
    """Build a training store from Sen4Map HDF5 files and LUCAS ground embeddings."""
    from tsmap.specs import CompositeSpec

    from .prepare import prepare

    report = prepare(
        list(sen4map), out=out, embeddings=embeddings, photos=photos, labels_csv=labels_csv, split_csv=split_csv,
        patch=patch, composite=CompositeSpec(rule=rule), split_fractions=_floats(split_fractions, "--split"), seed=seed,
        clip_model=clip_model, clip_pretrained=clip_pretrained, overwrite=overwrite,
    )
    click.echo(report.summary())


@click.command("train")
@click.option("--config", "config_path", required=True, help="Training config (YAML).")
@click.option("--set", "overrides", multiple=True, help="Override one key, e.g. --set optim.steps=100 (repeatable).")
@click.option("--resume", is_flag=True, help="Continue from run.out/state_last.pt.")
@click.option("--resume-from", default=None, help="Continue from this training-state file.")
def train_command(config_path, overrides, resume, resume_from):
    """Train the satellite encoder against ground embeddings (InfoNCE with a queue)."""
    from .config import load_config
    from .trainer import train

    cfg = load_config(config_path, overrides=list(overrides))
    logging.getLogger("tsmap.train").setLevel(logging.INFO)  # progress every run.log_every steps
    result = train(cfg, resume=resume_from or resume)
    loss = f"{result.losses[-1]:.4f}" if result.losses else "n/a"
    click.echo(
        f"trained {result.step}/{result.total_steps} steps, last loss {loss}, {result.samples_per_s:,.0f} samples/s"
    )
    click.echo(f"state: {result.state}")
    if result.model:
        click.echo(f"model: {result.model}")


@click.command("eval")
@click.option("--checkpoint", required=True, help="Encoder checkpoint to evaluate.")
@click.option("--store", required=True, help="Training store (from `tsmap prepare`).")
@click.option("--split", default="test", show_default=True, help="Split to evaluate on (train, val, test).")
@click.option("--tasks", default="lc,lu,crop,eunis,bioregion", show_default=True, help="Zero-shot tasks.")
@click.option(
    "--prompt-kinds",
    default="class-name,template,descriptive",
    show_default=True,
    help="template = the paper's 'a centered satellite image of {}'; also template-ensemble (tsmap's 7 templates).",
)
@click.option("--temporal", default="monthly,quarterly,single", show_default=True)
@click.option(
    "--prompts", "prompt_sets", multiple=True, help="Descriptive prompt set per task: TASK=FILE_OR_NAME (repeatable)."
)
@click.option("--no-retrieval", is_flag=True, help="Skip Recall@1.")
@click.option("--scenic-scores", default=None, help="CSV point_id,score of scenicness ground truth.")
@click.option(
    "--scenic-prompts",
    default=None,
    help="Rated prompts CSV (Levering et al.: user_index, values_in_order, prompts_in_order).",
)
@click.option("--clip-model", default=DEFAULT_MODEL, show_default=True)
@click.option(
    "--clip-pretrained", default=DEFAULT_PRETRAINED, show_default=True, help="open_clip tag, weights file, or 'none'."
)
@click.option("--json", "json_out", default=None, help="Also write the results as JSON here.")
def eval_command(checkpoint, store, split, tasks, prompt_kinds, temporal, prompt_sets, no_retrieval, scenic_scores,
                 scenic_prompts, clip_model, clip_pretrained, json_out):
    """Zero-shot top-1, Recall@1 and scenicness of a checkpoint on a store."""
    from tsmap.errors import InputError

    from .evaluate import EvalSpec, evaluate

    sets = {}
    for item in prompt_sets:
        task, sep, source = item.partition("=")
        if not sep or not source:
            raise InputError(f"--prompts {item!r} must look like TASK=FILE (e.g. lc=my-land-cover.yaml)")
        sets[task] = source
    spec = EvalSpec(
        tasks=_names(tasks), prompt_kinds=_names(prompt_kinds), temporal=_names(temporal), split=split,
        retrieval=not no_retrieval, prompt_sets=sets, clip_model=clip_model, clip_pretrained=clip_pretrained,
    )
    report = evaluate(
        store=store, checkpoint=checkpoint, spec=spec, scenic_scores=scenic_scores, scenic_prompts=scenic_prompts
    )
    click.echo(report.table())
    if json_out:
        with open(json_out, "w", encoding="utf-8") as f:
            f.write(report.to_json())
        click.echo(f"wrote {json_out}")


def _names(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def _floats(text: str, option: str) -> tuple[float, ...]:
    from tsmap.errors import InputError

    try:
        return tuple(float(t) for t in text.split(","))
    except ValueError:
        raise InputError(f"{option} {text!r} must be comma-separated numbers, e.g. 0.7,0.1,0.2") from None


@click.group(cls=ErrorGroup)
@click.option("-v", "--verbose", is_flag=True, help="Log progress details.")
def cli(verbose: bool) -> None:
    """tsmap training tools: prepare a store, train, evaluate."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s: %(message)s", stream=sys.stderr
    )


for _command in (prepare_command, train_command, eval_command):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """``python -m tsmap_train ARGS``; tests call ``main([...])``."""
    cli.main(args=argv, prog_name="python -m tsmap_train")
