import pickle

import pytest
import torch

from tsmap.checkpoint import load_authors_checkpoint, load_encoder
from tsmap.errors import ModelError
from tsmap.model import EncoderConfig, build_encoder


@pytest.mark.parametrize("wrap", ["bare", "state_dict", "learner.ts_encoder.", "ts_encoder.", "TS_ViT."])
def test_authors_layouts_load(tmp_path, wrap):
    model = build_encoder(EncoderConfig(patch=5), seed=3)
    state = model.state_dict()
    if wrap == "state_dict":
        obj = {"state_dict": state, "epoch": 3}
    elif wrap != "bare":
        obj = {"state_dict": {wrap + k: v for k, v in state.items()}}
    else:
        obj = state
    path = tmp_path / "w.ckpt"
    torch.save(obj, path)
    loaded = load_authors_checkpoint(path)
    assert loaded.config.patch == 5
    x = torch.rand(2, 12, 10, 5, 5)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), model(x))


def test_mismatch_lists_keys(tmp_path):
    state = build_encoder().state_dict()
    state.pop("mlp_head.1.bias")
    state["extra.weight"] = torch.zeros(2)
    torch.save(state, tmp_path / "bad.ckpt")
    with pytest.raises(ModelError, match=r"missing keys \['mlp_head.1.bias'\]; unexpected keys \['extra.weight'\]"):
        load_authors_checkpoint(tmp_path / "bad.ckpt")


class _Evil:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


def test_never_unpickles_objects(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open("evil.ckpt", "wb") as f:
        pickle.dump({"state_dict": _Evil()}, f)
    with pytest.raises(ModelError, match="plain tensors"):
        load_authors_checkpoint("evil.ckpt")
    assert not (tmp_path / "PWNED").exists()


def test_missing_file_and_random_default(tmp_path, caplog):
    with pytest.raises(ModelError, match="does not exist"):
        load_encoder(tmp_path / "nope.ckpt")
    model, prep = load_encoder(None)
    assert "RANDOM weights" in caplog.text
    assert prep.composite.rule == "authors"
