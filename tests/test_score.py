import json

import numpy as np
import xarray as xr

from tsmap.score import CLASS_NODATA, classify, cosine, ensemble, l2_normalise

from .conftest import shared_path


def lvis_embeddings() -> dict[str, np.ndarray]:
    """REAL OpenAI CLIP ViT-B/32 text embeddings ("a {name}") keyed by LVIS name."""
    root = shared_path("data", "clip_vitb32_text_embeddings_detic")
    cats = sorted(json.loads((root / "lvis_v1_train_cat_info.json").read_text()), key=lambda c: c["id"])
    emb = np.load(root / "lvis_v1_clip_a+cname.npy").astype(np.float32)
    return {c["name"]: e for c, e in zip(cats, emb)}


VEHICLES = ["car_(automobile)", "truck", "bus_(vehicle)"]
FRUIT = ["banana", "apple", "orange_(fruit)"]


def test_ensemble_matches_numpy_reference():
    lvis = lvis_embeddings()
    groups = [np.stack([lvis[n] for n in VEHICLES]), np.stack([lvis[n] for n in FRUIT])]
    got = ensemble(groups)
    for g, row in zip(groups, got):
        ref = (g / np.linalg.norm(g, axis=1, keepdims=True)).mean(0)
        np.testing.assert_allclose(row, ref / np.linalg.norm(ref), rtol=1e-5)


def test_pixels_near_real_clip_words_get_their_class():
    lvis = lvis_embeddings()
    classes = ensemble([np.stack([lvis[n] for n in VEHICLES]), np.stack([lvis[n] for n in FRUIT])])
    rng = np.random.default_rng(0)
    targets = ["car_(automobile)", "banana", "truck", "apple", "minivan", "pear"]
    expected = [0, 1, 0, 1, 0, 1]  # minivan and pear are not among the prompts
    pix = l2_normalise(np.stack([lvis[t] for t in targets]) + rng.normal(0, 0.05, size=(6, 512)) * np.linalg.norm(lvis["car_(automobile)"]) / 22)
    data = np.full((512, 2, 4), np.nan, np.float32)
    data[:, :, :3] = pix.T.reshape(512, 2, 3)  # column 3 stays nodata
    out = classify(xr.DataArray(data, dims=("embed", "y", "x")).chunk({"x": 2}), classes).compute()
    np.testing.assert_array_equal(out["class"].values[:, :3].ravel(), expected)
    assert (out["class"].values[:, 3] == CLASS_NODATA).all() and np.isnan(out["score"].values[:, 3]).all()
    ref = cosine(pix, classes).max(-1)
    np.testing.assert_allclose(out["score"].values[:, :3].ravel(), ref, rtol=1e-5)
    assert out["class"].dtype == np.uint8 and out["score"].dtype == np.float32
