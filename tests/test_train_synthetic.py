"""The synthetic cross-view generator."""

import numpy as np
import pytest

from tsmap.specs import CompositeSpec
from tsmap.synthetic import CLASSES
from tsmap_train.synthetic import CrossViewSpec, make_crossview


def _anchors(k=6, d=64, seed=0):
    a = np.random.default_rng(seed).normal(size=(k, d))
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_shapes_labels_splits_and_determinism():
    s = make_crossview(_anchors(), CrossViewSpec(per_class=200, patch=3, seed=4))
    assert s.s2.shape == (1200, 12, 10, 3, 3) and s.ground.shape == (1200, 4, 64) and s.s2.dtype == np.float32
    assert sorted(np.unique(s.labels["lc"]).tolist()) == sorted(CLASSES.values())
    assert np.bincount(s.labels["lc"], minlength=8)[list(CLASSES.values())].tolist() == [200] * 6
    frac = {k: np.mean(s.split == k) for k in ("train", "val", "test")}
    assert frac["train"] == pytest.approx(0.7, abs=0.05) and frac["test"] == pytest.approx(0.2, abs=0.05)
    again = make_crossview(_anchors(), CrossViewSpec(per_class=200, patch=3, seed=4))
    np.testing.assert_array_equal(again.s2, s.s2)
    np.testing.assert_array_equal(again.ground, s.ground)
    other = make_crossview(_anchors(), CrossViewSpec(per_class=200, patch=3, seed=5))
    assert not np.array_equal(other.s2, s.s2)
    assert s.attrs["composite"]["rule"] == "authors" and s.attrs["synthetic"]["per_class"] == 200


def test_classes_have_their_phenology():
    s = make_crossview(_anchors(), CrossViewSpec(per_class=150, cloud_prob=0.0))
    nir = {name: np.median(s.s2[s.labels["lc"] == idx, :, 6, 0, 0], axis=0) for name, idx in CLASSES.items()}
    assert np.argmax(nir["Cropland"]) in (4, 5, 6) and nir["Cropland"].max() > 1.4 * nir["Cropland"][0]
    assert np.argmax(nir["Woodland"]) in (5, 6, 7)
    assert nir["Water"].max() < 400 and np.ptp(nir["Bare Land"]) < 0.05 * nir["Bare Land"].mean()
    assert nir["Grassland"][3:6].mean() > nir["Grassland"][[0, 11]].mean()


def test_clouds_follow_the_composite_rule():
    clean = CompositeSpec(rule="clean")
    clear = make_crossview(_anchors(), CrossViewSpec(per_class=50, cloud_prob=0.0), composite=clean)
    cloudy = make_crossview(_anchors(), CrossViewSpec(per_class=50, cloud_prob=0.8), composite=clean)
    assert not np.isnan(clear.s2).any()
    missing = np.isnan(cloudy.s2[:, :, 0, 0, 0]).mean()
    assert missing == pytest.approx(0.8**2, abs=0.04)  # a month goes missing when both its acquisitions are masked
    authors = make_crossview(_anchors(), CrossViewSpec(per_class=50, cloud_prob=0.8))
    assert not np.isnan(authors.s2).any()  # the authors' rule fills every month


def test_ground_views_scatter_around_their_class_anchor():
    anchors = _anchors(d=128)
    s = make_crossview(anchors, CrossViewSpec(per_class=100, missing_view_prob=0.3))
    order = list(CLASSES)
    cls = np.array([order.index(next(n for n, i in CLASSES.items() if i == lab)) for lab in s.labels["lc"]])
    assert s.ground_valid.any(axis=1).all() and 0.2 < 1 - s.ground_valid.mean() < 0.3
    assert (s.ground[~s.ground_valid] == 0).all()
    views = s.ground[s.ground_valid]
    np.testing.assert_allclose(np.linalg.norm(views, axis=-1), 1, rtol=1e-5)
    cos_own = np.einsum("nvd,nd->nv", s.ground, anchors[cls])[s.ground_valid]
    assert 0.8 < cos_own.mean() < 0.99  # scattered, not copies
    pooled = (s.ground * s.ground_valid[..., None]).sum(1)
    assert np.mean(np.argmax(pooled @ anchors.T, axis=1) == cls) == 1.0


def test_spec_validation():
    with pytest.raises(ValueError, match="classes"):
        CrossViewSpec(classes=("Cropland", "Moon"))
    with pytest.raises(ValueError, match="one anchor row per class"):
        make_crossview(_anchors(k=3), CrossViewSpec())
