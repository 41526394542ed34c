"""`prepare`, `train` and `eval` from the command line, end to end on tiny files."""

import datetime as dt
import importlib.metadata
import json
import subprocess
import sys
from importlib.metadata import EntryPoint

import click
import numpy as np
from click.testing import CliRunner

from tsmap_train.cli import cli
from tsmap_train.testing import point_series, write_embedding_file, write_sen4map

CLASSES = [("Cropland", "B16"), ("Woodland", "C10"), ("Water", "G10"), ("Bare Land", "F10")]


def _files(tmp_path):
    rng = np.random.default_rng(0)
    dates = [dt.date(2018, m, 8) for m in range(1, 13)]
    points, entries = [], {}
    anchors = rng.normal(size=(4, 512))
    for i in range(40):
        cls, code = CLASSES[i % 4]
        pid = f"{50000000 + i}"
        points.append({"id": pid, "dn": point_series(cls, dates, size=4, rng=rng), "scl": np.full((12, 4, 4), 4),
                       "dates": dates, "attrs": {"lc1": code, "nuts0": "AT"}})
        if i != 7:  # point 50000007 has no photos
            for d in "WENS":
                entries[f"AT_{pid}{d}"] = anchors[i % 4] + rng.normal(0, 0.3, 512)
    return write_sen4map(str(tmp_path / "s.h5"), points), write_embedding_file(str(tmp_path / "e.pt"), entries)


def test_prepare_train_eval(tmp_path):
    h5, emb = _files(tmp_path)
    runner = CliRunner()
    store = tmp_path / "store.zarr"
    res = runner.invoke(cli, ["prepare", h5, "--embeddings", emb, "--out", str(store), "--split", "0.5,0,0.5"])
    assert res.exit_code == 0, res.output
    assert "of 40 points" in res.output and "dropped 1 (no ground photos): 50000007" in res.output
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        f"data: {{store: {store}}}\nmodel: {{dim: 32, depth: 1, heads: 4, mlp_dim: 32}}\n"
        f"objective: {{queue_size: 16}}\noptim: {{steps: 4, batch_size: 8, lr: 1.0e-3}}\nrun: "
        f"{{out: {tmp_path / 'run'}, threads: 1}}\n"
    )
    res = runner.invoke(cli, ["train", "--config", str(cfg), "--set", "optim.steps=5"])
    assert res.exit_code == 0, res.output
    assert "trained 5/5 steps" in res.output and "samples/s" in res.output
    model = tmp_path / "run" / "model.safetensors"
    assert model.exists()
    res = runner.invoke(cli, ["train", "--config", str(cfg), "--set", "optim.steps=5", "--resume"])
    assert res.exit_code == 0 and "trained 5/5" in res.output  # nothing left to do
    out_json = tmp_path / "eval.json"
    res = runner.invoke(
        cli,
        [
            "eval",
            "--checkpoint",
            str(model),
            "--store",
            str(store),
            "--tasks",
            "lc",
            "--prompt-kinds",
            "class-name",
            "--temporal",
            "monthly,single",
            "--clip-pretrained",
            "none",
            "--json",
            str(out_json),
        ],
    )
    assert res.exit_code == 0, res.output
    rows = json.loads(out_json.read_text())["rows"]
    assert {(r["task"], r["metric"], r["temporal"]) for r in rows} >= {
        ("lc", "top1", "monthly"),
        ("lc", "recall@1_g2s", "single"),
        ("country", "recall@1_s2g", "monthly"),
    }
    assert "recall@1_s2g" in res.output and all(0 <= r["value"] <= 1 for r in rows)


