"""Metrics against scipy / plain-numpy references."""

import numpy as np
import pytest
from scipy import stats

from tsmap_train import metrics


def _unit(a):
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


def test_top1_matches_a_loop_and_skips_missing_labels():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(500, 7))
    labels = rng.integers(-1, 7, 500)
    expected = np.mean([np.argmax(scores[i]) == labels[i] for i in range(500) if labels[i] >= 0])
    assert metrics.top1_accuracy(scores, labels) == pytest.approx(expected, abs=0)
    assert metrics.top1_accuracy(np.eye(3), np.array([0, 1, 2])) == 1.0
    assert np.isnan(metrics.top1_accuracy(np.eye(3), np.full(3, -1)))


def test_normalised_top1_is_the_authors_rule():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 5, 300)
    cos = rng.uniform(-0.2, 0.6, (300, 5))
    cos[np.arange(300), labels] += 0.2
    cos[:, 2] += 0.3  # a class that dominates raw scores: normalising by class means corrects it
    logits = cos / 2 + 1
    expected = np.mean(np.argmax(logits / logits.mean(axis=0), axis=1) == labels)
    assert metrics.normalised_top1(cos, labels) == pytest.approx(expected, abs=0)
    assert metrics.normalised_top1(cos, labels) > metrics.top1_accuracy(cos, labels) + 0.03


def test_recall_at_1_both_directions_equals_brute_force():
    rng = np.random.default_rng(2)
    n = 700
    labels = rng.integers(0, 6, n)
    centres = _unit(rng.normal(size=(6, 32)))
    sat = _unit(centres[labels] + 0.9 * rng.normal(size=(n, 32)) / np.sqrt(32) * 4)
    ground = _unit(centres[labels] + 0.9 * rng.normal(size=(n, 32)) / np.sqrt(32) * 4)
    labels[:20] = -1

    def brute(q, g):
        hits = []
        for i in range(n):
            if labels[i] < 0:
                continue
            sims = [q[i] @ g[j] if labels[j] >= 0 else -np.inf for j in range(n)]
            hits.append(labels[int(np.argmax(sims))] == labels[i])
        return np.mean(hits)

    s2g = metrics.recall_at_1(sat, ground, labels, labels, chunk=64)
    g2s = metrics.recall_at_1(ground, sat, labels, labels, chunk=1000)
    assert s2g == pytest.approx(brute(sat, ground), abs=1e-12)
    assert g2s == pytest.approx(brute(ground, sat), abs=1e-12)
    assert 0.2 < s2g < 1.0 and s2g != g2s


def test_pearson_and_kendall_equal_scipy():
    rng = np.random.default_rng(3)
    x = rng.normal(size=2000)
    y = 0.4 * x + rng.normal(size=2000)
    assert metrics.pearson_r(x, y) == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-12)
    assert metrics.pearson_r(x, y) == pytest.approx(stats.linregress(x, y).rvalue, abs=1e-12)
    assert metrics.kendall_tau(x, y, chunk=300) == pytest.approx(stats.kendalltau(x, y)[0], abs=1e-12)
    # with many ties (ratings 1..10 against rounded predictions): tau-b
    xt = rng.integers(1, 11, 800).astype(float)
    yt = np.round(xt / 3 + rng.normal(size=800))
    assert metrics.kendall_tau(xt, yt) == pytest.approx(stats.kendalltau(xt, yt, variant="b")[0], abs=1e-12)
