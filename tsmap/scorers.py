"""Tile scorers: turn a tile's embeddings into named map layers, and say which files they go to.

A scorer is a small picklable object shipped to every worker: ``scorer(emb)`` with ``emb`` the
dequantised float32 embeddings (embed, y, x) of one tile returns ``{layer name: (y, x) array}``.
:class:`ClassScorer` wraps :func:`tsmap.zeroshot.classify` and writes whatever layers it returns:
``class`` to the class COG, every other layer (top-1 score, probability, margin) as one band of
the confidence COG. :class:`ScenicScorer` wraps :func:`tsmap.scenic.scenicness`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace

import numpy as np

from .dims import EMBED, X, Y
from .prompts import PromptSet
from .scenic import ScenicPrompts, load_scenic, scenicness
from .legend import Legend
from .zeroshot import CLASS_NODATA, ClassEmbeddings, classify
from .text import DEFAULT_MODEL, DEFAULT_PRETRAINED, embed_prompts, encode_texts, model_id
from .write import Product

@dataclass(frozen=True, eq=False)
class ClassScorer:
    """Class, score, probability and margin of every pixel against a prompt set (its unknown rule included)."""

    prompts: PromptSet
    classes: ClassEmbeddings  #: the prompt set's text embeddings, ensembled by its rule, with provenance tags

    @classmethod
    def build(cls, prompts: PromptSet, *, clip_model: str = DEFAULT_MODEL, clip_pretrained: str = DEFAULT_PRETRAINED) -> "ClassScorer":
        return cls(prompts, embed_prompts(prompts, model=clip_model, pretrained=clip_pretrained))

    def __call__(self, emb: np.ndarray) -> dict[str, np.ndarray]:
        import xarray as xr

        ds = classify(xr.DataArray(emb, dims=(EMBED, Y, X)), self.classes, unknown=self.prompts.unknown)
        return {name: np.asarray(ds[name].values) for name in ds.data_vars}

    @property
    def dim(self) -> int:
        return int(self.classes.vectors.shape[1])

    def fingerprint(self) -> str:
        h = hashlib.sha256(json.dumps([self.tags(), self.classes.starts, str(self.prompts.unknown)], sort_keys=True).encode())
        h.update(np.ascontiguousarray(self.classes.vectors).tobytes())
        return h.hexdigest()

    def tags(self) -> dict:
        return dict(self.classes.tags)

    def products(self, out: str) -> list[Product]:
        """The class COG at ``out`` and the confidence COG ``<stem>_score.tif`` with the other layers."""
        layers = self(np.full((self.dim, 1, 1), np.nan, np.float32))
        others = tuple(name for name in layers if name != "class")
        tags = {**self.tags(), "text_embeddings_sha256": self.fingerprint()}
        return [
            Product(out, ("class",), "uint8", CLASS_NODATA, colormap=self.colormap(), tags=tags, legend=self.legend()),
            Product(f"{stem_of(out)}_score.tif", others, "float32", float("nan"), tags=tags),
        ]

    def legend(self) -> Legend:
        """Names and colours of the class-map values 0..K-1 (negative classes included: they never appear)."""
        return Legend.from_prompts(self.prompts)

    def colormap(self) -> dict[int, tuple[int, int, int, int]]:
        return self.legend().colormap()


@dataclass(frozen=True, eq=False)
class ScenicScorer:
    """Scenicness (1-10) of every pixel from rated landscape prompts (early or late ensembling)."""

    prompts: ScenicPrompts
    vectors: np.ndarray  #: (P, D) text embeddings of the prompts, in order
    method: str = "early"
    min_prompts: int = 2
    text_model: str = ""

    @classmethod
    def build(cls, prompts: str | ScenicPrompts = "illustrative", *, method: str = "early", min_prompts: int = 2,
              clip_model: str = DEFAULT_MODEL, clip_pretrained: str = DEFAULT_PRETRAINED) -> "ScenicScorer":
        sp = prompts if isinstance(prompts, ScenicPrompts) else load_scenic(prompts)
        vectors = encode_texts(list(sp.texts), model=clip_model, pretrained=clip_pretrained)
        scorer = cls(sp, vectors, method, min_prompts, model_id(clip_model, clip_pretrained))
        scorer(np.full((scorer.dim, 1, 1), np.nan, np.float32))  # checks method and min_prompts now, not per tile
        return scorer

    def _map(self, emb: np.ndarray):
        import xarray as xr

        return scenicness(xr.DataArray(emb, dims=(EMBED, Y, X)), self.prompts, method=self.method,
                          min_prompts=self.min_prompts, text_embeddings=self.vectors)

    def __call__(self, emb: np.ndarray) -> dict[str, np.ndarray]:
        return {"scenic": np.asarray(self._map(emb).values, dtype=np.float32)}

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def tags(self) -> dict:
        attrs = self._map(np.full((self.dim, 1, 1), np.nan, np.float32)).attrs
        keep = {"scenic_prompts": "scenic_prompts", "scenic_sha256": "scenic_sha256", "prompts": "scenic_prompts_json",
                "scenic_method": "scenic_method", "logit_scale": "scenic_logit_scale"}
        return {**{new: str(attrs[old]) for old, new in keep.items()}, "text_model": self.text_model}

    def fingerprint(self) -> str:
        h = hashlib.sha256(json.dumps(self.tags(), sort_keys=True).encode())
        h.update(np.ascontiguousarray(self.vectors).tobytes())
        return h.hexdigest()

    def products(self, out: str) -> list[Product]:
        tags = {**self.tags(), "text_embeddings_sha256": self.fingerprint()}
        return [Product(out, ("scenic",), "float32", float("nan"), tags=tags)]

    def legend(self) -> None:
        return None


def class_embeddings(prompts: PromptSet, *, clip_model: str = DEFAULT_MODEL, clip_pretrained: str = DEFAULT_PRETRAINED) -> ClassEmbeddings:
    """The mean-ensembled, L2-normalised text embeddings of a prompt set's classes (``.vectors``, (K, D)),
    with the class names, colours and provenance that :func:`tsmap.classify` puts on its maps."""
    return embed_prompts(replace(prompts, ensembling="mean"), model=clip_model, pretrained=clip_pretrained)


def stem_of(out: str | os.PathLike) -> str:
    out = os.fspath(out)
    return out[: out.rfind(".")] if "." in os.path.basename(out) else out
