import argparse
import json
import logging
import os
import pickle
import shlex
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file, save_file

from tsmap import checkpoint as ckpt_mod
from tsmap.checkpoint import (
    AUTHORS_HF,
    convert_checkpoint,
    load_authors_checkpoint,
    load_checkpoint,
    load_encoder,
    parse_hf,
)
from tsmap.checkpoint import metadata_sha256, read_checkpoint, read_metadata, save_checkpoint, weights_sha256
from tsmap.encode import EncoderSpec
from tsmap.errors import InputError, ModelError
from tsmap.model import EncoderConfig, build_encoder
from tsmap.specs import AUTHORS, Preprocessing
from tsmap.text_model import AUTHORS_TEXT_MODEL

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
        obj = {
            "state_dict": {wrap + k: v for k, v in state.items()}
            | {"learner.queue": torch.zeros(3), "logit_scale": torch.ones(())},
            "epoch": 7,
        }
    else:
        obj = state
    torch.save(obj, tmp_path / "w.ckpt")
    loaded = load_authors_checkpoint(tmp_path / "w.ckpt")
    assert loaded.config.patch == 5 and not loaded.training
    torch.testing.assert_close(_outputs(loaded, 5), _outputs(model, 5), atol=0, rtol=0)
    m2, prep = load_encoder(tmp_path / "w.ckpt")
    assert prep.patch == 5 and prep.composite.rule == "authors" and prep.lo == AUTHORS.lo
    assert m2.config == EncoderConfig(patch=5, annual_position="first")  # a single step takes row 0, as theirs


def test_other_architectures_need_an_explicit_config(tmp_path):
    model = build_encoder(SMALL, seed=1)
    torch.save(model.state_dict(), tmp_path / "small.ckpt")
    with pytest.raises(
        ModelError, match=r"not a published TimeSenCLIP architecture: dim 64 \(published: 512\); mlp_dim 32"
    ):
        load_authors_checkpoint(tmp_path / "small.ckpt")
    loaded = load_authors_checkpoint(tmp_path / "small.ckpt", config=SMALL)
    assert loaded.config == SMALL
    torch.testing.assert_close(_outputs(loaded), _outputs(model), atol=0, rtol=0)
    with pytest.raises(ModelError, match=r"shape mismatches"):  # an explicit config must still fit the weights
        load_encoder(tmp_path / "small.ckpt", config=replace(SMALL, mlp_dim=48))


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda s: {k: v for k, v in s.items() if not k.startswith("transformer.layers.5.")},
            r"transformer layers \[0, 1, 2, 3, 4\] \(published: 0..5\)",
        ),
        (
            lambda s: {k: v for k, v in s.items() if not k.startswith("transformer.layers.2.")},
            r"transformer layers \[0, 1, 3, 4, 5\] \(published: 0..5\)",
        ),
        (lambda s: s | {"time_pos_encoding": torch.zeros(1, 13, 512)}, r"months 13 \(published: 12\)"),
        (
            lambda s: s | {"spectral_embedding.1.weight": torch.zeros(512, 90)},
            r"\(512, 90\) \(published: \(512, 10\*P\*P\) for P in 1, 5, 9\)",
        ),
    ],
    ids=["no-layer-5", "no-layer-2", "13-months", "3x3"],
)
def test_unpublished_shapes_are_refused_naming_the_difference(tmp_path, edit, message):
    torch.save(edit(build_encoder(seed=0).state_dict()), tmp_path / "w.ckpt")
    with pytest.raises(ModelError, match=message) as err:
        load_encoder(tmp_path / "w.ckpt")
    assert "config=" in str(err.value)


def _token_renamed(state: dict) -> dict:
    return {("time_token" if k == "class_token" else k): v for k, v in state.items()}