def test_errors_are_one_line(tmp_path):
    res = subprocess.run([sys.executable, "-m", "tsmap_train", "train", "--config", str(tmp_path / "none.yaml")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines() == [
        f"Error: config file {str(tmp_path / 'none.yaml')!r} does not exist; see the README for an example"
    ]
    res = CliRunner().invoke(cli, ["prepare", str(tmp_path / "x.h5"), "--out", str(tmp_path / "o.zarr")])
    assert res.exit_code == 1 and "exactly one ground source" in res.output
    res = CliRunner().invoke(cli, ["eval", "--checkpoint", "x", "--store", "y", "--prompts", "lc"])
    assert res.exit_code == 1 and "TASK=FILE" in res.output
    assert not (tmp_path / "o.zarr").exists()


def test_tsmap_discovers_the_commands_through_entry_points(monkeypatch):
    import tsmap.cli

    eps = [
        EntryPoint(name=n, value=f"tsmap_train.cli:{n}_command", group="tsmap.commands")
        for n in ("prepare", "train", "eval")
    ]
    eps.append(EntryPoint(name="broken", value="tsmap_train.cli:no_such_command", group="tsmap.commands"))
    original = importlib.metadata.entry_points
    monkeypatch.setattr(
        "importlib.metadata.entry_points", lambda **kw: eps if kw.get("group") == "tsmap.commands" else original(**kw)
    )

    @click.group()
    def fresh():
        pass

    tsmap.cli._add_plugin_commands(fresh)
    assert sorted(fresh.commands) == ["eval", "prepare", "train"]  # the broken one is skipped with a warning
    res = CliRunner().invoke(fresh, ["train", "--help"])
    assert res.exit_code == 0 and "--resume" in res.output


def test_authors_recipe_through_both_command_lines(tmp_path, monkeypatch):
    """`recipe: authors` trains from `python -m tsmap_train train` and from `tsmap train` (entry point)."""
    import tsmap.cli
    from tsmap.checkpoint import load_checkpoint
    from tsmap.cli_group import ErrorGroup
    from tsmap_train.store import write_store
    from tsmap_train.synthetic import CrossViewSpec, make_crossview

    anchors = np.random.default_rng(0).normal(size=(6, 16))
    store = write_store(make_crossview(anchors, CrossViewSpec(per_class=20, seed=0)), tmp_path / "syn.zarr")
    cfg = tmp_path / "authors.yaml"
    cfg.write_text(f"recipe: authors\ndata: {{store: {store}}}\n"
                   "model: {dim: 32, depth: 1, heads: 4, mlp_dim: 32, out_dim: 16}\nobjective: {queue_size: 16}\n"
                   "augment: {name: tsmixaug}\noptim: {steps: 3, batch_size: 8, accumulate: 2}\n"
                   f"run: {{out: {tmp_path / 'a'}, threads: 1}}\n")
    command = [sys.executable, "-m", "tsmap_train", "train", "--config", str(cfg)]
    res = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "trained 3/3 steps" in res.stdout
    provenance = load_checkpoint(str(tmp_path / "a" / "model.safetensors")).provenance
    assert provenance["config"]["recipe"] == "authors" and provenance["config"]["optim"]["schedule"] == "cycles"
    assert provenance["config"]["optim"]["accumulate"] == 2  # the file's key beat the recipe's 8

    eps = [EntryPoint(name="train", value="tsmap_train.cli:train_command", group="tsmap.commands")]
    original = importlib.metadata.entry_points
    monkeypatch.setattr("importlib.metadata.entry_points",
                        lambda **kw: eps if kw.get("group") == "tsmap.commands" else original(**kw))

    @click.group(cls=ErrorGroup)
    def fresh():
        pass

    tsmap.cli._add_plugin_commands(fresh)
    res = CliRunner().invoke(fresh, ["train", "--config", str(cfg), "--set", f"run.out={tmp_path / 'b'}",
                                     "--set", "optim.steps=2"])
    assert res.exit_code == 0, res.output
    assert "trained 2/2 steps" in res.output
    assert load_checkpoint(str(tmp_path / "b" / "model.safetensors")).provenance["config"]["recipe"] == "authors"
    res = CliRunner().invoke(fresh, ["train", "--config", str(cfg), "--set", "recipe=theirs"])
    assert res.exit_code == 1 and "recipe 'theirs' must be one of tsmap, authors" in res.output
