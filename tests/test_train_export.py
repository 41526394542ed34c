"""The exported model: loads back exactly, and through tsmap's own loader (what `tsmap predict` uses)."""

import json

import pytest
import torch

from tsmap.checkpoint import load_encoder
from tsmap.composite import CompositeSpec
from tsmap.errors import ModelError
from tsmap.model import EncoderConfig, build_encoder
from tsmap.preprocess import Preprocessing
from tsmap_train.export import load_model, save_model


def _save(tmp_path, config):
    model = build_encoder(config, seed=3)
    prep = Preprocessing(composite=CompositeSpec(rule="clean"))
    path = save_model(model, prep, str(tmp_path / "model.ckpt"), text_model={"clip_model": "ViT-B-32", "clip_pretrained": "none"},
                      provenance={"steps": 7})
    return model, path


def test_round_trip_with_metadata(tmp_path):
    model, path = _save(tmp_path, EncoderConfig(dim=32, depth=2, heads=4, mlp_dim=64, out_dim=16))
    loaded, prep = load_model(path)
    assert loaded.config == model.config and prep.composite.rule == "clean"
    x = torch.rand(4, 12, 10)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), model.eval()(x), atol=0, rtol=0)
    meta = json.load(open(path + ".json"))
    assert meta["provenance"]["steps"] == 7 and meta["text_model"]["clip_pretrained"] == "none"
    assert meta["preprocessing"]["lo"][0] == 67.0 and "tsmap_version" in meta["provenance"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.ckpt", "model.ckpt.json"]


def test_tsmap_predict_loader_reads_the_demo_layout(tmp_path):
    model, path = _save(tmp_path, EncoderConfig(dim=64, depth=6, heads=8, mlp_dim=256))  # tsmap_train.demo.DEMO_MODEL
    loaded, _ = load_encoder(path)
    x = torch.rand(4, 12, 10)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), model.eval()(x), atol=1e-5, rtol=1e-5)


def test_mismatched_metadata_is_a_clear_error(tmp_path):
    _, path = _save(tmp_path, EncoderConfig(dim=32, depth=2, heads=4, mlp_dim=64, out_dim=16))
    meta = json.load(open(path + ".json"))
    meta["model"]["depth"] = 3
    json.dump(meta, open(path + ".json", "w"))
    with pytest.raises(ModelError, match="missing keys"):
        load_model(path)
