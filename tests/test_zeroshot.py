import json

import numpy as np
import pytest
import xarray as xr

from tsmap.errors import InputError
from tsmap.zeroshot import (
    CLASS_NODATA,
    CLASS_UNKNOWN,
    ClassEmbeddings,
    UnknownRule,
    class_means,
    classify,
    cosine,
    ensemble,
    l2_normalise,
)

from .conftest import data_path


def lvis_embeddings() -> dict[str, np.ndarray]:
    """REAL OpenAI CLIP ViT-B/32 text embeddings ("a {name}") keyed by LVIS name, in LVIS id order
    (an extract of 64 of the 1203 categories: tests/data/clip_vitb32_text_embeddings_detic)."""
    root = data_path("clip_vitb32_text_embeddings_detic")
    cats = json.loads((root / "lvis_v1_names.extract.json").read_text())
    emb = np.load(root / "lvis_v1_clip_a+cname.extract.npy").astype(np.float32)
    assert len(cats) == len(emb) == 64
    return {c["name"]: e for c, e in zip(cats, emb)}


VEHICLES = ["car_(automobile)", "truck", "bus_(vehicle)"]
FRUIT = ["banana", "apple", "orange_(fruit)"]
ANIMALS = ["dog", "cat", "horse"]


def groups(lvis, *names_per_class):
    return [np.stack([lvis[n] for n in names]) for names in names_per_class]


def pixels(lvis, words, seed=0, noise=0.02):
    """L2-normalised pixel embeddings near the CLIP embeddings of ``words``."""
    rng = np.random.default_rng(seed)
    base = l2_normalise(np.stack([lvis[w] for w in words]))
    return l2_normalise(base + rng.normal(0, noise, size=base.shape).astype(np.float32))


def cube(pix: np.ndarray, nodata_columns: int = 1) -> xr.DataArray:
    """(embed, 1, n + nodata_columns) cube, chunked in x; trailing columns are nodata."""
    data = np.full((pix.shape[1], 1, pix.shape[0] + nodata_columns), np.nan, np.float32)
    data[:, 0, : pix.shape[0]] = pix.T
    return xr.DataArray(data, dims=("embed", "y", "x")).chunk({"x": 3})


def reference(pix, class_vectors, *, scale=100.0, means=None):
    """Direct numpy (float64) top-1 class, cosine, softmax probability, margin and ranking."""
    s = pix.astype(np.float64) @ class_vectors.astype(np.float64).T
    logits = scale * s
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    d = s if means is None else (s / 2 + 1) / (means + 1e-6)
    order = np.argsort(-d, axis=-1)
    best = order[:, 0]
    rows = np.arange(len(pix))
    margin = d[rows, order[:, 0]] - d[rows, order[:, 1]]
    return best, s[rows, best], p[rows, best], margin, order, p


def test_ensemble_matches_numpy_reference():
    lvis = lvis_embeddings()
    gs = groups(lvis, VEHICLES, FRUIT)
    got = ensemble(gs)
    for g, row in zip(gs, got):
        ref = (g / np.linalg.norm(g, axis=1, keepdims=True)).mean(0)
        np.testing.assert_allclose(row, ref / np.linalg.norm(ref), rtol=1e-5)


def test_pixels_near_real_clip_words_get_their_class_probability_and_margin():
    lvis = lvis_embeddings()
    classes = ensemble(groups(lvis, VEHICLES, FRUIT))
    targets = ["car_(automobile)", "banana", "truck", "apple", "minivan", "pear"]
    pix = pixels(lvis, targets)
    out = classify(cube(pix), classes).compute()
    np.testing.assert_array_equal(out["class"].values[0, :6], [0, 1, 0, 1, 0, 1])  # minivan, pear: not prompts
    best, score, prob, margin, _, _ = reference(pix, classes)
    np.testing.assert_allclose(out["score"].values[0, :6], score, rtol=1e-5)
    np.testing.assert_allclose(out["probability"].values[0, :6], prob, rtol=1e-4)
    np.testing.assert_allclose(out["margin"].values[0, :6], margin, rtol=1e-4, atol=1e-6)
    assert (out["probability"].values[0, :6] > 0.5).all() and (out["margin"].values[0, :6] > 0.02).all()
    assert out["class"].values[0, 6] == CLASS_NODATA
    assert np.isnan([out[v].values[0, 6] for v in ("score", "probability", "margin")]).all()
    assert out["class"].dtype == np.uint8 and all(
        out[v].dtype == np.float32 for v in ("score", "probability", "margin")
    )
    assert out.attrs["logit_scale"] == 100.0 and out.attrs["n_classes"] == 2


