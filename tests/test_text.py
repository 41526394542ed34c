import json
import os

import numpy as np
import pytest

import tsmap.text as text
from tsmap.errors import ModelError
from tsmap.prompts import parse_prompts
from tsmap.zeroshot import ensemble
from tsmap.text import (
    DEFAULT_MODEL,
    DEFAULT_PRETRAINED,
    default_cache_dir,
    embed_prompts,
    encode_texts,
    model_id,
    provenance,
)


def test_random_tower_is_seeded_and_normalised(tmp_path):
    a = encode_texts(["a forest", "a lake"], pretrained="none", cache_dir=False)
    b = encode_texts(["a forest"], pretrained="none", cache_dir=tmp_path)
    assert a.shape == (2, 512) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(a[0], b[0], atol=1e-6)
    assert not np.allclose(a[0], a[1])


def test_cache_returns_the_same_embeddings_without_the_model(tmp_path, monkeypatch):
    texts = ["a forest", "a lake", "a forest"]
    first = encode_texts(texts, pretrained="none", cache_dir=tmp_path)
    files = sorted(tmp_path.rglob("*.npy"))
    assert len(files) == 2 and not list(tmp_path.rglob("*.tmp"))  # one file per distinct text

    calls = []
    real = text._encode
    monkeypatch.setattr(text, "_encode", lambda t, m, p: calls.append(list(t)) or real(t, m, p))
    again = encode_texts(texts, pretrained="none", cache_dir=tmp_path)
    np.testing.assert_array_equal(again, first)  # bit-identical, and no model call at all
    assert calls == []
    more = encode_texts(["a lake", "a glacier"], pretrained="none", cache_dir=tmp_path)
    assert calls == [["a glacier"]]  # only the new text is encoded
    np.testing.assert_array_equal(more[0], first[1])
    # the exact text is the key: a changed sentence is a new entry
    encode_texts(["a lake."], pretrained="none", cache_dir=tmp_path)
    assert calls[-1] == ["a lake."]


def test_cache_is_keyed_by_model(tmp_path, monkeypatch):
    encode_texts(["a forest"], pretrained="none", cache_dir=tmp_path)
    seen = []
    monkeypatch.setattr(text, "_encode", lambda t, m, p: seen.append((m, p)) or np.ones((len(t), 4), np.float32))
    out = encode_texts(["a forest"], model="RN50", pretrained="none", cache_dir=tmp_path)
    assert seen == [("RN50", "none")] and out.shape == (1, 4)
    assert len({f.parent.parent for f in tmp_path.rglob("*.npy")}) == 2  # one folder per model


