"""Evaluation metrics, in numpy: zero-shot top-1, class-consistent Recall@1, Pearson R and Kendall tau-b.

Points whose label is negative (no label for the task) are left out of label-based metrics.
"""

from __future__ import annotations

import numpy as np


def top1_accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows of ``scores`` (N, K) whose argmax equals ``labels`` (N,)."""
    keep = labels >= 0
    if not keep.any():
        return float("nan")
    return float((np.argmax(scores[keep], axis=1) == labels[keep]).mean())


def normalised_top1(cosines: np.ndarray, labels: np.ndarray) -> float:
    """The authors' "normalised" accuracy: logits ``cos / 2 + 1`` divided by each class's mean logit."""
    keep = labels >= 0
    logits = cosines[keep] / 2 + 1
    return top1_accuracy(logits / logits.mean(axis=0, keepdims=True), labels[keep])


def recall_at_1(queries: np.ndarray, gallery: np.ndarray, query_labels: np.ndarray, gallery_labels: np.ndarray,
                *, chunk: int = 1024) -> float:
    """Class-consistent Recall@1: the gallery item of highest cosine has the query's label.

    ``queries`` (N, D) and ``gallery`` (M, D) are L2-normalised; items with a negative label are
    left out of both sides.
    """
    q_keep, g_keep = query_labels >= 0, gallery_labels >= 0
    queries, query_labels = queries[q_keep], query_labels[q_keep]
    gallery, gallery_labels = gallery[g_keep], gallery_labels[g_keep]
    if not len(queries) or not len(gallery):
        return float("nan")
    hits = 0
    for a in range(0, len(queries), chunk):
        best = np.argmax(queries[a : a + chunk] @ gallery.T, axis=1)
        hits += int((gallery_labels[best] == query_labels[a : a + chunk]).sum())
    return hits / len(queries)


def pearson_r(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation coefficient of two 1-D arrays."""
    x = np.asarray(x, dtype=np.float64) - np.mean(x)
    y = np.asarray(y, dtype=np.float64) - np.mean(y)
    denom = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denom) if denom > 0 else float("nan")


def kendall_tau(x: np.ndarray, y: np.ndarray, *, chunk: int = 1024) -> float:
    """Kendall's tau-b (ties accounted for), by counting pairs in row blocks: O(n^2) time, O(chunk n) memory."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    agree = untied_x = untied_y = 0.0
    for a in range(0, len(x), chunk):
        sx = np.sign(x[a : a + chunk, None] - x[None, :])
        sy = np.sign(y[a : a + chunk, None] - y[None, :])
        agree += (sx * sy).sum()
        untied_x += np.abs(sx).sum()
        untied_y += np.abs(sy).sum()
    denom = np.sqrt(untied_x * untied_y)
    return float(agree / denom) if denom > 0 else float("nan")