def test_logit_scale_changes_probability_not_class():
    lvis = lvis_embeddings()
    classes = ensemble(groups(lvis, VEHICLES, FRUIT, ANIMALS))
    pix = pixels(lvis, ["piano", "umbrella", "car_(automobile)"])
    soft = classify(cube(pix), classes, logit_scale=10.0).compute()
    sharp = classify(cube(pix), classes).compute()
    np.testing.assert_array_equal(soft["class"].values, sharp["class"].values)
    np.testing.assert_allclose(soft["probability"].values[0, :3], reference(pix, classes, scale=10.0)[2], rtol=1e-4)
    assert (soft["probability"].values[0, :3] < sharp["probability"].values[0, :3]).all()


def test_unknown_by_probability_similarity_and_negative_class():
    lvis = lvis_embeddings()
    classes = ensemble(groups(lvis, VEHICLES, FRUIT, ANIMALS))
    words = ["car_(automobile)", "pear", "piano", "hat", "elephant", "cow"]
    pix = pixels(lvis, words, noise=0.005)
    best, score, prob, _, _, _ = reference(pix, classes)
    assert list(best) == [0, 1, 0, 2, 2, 2]  # what CLIP itself says: a piano is nearest vehicles, a hat animals

    by_prob = classify(cube(pix), classes, unknown=UnknownRule(min_probability=0.9)).compute()
    expected = np.where(prob < 0.9, CLASS_UNKNOWN, best)
    np.testing.assert_array_equal(by_prob["class"].values[0, :6], expected)
    assert list(expected) == [0, 1, CLASS_UNKNOWN, CLASS_UNKNOWN, 2, 2]  # the rule bites, and not everywhere

    cut = float(np.median(score))
    by_sim = classify(cube(pix), classes, unknown=UnknownRule(min_similarity=cut)).compute()
    np.testing.assert_array_equal(by_sim["class"].values[0, :6], np.where(score < cut, CLASS_UNKNOWN, best))
    np.testing.assert_allclose(by_sim["score"].values[0, :6], score, rtol=1e-5)  # scores stay, for inspection

    negative = classify(cube(pix), classes, unknown=UnknownRule(negative=(2,))).compute()
    np.testing.assert_array_equal(
        negative["class"].values[0, :6], [0, 1, 0, CLASS_UNKNOWN, CLASS_UNKNOWN, CLASS_UNKNOWN]
    )
    assert negative["class"].values[0, 6] == CLASS_NODATA


def test_top_k_matches_numpy_ranking():
    lvis = lvis_embeddings()
    classes = ensemble(groups(lvis, VEHICLES, FRUIT, ANIMALS))
    pix = pixels(lvis, ["umbrella", "piano", "lemon", "cow"])
    out = classify(cube(pix), classes, top_k=3).compute()
    _, _, _, _, order, p = reference(pix, classes)
    assert out["top_class"].dims == ("rank", "y", "x") and out["top_class"].dtype == np.uint8
    np.testing.assert_array_equal(out["top_class"].values[:, 0, :4], order.T)
    np.testing.assert_allclose(
        out["top_probability"].values[:, 0, :4], np.take_along_axis(p, order, 1).T, rtol=1e-4, atol=1e-7
    )
    np.testing.assert_allclose(out["top_probability"].values[:, 0, :4].sum(0), 1.0, rtol=1e-4)
    assert (out["top_class"].values[:, 0, 4] == CLASS_NODATA).all() and np.isnan(
        out["top_probability"].values[:, 0, 4]
    ).all()


def test_max_ensembling_takes_the_best_prompt():
    lvis = lvis_embeddings()
    ce = ClassEmbeddings.from_groups(groups(lvis, VEHICLES, FRUIT), rule="max", names=("vehicles", "fruit"))
    assert ce.vectors.shape == (6, 512) and ce.starts == (0, 3)
    pix = pixels(lvis, ["minivan", "pear", "tractor_(farm_equipment)", "lemon"])
    out = classify(cube(pix), ce).compute()
    unit = l2_normalise(np.stack([lvis[n] for n in VEHICLES + FRUIT]))
    per_prompt = pix.astype(np.float64) @ unit.T.astype(np.float64)
    per_class = np.stack([per_prompt[:, :3].max(1), per_prompt[:, 3:].max(1)], 1)
    np.testing.assert_array_equal(out["class"].values[0, :4], per_class.argmax(1))
    np.testing.assert_array_equal(out["class"].values[0, :4], [0, 1, 0, 1])
    np.testing.assert_allclose(out["score"].values[0, :4], per_class.max(1), rtol=1e-5)
    s = np.sort(per_class, 1)
    np.testing.assert_allclose(out["margin"].values[0, :4], s[:, 1] - s[:, 0], rtol=1e-4)


