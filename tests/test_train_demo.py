"""`tsmap demo` with the training package: it trains a small encoder first and maps the scene with it."""

import importlib.metadata
import re
from importlib.metadata import EntryPoint

import pytest
from click.testing import CliRunner

from tsmap_train.demo import DEMO_MODEL, demo_config

from .conftest import DEMO_SIZE


def test_demo_config_is_small_and_loadable_by_tsmap():
    cfg = demo_config("out")
    assert cfg.model == DEMO_MODEL and cfg.optim.steps * cfg.optim.batch_size >= 100_000
    assert (DEMO_MODEL.depth, DEMO_MODEL.heads, DEMO_MODEL.mlp_dim, DEMO_MODEL.out_dim) == (6, 8, 256, 512)
    assert cfg.text.clip_pretrained == "none" and cfg.run.max_seconds is not None


@pytest.mark.slow
def test_demo_trains_then_maps_the_scene(tmp_path, monkeypatch):
    from tsmap.cli import main

    ep = EntryPoint(name="default", value="tsmap_train.demo:train_demo_model", group="tsmap.demo_trainer")
    original = importlib.metadata.entry_points
    monkeypatch.setattr(
        "importlib.metadata.entry_points",
        lambda **kw: [ep] if kw.get("group") == "tsmap.demo_trainer" else original(**kw),
    )
    out = tmp_path / "demo"
    res = CliRunner().invoke(main, ["demo", "--out", str(out), "--size", str(DEMO_SIZE)])
    assert res.exit_code == 0, res.output
    assert "trained for this demo" in res.output and "RANDOM" not in res.output
    assert (out / "model" / "model.safetensors").exists() and (out / "map.tif").exists()
    accuracy = float(re.search(r"map accuracy against the synthetic truth: ([0-9.]+)", res.output)[1])
    assert accuracy >= 0.9  # random weights: 0.30 at --size 128