@pytest.mark.parametrize(
    "wrap, path",
    [
        (w, "load_encoder")
        for w in ("bare", "state_dict", "learner.ts_encoder.", "ts_encoder.", "TS_ViT.", "safetensors")
    ]
    + [
        ("bare", "convert"),
        ("learner.ts_encoder.", "convert"),
        ("state_dict", "--checkpoint"),
        ("TS_ViT.", "--checkpoint"),
    ],
)
def test_time_token_gives_the_same_embeddings_as_class_token(tmp_path, wrap, path):
    model = build_encoder(EncoderConfig(), seed=4)
    outputs = {}
    for name, state in (("class", model.state_dict()), ("time", _token_renamed(model.state_dict()))):
        assert ("time_token" in state) == (name == "time")
        file = tmp_path / f"{name}.{'safetensors' if wrap == 'safetensors' else 'ckpt'}"
        if wrap == "safetensors":
            save_file({k: v.contiguous() for k, v in state.items()}, file)
        elif wrap in ("bare", "state_dict"):
            torch.save(state if wrap == "bare" else {"state_dict": state}, file)
        else:
            torch.save(
                {"state_dict": {wrap + k: v for k, v in state.items()} | {"learner.queue": torch.zeros(3)}}, file
            )
        if path == "convert":
            file = (
                convert_checkpoint(file, tmp_path / f"{name}-converted.safetensors")
                and tmp_path / f"{name}-converted.safetensors"
            )
        if path == "--checkpoint":  # what tsmap predict/embed --checkpoint runs on every worker
            loaded = EncoderSpec(str(file), device="cpu", precision="fp32")._load_model()[0]
        else:
            loaded = load_encoder(file)[0]
        outputs[name] = _outputs(loaded)
    torch.testing.assert_close(outputs["time"], outputs["class"], atol=0, rtol=0)
    torch.testing.assert_close(outputs["time"], _outputs(model), atol=0, rtol=0)


def test_token_under_both_or_neither_name_is_refused(tmp_path):
    state = build_encoder(seed=1).state_dict()
    torch.save(state | {"time_token": state["class_token"]}, tmp_path / "both.ckpt")
    with pytest.raises(ModelError, match=r"exactly one of the token keys 'class_token' or 'time_token' .* found both"):
        load_encoder(tmp_path / "both.ckpt")
    torch.save(
        {"state_dict": {"ts_encoder." + k: v for k, v in state.items() if k != "class_token"}}, tmp_path / "none.ckpt"
    )
    with pytest.raises(ModelError, match=r"exactly one of the token keys .* found neither"):
        convert_checkpoint(tmp_path / "none.ckpt", tmp_path / "none.safetensors")
    assert not (tmp_path / "none.safetensors").exists()


def test_single_time_step_position_is_recorded_and_row_zero_for_the_authors(tmp_path):
    model = build_encoder(EncoderConfig(), seed=8)
    torch.save(_token_renamed(model.state_dict()), tmp_path / "w.ckpt")
    first = convert_checkpoint(tmp_path / "w.ckpt", tmp_path / "first.safetensors")
    mean = convert_checkpoint(tmp_path / "w.ckpt", tmp_path / "mean.safetensors", annual_position="mean")
    assert read_metadata(tmp_path / "first.safetensors")["model"]["annual_position"] == "first"
    assert read_metadata(tmp_path / "mean.safetensors")["model"]["annual_position"] == "mean"
    x = torch.rand(3, 1, 10, 1, 1, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        rows = model.time_pos_encoding[0]
        model.time_pos_encoding.data[0] = rows[:1].expand(12, -1).clone()  # every row = row 0: "mean" is then row 0
        want_first = model(x)
        model.time_pos_encoding.data[0] = rows
        assert (first.model(x) - want_first).abs().max() <= 1e-5
        assert (mean.model(x) - first.model(x)).abs().max() > 1e-3  # the choice matters for one step
        torch.testing.assert_close(
            mean.model(x.expand(3, 12, 10, 1, 1)), first.model(x.expand(3, 12, 10, 1, 1)), atol=0, rtol=0
        )
    assert (
        load_encoder(tmp_path / "w.ckpt", config=EncoderConfig())[0].config.annual_position == "mean"
    )  # explicit choice


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
    with pytest.raises(
        ModelError, match=r"shape mismatches \['transformer.layers.0.linear1.bias \(300,\) != \(256,\)'\]"
    ):
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
        with pytest.raises(ModelError, match="plain tensors") as err:
            load("evil.ckpt")
        assert "Unsupported" in str(err.value) and "\n" not in str(err.value) and "\x1b" not in str(err.value)
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "out.safetensors").exists()


