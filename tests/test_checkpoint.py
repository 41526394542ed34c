import json
import os
import pickle

import pytest
import torch
from safetensors.torch import load_file, save_file

from tsmap import checkpoint as ckpt_mod
from tsmap.checkpoint import AUTHORS_HF, convert_checkpoint, load_authors_checkpoint, load_checkpoint, load_encoder, parse_hf
from tsmap.checkpoint_format import read_checkpoint, read_metadata, save_checkpoint, weights_sha256
from tsmap.errors import InputError, ModelError
from tsmap.model import EncoderConfig, build_encoder
from tsmap.preprocess import AUTHORS, Preprocessing

SMALL = EncoderConfig(dim=64, depth=2, heads=8, mlp_dim=32, out_dim=16)


def _outputs(model, patch=1):
    x = torch.rand(4, 12, 10, patch, patch, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        return model(x)


@pytest.mark.parametrize("wrap", ["bare", "state_dict", "learner.ts_encoder.", "ts_encoder.", "TS_ViT."])
def test_authors_layouts_load(tmp_path, wrap):
    model = build_encoder(EncoderConfig(patch=5), seed=3)
    state = model.state_dict()
    if wrap == "state_dict":
        obj = {"state_dict": state, "epoch": 3}
    elif wrap != "bare":  # a Lightning module also holds the ground side and training state
        obj = {"state_dict": {wrap + k: v for k, v in state.items()} | {"learner.queue": torch.zeros(3), "logit_scale": torch.ones(())}, "epoch": 7}
    else:
        obj = state
    torch.save(obj, tmp_path / "w.ckpt")
    loaded = load_authors_checkpoint(tmp_path / "w.ckpt")
    assert loaded.config.patch == 5 and not loaded.training
    torch.testing.assert_close(_outputs(loaded, 5), _outputs(model, 5), atol=0, rtol=0)
    m2, prep = load_encoder(tmp_path / "w.ckpt")
    assert prep.patch == 5 and prep.composite.rule == "authors" and prep.lo == AUTHORS.lo


def test_shapes_define_the_model(tmp_path):
    model = build_encoder(SMALL, seed=1)
    torch.save(model.state_dict(), tmp_path / "small.ckpt")
    assert load_authors_checkpoint(tmp_path / "small.ckpt").config == SMALL


def test_mismatch_lists_keys(tmp_path):
    state = build_encoder().state_dict()
    state.pop("mlp_head.1.bias")
    state["extra.weight"] = torch.zeros(2)
    torch.save(state, tmp_path / "bad.ckpt")
    with pytest.raises(ModelError, match=r"missing keys \['mlp_head.1.bias'\]; unexpected keys \['extra.weight'\]"):
        load_authors_checkpoint(tmp_path / "bad.ckpt")
    state = build_encoder().state_dict()
    state["transformer.layers.0.linear1.bias"] = torch.zeros(300)
    torch.save(state, tmp_path / "bad2.ckpt")
    with pytest.raises(ModelError, match=r"shape mismatches \['transformer.layers.0.linear1.bias \(300,\) != \(256,\)'\]"):
        load_encoder(tmp_path / "bad2.ckpt")
    torch.save({"weights": [1, 2]}, tmp_path / "other.ckpt")
    with pytest.raises(ModelError, match="not a TimeSenCLIP encoder"):
        load_encoder(tmp_path / "other.ckpt")


class _Evil:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


@pytest.mark.parametrize("how", ["pickle", "torch.save"])
def test_never_unpickles_objects(tmp_path, monkeypatch, how):
    monkeypatch.chdir(tmp_path)
    payload = {"state_dict": build_encoder(SMALL).state_dict(), "hyper_parameters": _Evil()}
    if how == "pickle":
        with open("evil.ckpt", "wb") as f:
            pickle.dump(payload, f)
    else:
        torch.save(payload, "evil.ckpt")
    for load in (load_authors_checkpoint, load_encoder, lambda p: convert_checkpoint(p, "out.safetensors")):
        with pytest.raises(ModelError, match="plain tensors"):
            load("evil.ckpt")
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "out.safetensors").exists()