def test_per_class_normalisation_is_a_second_pass_over_the_aoi():
    lvis = lvis_embeddings()
    classes = ensemble(groups(lvis, VEHICLES, FRUIT))
    rng = np.random.default_rng(1)
    # mostly vehicles in this "AOI", plus mixtures of car and banana: normalising lifts fruit
    mix = [
        l2_normalise(w * lvis["car_(automobile)"] / 10 + (1 - w) * lvis["banana"] / 10)
        for w in np.linspace(0.3, 0.7, 9)
    ]
    pix = l2_normalise(np.concatenate([pixels(lvis, VEHICLES * 4), np.stack(mix)]) + rng.normal(0, 0.005, (21, 512)))
    em = cube(pix, nodata_columns=2)
    s = pix.astype(np.float64) @ classes.T.astype(np.float64)
    means_ref = (s / 2 + 1).mean(0)
    means = class_means(em, classes).compute()
    assert means.dims == ("class",)
    np.testing.assert_allclose(means.values, means_ref, rtol=1e-5)  # the nodata columns do not count

    out = classify(em, classes, normalise=True).compute()
    best, score, prob, margin, _, p = reference(pix, classes, means=means_ref)
    np.testing.assert_array_equal(out["class"].values[0, :21], best)
    np.testing.assert_allclose(out["margin"].values[0, :21], margin, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(out["score"].values[0, :21], score, rtol=1e-5)
    np.testing.assert_allclose(out["probability"].values[0, :21], p[np.arange(21), best], rtol=1e-4, atol=1e-7)
    raw = classify(em, classes).compute()
    flipped = (raw["class"].values[0, :21] != out["class"].values[0, :21]).sum()
    assert flipped >= 1 and (out["class"].values[0, :21] == 1).sum() > (raw["class"].values[0, :21] == 1).sum()
    given = classify(em, classes, normalise=means.values).compute()
    np.testing.assert_array_equal(given["class"].values, out["class"].values)
    assert out.attrs["normalised"] == 1 and raw.attrs["normalised"] == 0


def test_classify_stays_lazy(no_compute):
    rng = np.random.default_rng(0)
    em = xr.DataArray(rng.normal(size=(8, 4, 6)).astype(np.float32), dims=("embed", "y", "x")).chunk({"x": 3})
    classes = l2_normalise(rng.normal(size=(3, 8)))
    out = classify(em, classes, top_k=2, normalise=True, unknown=UnknownRule(min_probability=0.5))
    assert all(v.chunks is not None for v in out.data_vars.values())
    assert out["top_class"].shape == (2, 4, 6)


def test_single_class_and_bad_arguments():
    rng = np.random.default_rng(0)
    em = xr.DataArray(l2_normalise(rng.normal(size=(4, 3, 8)), axis=0), dims=("embed", "y", "x"))
    out = classify(em, l2_normalise(rng.normal(size=(1, 4))))
    assert (
        (out["class"].values == 0).all()
        and np.allclose(out["probability"].values, 1)
        and np.isnan(out["margin"].values).all()
    )
    classes = l2_normalise(rng.normal(size=(3, 4)))
    with pytest.raises(InputError, match="pixel embeddings have 4 dims but the text embeddings 5"):
        classify(em, l2_normalise(rng.normal(size=(3, 5))))
    with pytest.raises(InputError, match="top_k must lie in 0..3"):
        classify(em, classes, top_k=4)
    with pytest.raises(InputError, match="only 3 classes"):
        classify(em, classes, unknown=UnknownRule(negative=(3,)))
    with pytest.raises(InputError, match="3 finite class means"):
        classify(em, classes, normalise=[1.0, 2.0])
    with pytest.raises(InputError, match="min_probability must lie in"):
        UnknownRule(min_probability=1.5)
    with pytest.raises(InputError, match="ensembling rule must be one of"):
        ClassEmbeddings.from_groups([classes], rule="median")
    with pytest.raises(InputError, match="must rise strictly"):
        ClassEmbeddings(classes, (0, 0))


def test_cosine_is_a_dot_product_of_unit_vectors():
    lvis = lvis_embeddings()
    car, truck, banana = (l2_normalise(lvis[n]) for n in ("car_(automobile)", "truck", "banana"))
    s = cosine(np.stack([car]), np.stack([truck, banana]))[0]
    assert s[0] == pytest.approx(0.896, abs=2e-3) and s[1] == pytest.approx(0.790, abs=2e-3)  # README facts
