"""Scores of pixel embeddings against class text embeddings: class, probability, margin, unknown.

All maps are lazy: an (embed, y, x) cube in, an xarray Dataset of (y, x) maps out. Embeddings
and text embeddings are L2-normalised, so every score is a plain dot product (cosine).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from .dims import CLASS, EMBED, RANK
from .errors import InputError
from .legend import CLASS_NODATA, CLASS_UNKNOWN, Legend
from .georef import keep_crs
from .text_model import DEFAULT_MODEL

#: CLIP's learned temperature, ``logit_scale.exp()`` of OpenAI CLIP: probabilities are softmax(100 * cos).
LOGIT_SCALE = 100.0
#: How the prompts of one class combine: average the embeddings (CLIP, TimeSenCLIP) or take the best prompt.
ENSEMBLING = ("mean", "max")
#: The maps :func:`classify` makes of every pixel (top-k aside): the class, then the layers saying how sure it is.
CLASS_LAYER = "class"
CONFIDENCE_LAYERS = ("score", "probability", "margin")
_EPS = 1e-6  # as TimeSenCLIP's zeroshot.py: logits / (logits.mean(0) + 1e-6)


@dataclass(frozen=True)
class UnknownRule:
    """When a pixel is "none of these": any condition that holds sends it to :data:`CLASS_UNKNOWN`."""

    min_similarity: float | None = None  #: top-1 cosine below this
    min_probability: float | None = None  #: top-1 softmax probability below this
    negative: tuple[int, ...] = ()  #: indices of classes that stand for "something else"

    def __post_init__(self) -> None:
        if self.min_similarity is not None and not -1 <= self.min_similarity <= 1:
            raise InputError(f"unknown min_similarity must lie in [-1, 1], got {self.min_similarity}")
        if self.min_probability is not None and not 0 <= self.min_probability <= 1:
            raise InputError(f"unknown min_probability must lie in [0, 1], got {self.min_probability}")
        if any(int(i) < 0 for i in self.negative):
            raise InputError(f"unknown negative class indices must be >= 0, got {self.negative}")


@dataclass(frozen=True, eq=False)
class ClassEmbeddings:
    """The text side of a map: prompt embeddings grouped per class, and where they came from.

    ``vectors`` (P, D) are L2-normalised; class ``k`` owns rows ``starts[k]:starts[k+1]`` and its score
    is the best of them (one row per class after "mean" ensembling, so the score is that row's cosine).
    ``tags`` is the provenance the writer records (prompt set, its sha256, text model id); ``colors``
    (RGB per class) and ``names`` make the class map's legend.
    """

    vectors: np.ndarray
    starts: tuple[int, ...]
    names: tuple[str, ...] = ()
    tags: dict = field(default_factory=dict)
    colors: tuple = ()

    def __post_init__(self) -> None:
        v = np.asarray(self.vectors)
        if v.ndim != 2 or v.shape[0] == 0:
            raise InputError(f"class embeddings must be a non-empty (prompts, dim) array, got shape {v.shape}")
        s = tuple(int(i) for i in self.starts)
        if not s or s[0] != 0 or any(b <= a for a, b in zip(s, s[1:])) or s[-1] >= v.shape[0]:
            raise InputError(f"class starts {s} must rise strictly from 0 and stay below {v.shape[0]} rows")
        if self.names and len(self.names) != len(s):
            raise InputError(f"{len(self.names)} class names for {len(s)} classes")
        object.__setattr__(self, "vectors", l2_normalise(v))
        object.__setattr__(self, "starts", s)

    @property
    def n_classes(self) -> int:
        return len(self.starts)

    @classmethod
    def from_groups(
        cls, per_class: list[np.ndarray], *, rule: str = "mean", names=(), tags=None, colors=()
    ) -> "ClassEmbeddings":
        """Ensemble each class's prompt embeddings (n_k, D) with ``rule`` ("mean" or "max")."""
        if rule not in ENSEMBLING:
            raise InputError(f"ensembling rule must be one of {', '.join(ENSEMBLING)}, got {rule!r}")
        if rule == "mean":
            return cls(ensemble(per_class), tuple(range(len(per_class))), tuple(names), dict(tags or {}), tuple(colors))
        sizes = [len(g) for g in per_class]
        starts = tuple(int(i) for i in np.cumsum([0] + sizes[:-1]))
        return cls(
            np.concatenate([np.atleast_2d(g) for g in per_class]), starts, tuple(names), dict(tags or {}), tuple(colors)
        )

    def legend(self) -> Legend:
        """Names and colours of the class values (``class 0``.. when the classes are unnamed)."""
        return Legend(self.names or tuple(f"class {i}" for i in range(self.n_classes)), self.colors)

    def scores(self, embeddings: np.ndarray) -> np.ndarray:
        """Class scores (..., K) of L2-normalised ``embeddings`` (..., D); NaN where they are NaN."""
        s = cosine(embeddings, self.vectors)
        if len(self.starts) == self.vectors.shape[0]:
            return s
        return np.maximum.reduceat(s, self.starts, axis=-1)


def as_class_embeddings(classes) -> ClassEmbeddings:
    """A :class:`ClassEmbeddings` as is, or one built from a (K, D) array of class vectors."""
    if isinstance(classes, ClassEmbeddings):
        return classes
    arr = np.asarray(classes, dtype=np.float32)
    return ClassEmbeddings(arr, tuple(range(arr.shape[0] if arr.ndim == 2 else 0)) or (0,))


def l2_normalise(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """``a`` divided by its L2 norm along ``axis``."""
    a = np.asarray(a, dtype=np.float32)
    return a / np.maximum(np.linalg.norm(a, axis=axis, keepdims=True), np.float32(1e-12))


def ensemble(per_class: list[np.ndarray]) -> np.ndarray:
    """One embedding per class: normalise each prompt embedding, average, renormalise -> (K, D)."""
    return l2_normalise(np.stack([l2_normalise(np.atleast_2d(e)).mean(axis=0) for e in per_class]))


def cosine(embeddings: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Cosine scores (..., K) of L2-normalised ``embeddings`` (..., D) against ``classes`` (K, D)."""
    return embeddings @ classes.T


def class_means(embedding: xr.DataArray, classes) -> xr.DataArray:
    """Per-class mean of the rescaled score ``cos / 2 + 1`` over all valid pixels, lazily -> (class,).

    The first pass of per-class normalisation (TimeSenCLIP's "normalised" scores). For a large
    AOI compute it on its own (one read of the embeddings) and pass the result to
    ``classify(..., normalise=means)``.
    """
    ce = as_class_embeddings(classes)
    _check_dim(embedding, ce)
    s = xr.apply_ufunc(
        lambda e: ce.scores(e) / np.float32(2) + np.float32(1),
        embedding,
        input_core_dims=[[EMBED]],
        output_core_dims=[[CLASS]],
        dask="parallelized",
        output_dtypes=[np.float32],
        dask_gufunc_kwargs={"output_sizes": {CLASS: ce.n_classes}},
    )
    return s.mean(dim=[d for d in s.dims if d != CLASS], skipna=True).rename("class_mean")


def classify(
    embedding: xr.DataArray,
    classes,
    *,
    logit_scale: float = LOGIT_SCALE,
    top_k: int = 0,
    unknown: UnknownRule | None = None,
    normalise=False,
) -> xr.Dataset:
    """Class maps of an (embed, y, x) cube, lazily.

    ``classes`` is a :class:`ClassEmbeddings` or a (K, D) array of class vectors. Returns

    - ``class`` (uint8): top-1 class; :data:`CLASS_NODATA` where the embedding is NaN,
      :data:`CLASS_UNKNOWN` where ``unknown`` rejects the pixel;
    - ``score`` (float32): cosine of that class; ``probability`` (float32): its softmax
      probability over all classes with ``logit_scale``; ``margin`` (float32): top-1 minus top-2
      decision score (NaN with one class); all NaN where there is no data;
    - with ``top_k`` > 0: ``top_class`` (uint8) and ``top_probability`` (float32) along ``rank``.

    ``normalise=True`` ranks classes by ``(cos/2+1)`` divided by its mean over this cube (a second
    pass, :func:`class_means`); an array of K means uses those instead. Then ``margin`` is in
    normalised units while ``score`` and ``probability`` stay the raw values of the chosen class.
    """
    ce = as_class_embeddings(classes)
    _check_dim(embedding, ce)
    k = ce.n_classes
    if not 0 <= int(top_k) <= k:
        raise InputError(f"top_k must lie in 0..{k} (the number of classes), got {top_k}")
    if unknown is not None and any(i >= k for i in unknown.negative):
        raise InputError(f"unknown.negative refers to class {max(unknown.negative)}, but there are only {k} classes")
    if not logit_scale > 0:
        raise InputError(f"logit_scale must be positive, got {logit_scale}")
    means = _means(embedding, ce, normalise)
    args = [embedding] + ([] if means is None else [means])

    def _block(emb, m=None):
        return score_block(emb, ce, logit_scale=logit_scale, top_k=top_k, unknown=unknown, means=m)

    packed = xr.apply_ufunc(
        _block,
        *args,
        input_core_dims=[[EMBED]] + ([] if means is None else [[CLASS]]),
        output_core_dims=[["out"]],
        dask="parallelized",
        output_dtypes=[np.float32],
        dask_gufunc_kwargs={"output_sizes": {"out": 4 + 2 * int(top_k)}},
    )
    ds = xr.Dataset({CLASS_LAYER: packed.isel(out=0).astype(np.uint8),
                     **{name: packed.isel(out=i + 1) for i, name in enumerate(CONFIDENCE_LAYERS)}})
    if top_k:
        ranks = {"out": RANK}
        ds["top_class"] = packed.isel(out=slice(4, 4 + top_k)).rename(ranks).transpose(RANK, ...).astype(np.uint8)
        ds["top_probability"] = packed.isel(out=slice(4 + top_k, None)).rename(ranks).transpose(RANK, ...)
    ds[CLASS_LAYER].attrs.update(ce.legend().attrs())
    for name, units in zip(CONFIDENCE_LAYERS, ("cosine similarity", "1", "1")):
        ds[name].attrs.update(long_name=f"top-1 {name}", units=units)
    ds.attrs.update(
        n_classes=k, logit_scale=float(logit_scale), normalised=int(means is not None),
        class_nodata=CLASS_NODATA, class_unknown=CLASS_UNKNOWN, **dict(ce.tags),
    )
    return keep_crs(ds, embedding)


def score_block(emb: np.ndarray, classes: ClassEmbeddings, *, logit_scale: float = LOGIT_SCALE, top_k: int = 0,
                unknown: UnknownRule | None = None, means: np.ndarray | None = None) -> np.ndarray:
    """The per-chunk work of :func:`classify` on numpy (..., D) -> (..., 4 + 2 top_k) float32.

    Columns: class, score, probability, margin, top-k classes, top-k probabilities.
    """
    s = classes.scores(np.asarray(emb, dtype=np.float32))
    nodata = np.isnan(s).any(-1)
    s = np.where(nodata[..., None], 0, s)
    logits = np.float32(logit_scale) * s
    logits -= logits.max(-1, keepdims=True)
    prob = np.exp(logits)
    prob /= prob.sum(-1, keepdims=True)
    decision = s if means is None else (s / 2 + 1) / (np.asarray(means, np.float32) + np.float32(_EPS))
    take = lambda a, idx: np.take_along_axis(a, idx, -1)  # noqa: E731
    k = s.shape[-1]
    best = np.argmax(decision, axis=-1)  # first of equals, as the stable sort below
    top_score = take(s, best[..., None])[..., 0]
    top_prob = take(prob, best[..., None])[..., 0]
    if k > 1:
        top2 = np.partition(decision, k - 2, axis=-1)[..., -2:]  # (second, first); a full sort costs 10x
        margin = top2[..., 1] - top2[..., 0]
    else:
        margin = np.full(best.shape, np.nan, np.float32)
    cls = best.astype(np.float32)
    if unknown is not None:
        reject = np.isin(best, unknown.negative)
        if unknown.min_similarity is not None:
            reject |= top_score < unknown.min_similarity
        if unknown.min_probability is not None:
            reject |= top_prob < unknown.min_probability
        cls = np.where(reject, CLASS_UNKNOWN, cls)
    cols = [cls, top_score, top_prob, margin]
    if top_k:
        idx = np.argsort(-decision, axis=-1, kind="stable")[..., :top_k]
        cols += list(np.moveaxis(idx.astype(np.float32), -1, 0)) + list(np.moveaxis(take(prob, idx), -1, 0))
    out = np.stack(cols, -1).astype(np.float32)
    out[nodata] = np.nan
    out[nodata, 0] = CLASS_NODATA
    if top_k:
        out[nodata, 4 : 4 + top_k] = CLASS_NODATA
    return out


def _means(embedding: xr.DataArray, ce: ClassEmbeddings, normalise):
    if normalise is False or normalise is None:
        return None
    if normalise is True:
        return class_means(embedding, ce)
    m = np.asarray(normalise, dtype=np.float32)
    if m.shape != (ce.n_classes,) or not np.isfinite(m).all():
        raise InputError(
            f"normalise= needs True or {ce.n_classes} finite class means (from class_means), got shape {m.shape}"
        )
    return xr.DataArray(m, dims=(CLASS,))


def _check_dim(embedding: xr.DataArray, ce: ClassEmbeddings) -> None:
    if EMBED not in embedding.dims:
        raise InputError(f"embeddings need an {EMBED!r} dimension, got dims {embedding.dims}")
    if embedding.sizes[EMBED] != ce.vectors.shape[1]:
        raise InputError(
            f"pixel embeddings have {embedding.sizes[EMBED]} dims but the text embeddings {ce.vectors.shape[1]}; "
            f"use the text model the encoder was trained with ({DEFAULT_MODEL} for TimeSenCLIP)"
        )