def test_missing_file_and_random_default(tmp_path, caplog):
    with pytest.raises(ModelError, match="does not exist"):
        load_encoder(tmp_path / "nope.ckpt")
    model, prep = load_encoder(None)
    assert "RANDOM weights" in caplog.text
    assert prep.composite.rule == "authors"


def test_convert_round_trip_is_self_describing(tmp_path):
    model = build_encoder(EncoderConfig(patch=5), seed=11)
    torch.save({"state_dict": {"learner.ts_encoder." + k: v for k, v in model.state_dict().items()}}, tmp_path / "a.ckpt")
    ck = convert_checkpoint(tmp_path / "a.ckpt", tmp_path / "a.safetensors")
    torch.testing.assert_close(_outputs(ck.model, 5), _outputs(model, 5), atol=0, rtol=0)
    meta = read_metadata(tmp_path / "a.safetensors")
    assert meta["model"] == EncoderConfig(patch=5).to_dict()
    composite = meta["preprocessing"]["composite"]
    assert meta["preprocessing"]["patch"] == 5 and (composite["rule"], composite["periods"]) == ("authors", 12)
    assert meta["preprocessing"]["lo"][0] == 67.0 and meta["preprocessing"]["harmonise_offset"] is True
    assert meta["text_model"] == "open_clip:ViT-B-32/openai"
    prov = meta["provenance"]
    assert prov["source"].endswith("a.ckpt") and len(prov["source_sha256"]) == 64 and "Sen4Map" in prov["training_data"]
    assert prov["tsmap_version"] and meta["weights_sha256"] == weights_sha256(model.state_dict())
    # the converted file loads through the same entry point as the original, to the same outputs
    loaded, prep = load_encoder(tmp_path / "a.safetensors")
    torch.testing.assert_close(_outputs(loaded, 5), _outputs(model, 5), atol=0, rtol=0)
    assert prep == Preprocessing.from_dict(meta["preprocessing"]) and prep.patch == 5
    with open(tmp_path / "a.safetensors", "rb") as f:  # no pickle opcodes: the header is JSON
        assert f.read(9)[8:9] == b"{"


def test_save_and_read_with_training_provenance(tmp_path):
    model = build_encoder(SMALL, seed=5)
    prep = Preprocessing()
    digest = save_checkpoint(tmp_path / "t.safetensors", model, prep, text_model="open_clip:ViT-B-32/openai", provenance={"training_data": "synthetic", "step": 1200})
    ck = read_checkpoint(tmp_path / "t.safetensors")
    assert ck.weights_sha256 == digest and ck.provenance["step"] == 1200 and ck.model.config == SMALL
    with pytest.raises(ModelError, match="plain JSON"):
        save_checkpoint(tmp_path / "u.safetensors", model, prep, text_model="x", provenance={"when": object()})
    with pytest.raises(ModelError, match="patch"):
        save_checkpoint(tmp_path / "u.safetensors", model, Preprocessing(patch=5), text_model="x")
    assert sorted(os.listdir(tmp_path)) == ["t.safetensors"]  # nothing partial left behind


def _rewrite(path, *, meta=None, tensors=None):
    raw = read_metadata(path)
    state = load_file(path)
    save_file(tensors(state) if tensors else state, path, metadata={"tsmap": json.dumps(meta(raw) if meta else raw)})