def test_pickled_lightning_checkpoint_says_how_to_extract_its_weights(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = build_encoder(EncoderConfig(patch=5), seed=3)
    lightning = {"state_dict": {"learner.ts_encoder." + k: v for k, v in _token_renamed(model.state_dict()).items()},
                 "hyper_parameters": argparse.Namespace(lr=1e-4), "epoch": 99}  # objects weights_only refuses
    torch.save(lightning, tmp_path / "TimeSenCLIP_5x5.ckpt")
    with pytest.raises(ModelError) as err:
        load_encoder(tmp_path / "TimeSenCLIP_5x5.ckpt")
    message = str(err.value)
    assert "Unsupported global: GLOBAL argparse.Namespace" in message and "tsmap convert" not in message
    assert "\n" not in message and "\x1b" not in message  # one plain line, no terminal bold from torch
    command = message.split("pass the new file: ")[1]
    argv = shlex.split(command)
    assert argv[:2] == ["python", "-c"] and "weights_only=False" in argv[2] and argv[2].count(";") == 1
    subprocess.run([sys.executable, "-c", argv[2]], check=True, cwd=tmp_path)
    loaded, prep = load_encoder(tmp_path / "TimeSenCLIP_5x5.weights.pt")
    assert prep.patch == 5
    torch.testing.assert_close(_outputs(loaded, 5), _outputs(model, 5), atol=0, rtol=0)


def test_missing_file_and_random_default(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="tsmap")
    with pytest.raises(ModelError, match="does not exist"):
        load_encoder(tmp_path / "nope.ckpt")
    model, prep = load_encoder(None)
    assert "RANDOM weights" in caplog.text
    assert prep.composite.rule == "authors"


def test_convert_round_trip_is_self_describing(tmp_path):
    model = build_encoder(EncoderConfig(patch=5), seed=11)
    torch.save(
        {"state_dict": {"learner.ts_encoder." + k: v for k, v in model.state_dict().items()}}, tmp_path / "a.ckpt"
    )
    ck = convert_checkpoint(tmp_path / "a.ckpt", tmp_path / "a.safetensors")
    torch.testing.assert_close(_outputs(ck.model, 5), _outputs(model, 5), atol=0, rtol=0)
    meta = read_metadata(tmp_path / "a.safetensors")
    assert meta["model"] == EncoderConfig(patch=5, annual_position="first").to_dict()
    composite = meta["preprocessing"]["composite"]
    assert meta["preprocessing"]["patch"] == 5 and (composite["rule"], composite["periods"]) == ("authors", 12)
    assert meta["preprocessing"]["lo"][0] == 67.0 and meta["preprocessing"]["harmonise_offset"] is True
    assert meta["text_model"] == "open_clip:ViT-B-32-quickgelu/openai" == AUTHORS_TEXT_MODEL
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
    digest = save_checkpoint(
        tmp_path / "t.safetensors",
        model,
        prep,
        text_model="open_clip:ViT-B-32/openai",
        provenance={"training_data": "synthetic", "step": 1200},
    )
    ck = read_checkpoint(tmp_path / "t.safetensors")
    assert ck.weights_sha256 == digest and ck.provenance["step"] == 1200 and ck.model.config == SMALL
    with pytest.raises(ModelError, match="plain JSON"):
        save_checkpoint(tmp_path / "u.safetensors", model, prep, text_model="x", provenance={"when": object()})
    with pytest.raises(ModelError, match="patch"):
        save_checkpoint(tmp_path / "u.safetensors", model, Preprocessing(patch=5), text_model="x")
    assert sorted(os.listdir(tmp_path)) == ["t.safetensors"]  # nothing partial left behind


def _rewrite(path, *, meta=None, tensors=None, rehash=False):
    raw = read_metadata(path)
    state = load_file(path)
    new = meta(raw) if meta else raw
    if rehash:
        new = new | {"sha256": metadata_sha256(new)}
    save_file(tensors(state) if tensors else state, path, metadata={"tsmap": json.dumps(new)})


@pytest.mark.parametrize(
    "edit, message",
    [
        (dict(tensors=lambda s: s | {"class_token": s["class_token"] + 1e-3}), "modified: weights hash"),
        (
            dict(meta=lambda m: m | {"preprocessing": m["preprocessing"] | {"harmonise_offset": False}}),
            "modified: metadata hash",
        ),
        (
            dict(
                meta=lambda m: (
                    m
                    | {
                        "preprocessing": m["preprocessing"]
                        | {"composite": m["preprocessing"]["composite"] | {"rule": "clean"}}
                    }
                )
            ),
            "modified: metadata hash",
        ),
        (dict(meta=lambda m: m | {"text_model": "open_clip:ViT-B-32/openai"}), "modified: metadata hash"),
        (dict(meta=lambda m: m | {"model": m["model"] | {"annual_position": "first"}}), "modified: metadata hash"),
        (dict(meta=lambda m: m | {"provenance": m["provenance"] | {"step": 2}}), "modified: metadata hash"),
        (dict(meta=lambda m: {k: v for k, v in m.items() if k != "sha256"}), "modified: metadata hash"),
        # a consistently re-hashed forgery still meets the other checks
        (
            dict(meta=lambda m: m | {"model": m["model"] | {"mlp_dim": 48}}, rehash=True),
            r"shape mismatches \['transformer.layers.0.linear1.weight",
        ),
        (dict(meta=lambda m: m | {"model": m["model"] | {"wings": 2}}, rehash=True), "invalid metadata"),
        (
            dict(meta=lambda m: m | {"preprocessing": m["preprocessing"] | {"lo": [0.0]}}, rehash=True),
            "invalid metadata",
        ),
        (dict(meta=lambda m: {k: v for k, v in m.items() if k != "weights_sha256"}, rehash=True), "invalid metadata"),
        (dict(meta=lambda m: m | {"format_version": 3}), "upgrade tsmap"),
        (dict(meta=lambda m: m | {"format": "other"}), "not a tsmap encoder checkpoint"),
    ],
)
def test_tampered_checkpoints_fail_clearly(tmp_path, edit, message):
    path = tmp_path / "t.safetensors"
    save_checkpoint(path, build_encoder(SMALL), Preprocessing(), text_model="x", provenance={"step": 1})
    _rewrite(path, **edit)
    with pytest.raises(ModelError, match=message):
        load_encoder(path)


def test_version_1_checkpoints_still_load_with_a_warning(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="tsmap")
    path = tmp_path / "old.safetensors"
    model = build_encoder(SMALL, seed=3)
    save_checkpoint(path, model, Preprocessing(), text_model="x")
    _rewrite(path, meta=lambda m: {k: v for k, v in m.items() if k != "sha256"} | {"format_version": 1})
    loaded, _ = load_encoder(path)
    torch.testing.assert_close(_outputs(loaded), _outputs(model), atol=0, rtol=0)
    assert "older tsmap (format 1)" in caplog.text and "tsmap convert" in caplog.text
    convert_checkpoint(path, tmp_path / "new.safetensors")  # the upgrade the warning names
    assert read_metadata(tmp_path / "new.safetensors")["format_version"] == 2
    _rewrite(path, tensors=lambda s: s | {"class_token": s["class_token"] + 1e-3})  # version 1 still checks its weights
    with pytest.raises(ModelError, match="modified: weights hash"):
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
    loaded, prep = load_encoder(tmp_path / "plain.safetensors", config=SMALL)
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
    monkeypatch.setattr("tsmap.checkpoint.check_reachable", lambda *a, **k: None)  # the Hub "answers" (offline here)
    loaded, _ = load_encoder(AUTHORS_HF, config=SMALL)
    assert calls == [("pallavijainpj/TimeSenCLIP", "TimeSenCLIP_1x1.ckpt", None)]
    torch.testing.assert_close(_outputs(loaded), _outputs(model), atol=0, rtol=0)
    assert load_checkpoint(AUTHORS_HF, config=SMALL).provenance["source"] == AUTHORS_HF


def test_hf_download_failure_is_one_clear_line(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(
        ModelError, match=r"cannot download hf://pallavijainpj/TimeSenCLIP/TimeSenCLIP_1x1.ckpt .*local path"
    ) as err:
        ckpt_mod.resolve(AUTHORS_HF)
    assert "\n" not in str(err.value)


def test_cli_convert(tmp_path):
    from click.testing import CliRunner

    from tsmap.cli import main

    model = build_encoder(seed=9)
    torch.save(
        {"state_dict": {"TS_ViT." + k: v for k, v in _token_renamed(model.state_dict()).items()}}, tmp_path / "a.ckpt"
    )
    res = CliRunner().invoke(main, ["convert", str(tmp_path / "a.ckpt"), str(tmp_path / "a.safetensors")])
    assert res.exit_code == 0, res.output
    assert f"1x1 encoder, monthly input, single step at position row 0, text model {AUTHORS_TEXT_MODEL}" in res.output
    assert read_checkpoint(tmp_path / "a.safetensors").model.config == EncoderConfig(annual_position="first")
    res = CliRunner().invoke(
        main, ["convert", str(tmp_path / "a.ckpt"), str(tmp_path / "m.safetensors"), "--annual-position", "mean"]
    )
    assert res.exit_code == 0 and "single step at the mean position row" in res.output
    assert read_checkpoint(tmp_path / "m.safetensors").model.config == EncoderConfig(annual_position="mean")
    res = CliRunner().invoke(main, ["convert", str(tmp_path / "a.ckpt"), str(tmp_path / "a.pt")])
    assert res.exit_code == 1 and res.output.startswith("Error: output") and "must end in .safetensors" in res.output
    assert not (tmp_path / "a.pt").exists()
