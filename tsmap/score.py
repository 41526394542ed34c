"""Scores of pixel embeddings against class text embeddings."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .bands import EMBED

#: Class-map value for pixels without data.
CLASS_NODATA = 255


def l2_normalise(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """``a`` divided by its L2 norm along ``axis``."""
    a = np.asarray(a, dtype=np.float32)
    return a / np.maximum(np.linalg.norm(a, axis=axis, keepdims=True), np.float32(1e-12))


def ensemble(per_class: list[np.ndarray]) -> np.ndarray:
    """One embedding per class: normalise each prompt embedding, average, renormalise -> (K, D)."""
    return l2_normalise(np.stack([l2_normalise(e).mean(axis=0) for e in per_class]))


def cosine(embeddings: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Cosine scores (..., K) of L2-normalised ``embeddings`` (..., D) against ``classes`` (K, D)."""
    return embeddings @ classes.T


def classify(embedding: xr.DataArray, classes: np.ndarray) -> xr.Dataset:
    """Class map and top-1 cosine score of an (embed, y, x) cube, lazily.

    Returns ``class`` (uint8, :data:`CLASS_NODATA` where the embedding is NaN) and ``score``
    (float32, NaN there).
    """
    classes = np.asarray(classes, dtype=np.float32)
    k = classes.shape[0]

    def _top1(emb: np.ndarray) -> np.ndarray:
        s = cosine(emb, classes)
        nodata = np.isnan(s).any(-1)
        best = np.argmax(np.nan_to_num(s, nan=-np.inf), axis=-1)
        top = np.take_along_axis(s, best[..., None], -1)[..., 0]
        return np.stack([np.where(nodata, CLASS_NODATA, best), np.where(nodata, np.nan, top)], -1).astype(np.float32)

    pair = xr.apply_ufunc(
        _top1,
        embedding,
        input_core_dims=[[EMBED]],
        output_core_dims=[["out"]],
        dask="parallelized",
        output_dtypes=[np.float32],
        dask_gufunc_kwargs={"output_sizes": {"out": 2}},
    )
    ds = xr.Dataset({"class": pair.isel(out=0).astype(np.uint8), "score": pair.isel(out=1)})
    ds.attrs["n_classes"] = k
    return ds