@pytest.mark.parametrize(
    "edit, message",
    [
        (dict(tensors=lambda s: s | {"class_token": s["class_token"] + 1e-3}), "modified: weights hash"),
        (dict(meta=lambda m: m | {"model": m["model"] | {"mlp_dim": 48}}), r"shape mismatches \['transformer.layers.0.linear1.weight"),
        (dict(meta=lambda m: m | {"format_version": 2}), "upgrade tsmap"),
        (dict(meta=lambda m: m | {"format": "other"}), "not a tsmap encoder checkpoint"),
        (dict(meta=lambda m: m | {"model": m["model"] | {"wings": 2}}), "invalid metadata"),
        (dict(meta=lambda m: m | {"preprocessing": m["preprocessing"] | {"lo": [0.0]}}), "invalid metadata"),
        (dict(meta=lambda m: {k: v for k, v in m.items() if k != "weights_sha256"}), "invalid metadata"),
    ],
)
def test_tampered_checkpoints_fail_clearly(tmp_path, edit, message):
    path = tmp_path / "t.safetensors"
    save_checkpoint(path, build_encoder(SMALL), Preprocessing(), text_model="x")
    _rewrite(path, **edit)
    with pytest.raises(ModelError, match=message):
        load_encoder(path)


def test_corrupt_bytes_and_truncation(tmp_path):
    path = tmp_path / "t.safetensors"
    save_checkpoint(path, build_encoder(SMALL), Preprocessing(), text_model="x")
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # flip bits in the last tensor
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="modified: weights hash"):
        load_encoder(path)
    path.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(ModelError, match="truncated or corrupt"):
        load_encoder(path)


def test_plain_safetensors_is_read_as_the_authors_layout(tmp_path):
    model = build_encoder(SMALL, seed=2)
    save_file(model.state_dict(), tmp_path / "plain.safetensors")
    loaded, prep = load_encoder(tmp_path / "plain.safetensors")
    torch.testing.assert_close(_outputs(loaded), _outputs(model), atol=0, rtol=0)
    assert prep == AUTHORS


def test_hf_references(tmp_path, monkeypatch):
    assert parse_hf(AUTHORS_HF) == ("pallavijainpj/TimeSenCLIP", "TimeSenCLIP_1x1.ckpt", None)
    assert parse_hf("hf://o/r@v2/sub/w.ckpt") == ("o/r", "sub/w.ckpt", "v2")
    with pytest.raises(InputError, match="hf://OWNER/REPO/FILE"):
        load_encoder("hf://pallavijainpj/TimeSenCLIP")
    model = build_encoder(SMALL, seed=6)
    torch.save(model.state_dict(), tmp_path / "cached.ckpt")
    calls = []

    def fake_download(repo_id, filename, *, revision=None):
        calls.append((repo_id, filename, revision))
        return str(tmp_path / "cached.ckpt")

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    loaded, _ = load_encoder(AUTHORS_HF)
    assert calls == [("pallavijainpj/TimeSenCLIP", "TimeSenCLIP_1x1.ckpt", None)]
    torch.testing.assert_close(_outputs(loaded), _outputs(model), atol=0, rtol=0)
    assert load_checkpoint(AUTHORS_HF).provenance["source"] == AUTHORS_HF


def test_hf_download_failure_is_one_clear_line(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ModelError, match=r"cannot download hf://pallavijainpj/TimeSenCLIP/TimeSenCLIP_1x1.ckpt .*local path") as err:
        ckpt_mod.resolve(AUTHORS_HF)
    assert "\n" not in str(err.value)


def test_cli_convert(tmp_path):
    from click.testing import CliRunner

    from tsmap.cli import main

    torch.save({"state_dict": {"TS_ViT." + k: v for k, v in build_encoder(SMALL).state_dict().items()}}, tmp_path / "a.ckpt")
    res = CliRunner().invoke(main, ["convert", str(tmp_path / "a.ckpt"), str(tmp_path / "a.safetensors")])
    assert res.exit_code == 0, res.output
    assert "1x1 encoder, monthly input, text model open_clip:ViT-B-32/openai" in res.output
    assert read_checkpoint(tmp_path / "a.safetensors").model.config == SMALL
    res = CliRunner().invoke(main, ["convert", str(tmp_path / "a.ckpt"), str(tmp_path / "a.pt")])
    assert res.exit_code == 1 and res.output.startswith("Error: output") and "must end in .safetensors" in res.output
    assert not (tmp_path / "a.pt").exists()
