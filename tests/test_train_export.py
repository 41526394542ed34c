"""The exported model: a tsmap checkpoint that loads back exactly through tsmap's own loader."""

import pytest
import torch

from tsmap.checkpoint import load_checkpoint, load_encoder
from tsmap.specs import CompositeSpec
from tsmap.errors import ModelError
from tsmap.model import EncoderConfig, build_encoder
from tsmap.specs import Preprocessing
from tsmap_train.export import MODEL_FILE, load_model, save_model


def _save(tmp_path, config):
    model = build_encoder(config, seed=3)
    prep = Preprocessing(composite=CompositeSpec(rule="clean"))
    path = save_model(
        model,
        prep,
        str(tmp_path / MODEL_FILE),
        text_model={"clip_model": "ViT-B-32", "clip_pretrained": "none"},
        provenance={"steps": 7},
    )
    return model, path


def test_round_trip_with_metadata(tmp_path):
    model, path = _save(tmp_path, EncoderConfig(dim=32, depth=2, heads=4, mlp_dim=64, out_dim=16))
    loaded, prep = load_model(path)
    assert loaded.config == model.config and prep.composite.rule == "clean"
    x = torch.rand(4, 12, 10)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), model.eval()(x), atol=0, rtol=0)
    ckpt = load_checkpoint(path)
    assert ckpt.provenance["steps"] == 7 and ckpt.text_model == "open_clip:ViT-B-32/none"
    assert ckpt.preprocessing.lo[0] == 67.0 and "tsmap_version" in ckpt.provenance
    assert sorted(p.name for p in tmp_path.iterdir()) == [MODEL_FILE]


def test_tsmap_predict_loader_reads_the_demo_layout(tmp_path):
    model, path = _save(tmp_path, EncoderConfig(dim=64, depth=6, heads=8, mlp_dim=256))  # tsmap_train.demo.DEMO_MODEL
    loaded, _ = load_encoder(path)
    x = torch.rand(4, 12, 10)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), model.eval()(x), atol=1e-5, rtol=1e-5)


def test_tampered_file_is_a_clear_error(tmp_path):
    _, path = _save(tmp_path, EncoderConfig(dim=32, depth=2, heads=4, mlp_dim=64, out_dim=16))
    data = bytearray(open(path, "rb").read())
    data[-5] ^= 0xFF  # flip bits in the last tensor
    open(path, "wb").write(bytes(data))
    with pytest.raises(ModelError, match=r"model\.safetensors' is corrupt or was modified: weights hash \w{12} != "
                                         r"recorded \w{12}; re-download or re-convert it"):
        load_model(path)
