import os

import numpy as np
import pytest

import tsmap.text as text
from tsmap.errors import ModelError
from tsmap.prompts import parse_prompts
from tsmap.score import ensemble
from tsmap.text import default_cache_dir, embed_prompts, encode_texts, model_id, provenance


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
    assert ce.tags["prompts_sha256"] == ps.sha256() and ce.tags["text_model"] == "open_clip:ViT-B-32/none"
    assert '"a river"' in ce.tags["prompts"] and ce.tags["classes"] == "water,forest"
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