def test_cache_ignores_a_corrupt_entry(tmp_path):
    first = encode_texts(["a meadow"], pretrained="none", cache_dir=tmp_path)
    (entry,) = tmp_path.rglob("*.npy")
    entry.write_bytes(b"not an array")
    np.testing.assert_array_equal(encode_texts(["a meadow"], pretrained="none", cache_dir=tmp_path), first)
    np.testing.assert_array_equal(np.load(entry), first[0])  # and repaired


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("TSMAP_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == str(tmp_path / "c")
    encode_texts(["a reedbed"], pretrained="none")
    assert list((tmp_path / "c" / "text-embeddings").rglob("*.npy"))
    monkeypatch.delenv("TSMAP_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if text.sys.platform.startswith("linux"):
        assert default_cache_dir() == str(tmp_path / "xdg" / "tsmap")


def test_embed_prompts_ensembles_by_rule_and_records_provenance(tmp_path):
    doc = {"name": "two", "classes": [{"name": "water", "prompts": ["a lake", "a river"]}, {"name": "forest"}]}
    ps = parse_prompts(doc)
    ce = embed_prompts(ps, pretrained="none", cache_dir=tmp_path)
    flat = encode_texts(["a lake", "a river", "forest"], pretrained="none", cache_dir=tmp_path)
    np.testing.assert_allclose(ce.vectors, ensemble([flat[:2], flat[2:]]), rtol=1e-6)
    assert ce.starts == (0, 1) and ce.names == ("water", "forest")
    assert ce.tags == provenance(ps, pretrained="none")
    assert ce.tags["prompts_sha256"] == ps.sha256() and ce.tags["text_model"] == "open_clip:ViT-B-32-quickgelu/none"
    assert '"a river"' in ce.tags["prompts"] and json.loads(ce.tags["classes"]) == ["water", "forest"]
    ce_max = embed_prompts(parse_prompts(dict(doc, ensembling="max")), pretrained="none", cache_dir=tmp_path)
    np.testing.assert_allclose(ce_max.vectors, flat, rtol=1e-6)
    assert ce_max.starts == (0, 2)


def test_unknown_model_and_missing_weights(tmp_path):
    with pytest.raises(ModelError, match="unknown open_clip model"):
        encode_texts(["x"], model="ViT-Nope", pretrained="none", cache_dir=False)
    with pytest.raises(ModelError, match="--clip-pretrained FILE") as err:
        encode_texts(["x"], model="RN50", pretrained=str(tmp_path / "missing.bin"), cache_dir=False)
    assert "\n" not in str(err.value)


def test_model_id(tmp_path):
    assert model_id("ViT-B-32", "openai") == "open_clip:ViT-B-32/openai"
    weights = tmp_path / "clip.bin"
    weights.write_bytes(b"x")
    assert model_id("ViT-B-32-quickgelu", str(weights)) == "open_clip:ViT-B-32-quickgelu/clip.bin"


def test_local_weights_file_works_offline_and_a_new_file_is_a_new_model(tmp_path):
    import open_clip
    import torch

    def save(seed):
        torch.manual_seed(seed)
        m = open_clip.create_model("ViT-S-32-alt", pretrained=None).eval()  # a small tower: 43 M parameters
        torch.save(m.state_dict(), tmp_path / "weights.bin")
        with torch.inference_mode():
            return m.encode_text(open_clip.get_tokenizer("ViT-S-32-alt")(["a lake"]), normalize=True).numpy()

    first = save(1)
    got = encode_texts(["a lake"], model="ViT-S-32-alt", pretrained=str(tmp_path / "weights.bin"), cache_dir=tmp_path)
    np.testing.assert_allclose(got, first, atol=1e-6)
    second = save(2)
    os.utime(tmp_path / "weights.bin", ns=(1, 1))  # make sure the mtime differs, as a real rewrite would
    got = encode_texts(["a lake"], model="ViT-S-32-alt", pretrained=str(tmp_path / "weights.bin"), cache_dir=tmp_path)
    np.testing.assert_allclose(got, second, atol=1e-6)  # neither the disk cache nor the loaded model is stale
    assert not np.allclose(first, second)


def test_default_text_tower_is_openais_quickgelu_network():
    """OpenAI's CLIP weights were trained with QuickGELU; open_clip 3.x builds plain GELU for "ViT-B-32"."""
    import open_clip
    from open_clip.transformer import QuickGELU

    clip, _ = text._load(
        DEFAULT_MODEL, "none", text._cache_key(DEFAULT_MODEL, "none")
    )  # the built module, random weights
    blocks = clip.transformer.resblocks
    assert len(blocks) == 12 and all(isinstance(b.mlp.gelu, QuickGELU) for b in blocks)
    assert not open_clip.get_model_config("ViT-B-32").get("quick_gelu")  # why the default cannot be plain ViT-B-32
    assert (DEFAULT_MODEL, DEFAULT_PRETRAINED) == ("ViT-B-32-quickgelu", "openai")


def test_every_default_that_pairs_openai_weights_uses_the_quickgelu_tower():
    import inspect

    from click.testing import CliRunner

    from tsmap.checkpoint import load_checkpoint
    from tsmap.cli import main
    from tsmap.scorers import ClassScorer, ScenicScorer, class_embeddings
    from tsmap_train.cli import cli as train_cli
    from tsmap_train.config import TextConfig
    from tsmap_train.evaluate import EvalSpec
    from tsmap_train.ground import encode_photos
    from tsmap_train.prepare import prepare

    for group, names in ((main, ("predict", "classify", "scenic")), (train_cli, ("prepare", "eval"))):
        for name in names:
            options = {p.name: p.default for p in group.commands[name].params}
            assert (options["clip_model"], options["clip_pretrained"]) == (DEFAULT_MODEL, DEFAULT_PRETRAINED), name
    assert DEFAULT_MODEL in CliRunner().invoke(main, ["predict", "--help"]).output
    assert (TextConfig().clip_model, EvalSpec().clip_model) == (DEFAULT_MODEL, DEFAULT_MODEL)
    for func, arg in (
        (ClassScorer.build, "clip_model"),
        (ScenicScorer.build, "clip_model"),
        (class_embeddings, "clip_model"),
        (prepare, "clip_model"),
        (encode_photos, "clip_model"),
        (encode_texts, "model"),
        (embed_prompts, "model"),
    ):
        assert inspect.signature(func).parameters[arg].default == DEFAULT_MODEL, func
    assert inspect.signature(load_checkpoint) is not None and model_id() == "open_clip:ViT-B-32-quickgelu/openai"


def test_text_embeddings_cached_under_the_old_model_id_are_not_reused(tmp_path, monkeypatch):
    """Entries cached for "ViT-B-32"/openai came from the GELU network: the new default must not read them."""
    old = text._Cache(tmp_path, text._cache_key("ViT-B-32", "openai"))
    old.put("a forest", np.full(512, 7, np.float32))
    encoded = []
    monkeypatch.setattr(
        text, "_encode", lambda t, m, p: encoded.append((list(t), m)) or np.ones((len(t), 512), np.float32)
    )
    out = encode_texts(["a forest"], cache_dir=tmp_path)  # the default model and weights
    assert encoded == [(["a forest"], DEFAULT_MODEL)] and (out == 1).all()
    assert text._Cache(tmp_path, text._cache_key(DEFAULT_MODEL, DEFAULT_PRETRAINED)).dir != old.dir
    assert (
        encode_texts(["a forest"], model="ViT-B-32", cache_dir=tmp_path) == 7
    ).all()  # the old entry stays the old model's


def test_random_tower_warning_fires_also_when_embeddings_come_from_the_cache(tmp_path, caplog):
    from tsmap import text

    encode_texts(["a lake"], pretrained="none", cache_dir=tmp_path)  # now cached
    text._WARNED.clear()  # a new process
    with caplog.at_level("WARNING", logger="tsmap"):
        encode_texts(["a lake"], pretrained="none", cache_dir=tmp_path)
    assert any("RANDOM weights" in r.getMessage() for r in caplog.records)


def test_texts_are_encoded_in_batches_with_the_same_result(tmp_path, monkeypatch):
    texts = [f"a field of crop number {i}" for i in range(7)]
    whole = encode_texts(texts, pretrained="none", cache_dir=text.NO_CACHE)
    sizes, original = [], text._encode
    monkeypatch.setattr(text, "TEXT_BATCH", 3)
    monkeypatch.setattr(text, "_encode", lambda batch, *a: sizes.append(len(batch)) or original(batch, *a))
    batched = encode_texts(texts, pretrained="none", cache_dir=tmp_path)
    assert sizes == [3, 3, 1] and np.allclose(batched, whole, atol=1e-6)
