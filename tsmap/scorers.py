"""Tile scorers: turn a tile's embeddings into named map layers, and say which files they go to.

A scorer is a small picklable object shipped to every worker: ``scorer(emb)`` with ``emb`` the
dequantised float32 embeddings (embed, y, x) of one tile returns ``{layer name: (y, x) array}``.
:class:`ClassScorer` wraps :func:`tsmap.zeroshot.classify`: ``class`` goes to the class COG, the
confidence layers (top-1 score, probability, margin) to the bands of the confidence COG.
:class:`ScenicScorer` wraps :func:`tsmap.scenic.scenicness`. The layer names are constants
(:data:`CLASS_LAYER`, :data:`CONFIDENCE_LAYERS`, :data:`SCENIC_LAYER`); the files come from
:class:`tsmap.outputs.OutputPaths`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from .dims import EMBED, X, Y
from .legend import Legend
from .prompts import PromptSet
from .scenic import ScenicPrompts, load_scenic, method_description, scenicness
from .text import embed_prompts, encode_texts
from .text_model import DEFAULT_MODEL, DEFAULT_PRETRAINED, model_id
from .write import Product
from .zeroshot import CLASS_LAYER, CLASS_NODATA, CONFIDENCE_LAYERS, LOGIT_SCALE, ClassEmbeddings, classify

if TYPE_CHECKING:  # outputs imports this module's layer names
    from .outputs import OutputPaths

#: The layer of a scenicness map (1-10).
SCENIC_LAYER = "scenic"
#: The dtypes of the class COG's layer, of each confidence layer and of scenicness.
CLASS_DTYPE, CONFIDENCE_DTYPE, SCENIC_DTYPE = "uint8", "float32", "float32"


def layer_dtypes(*, scenic: bool = False) -> list[str]:
    """The dtype of every layer a prompt set's maps (and ``scenic``) hold, without building a scorer (dry run)."""
    return [CLASS_DTYPE] + [CONFIDENCE_DTYPE] * len(CONFIDENCE_LAYERS) + ([SCENIC_DTYPE] if scenic else [])


@dataclass(frozen=True, eq=False)
class ClassScorer:
    """Class, score, probability and margin of every pixel against a prompt set (its unknown rule included)."""

    prompts: PromptSet
    classes: ClassEmbeddings  #: the prompt set's text embeddings, ensembled by its rule, with provenance tags

    @classmethod
    def build(
        cls, prompts: PromptSet, *, clip_model: str = DEFAULT_MODEL, clip_pretrained: str = DEFAULT_PRETRAINED
    ) -> "ClassScorer":
        return cls(prompts, embed_prompts(prompts, model=clip_model, pretrained=clip_pretrained))

    def __call__(self, emb: np.ndarray) -> dict[str, np.ndarray]:
        ds = classify(xr.DataArray(emb, dims=(EMBED, Y, X)), self.classes, unknown=self.prompts.unknown)
        return {name: np.asarray(ds[name].values) for name in (CLASS_LAYER, *CONFIDENCE_LAYERS)}

    @property
    def dim(self) -> int:
        return int(self.classes.vectors.shape[1])

    def fingerprint(self) -> str:
        h = hashlib.sha256(
            json.dumps([self.tags(), self.classes.starts, str(self.prompts.unknown)], sort_keys=True).encode()
        )
        h.update(np.ascontiguousarray(self.classes.vectors).tobytes())
        return h.hexdigest()

    def tags(self) -> dict:
        return dict(self.classes.tags)

    def products(self, paths: OutputPaths) -> list[Product]:
        """The class COG at ``paths.main`` and the confidence COG ``paths.score`` with the other layers."""
        tags = {**self.tags(), "text_embeddings_sha256": self.fingerprint()}
        return [
            Product(paths.main, (CLASS_LAYER,), CLASS_DTYPE, CLASS_NODATA, colormap=self.colormap(), tags=tags,
                    legend=self.legend()),
            Product(paths.score, CONFIDENCE_LAYERS, CONFIDENCE_DTYPE, float("nan"), tags=tags),
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
        method_description(sp, method=method, min_prompts=min_prompts)  # checks both now, not per tile
        vectors = encode_texts(list(sp.texts), model=clip_model, pretrained=clip_pretrained)
        return cls(sp, vectors, method, min_prompts, model_id(clip_model, clip_pretrained))

    def _map(self, emb: np.ndarray):
        return scenicness(xr.DataArray(emb, dims=(EMBED, Y, X)), self.prompts, method=self.method,
                          min_prompts=self.min_prompts, text_embeddings=self.vectors)

    def __call__(self, emb: np.ndarray) -> dict[str, np.ndarray]:
        return {SCENIC_LAYER: np.asarray(self._map(emb).values, dtype=np.float32)}

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def tags(self) -> dict:
        """What a scenicness map records: the prompts, how their ratings combine, the temperature, the text model."""
        sp = self.prompts
        return {"scenic_prompts": str(sp.name), "scenic_sha256": sp.sha256(), "scenic_prompts_json": sp.to_json(),
                "scenic_method": method_description(sp, method=self.method, min_prompts=self.min_prompts),
                "scenic_logit_scale": str(float(LOGIT_SCALE)), "text_model": self.text_model}

    def fingerprint(self) -> str:
        h = hashlib.sha256(json.dumps(self.tags(), sort_keys=True).encode())
        h.update(np.ascontiguousarray(self.vectors).tobytes())
        return h.hexdigest()

    def products(self, out: str) -> list[Product]:
        tags = {**self.tags(), "text_embeddings_sha256": self.fingerprint()}
        return [Product(out, (SCENIC_LAYER,), SCENIC_DTYPE, float("nan"), tags=tags)]

    def legend(self) -> None:
        return None


def class_embeddings(
    prompts: PromptSet, *, clip_model: str = DEFAULT_MODEL, clip_pretrained: str = DEFAULT_PRETRAINED
) -> ClassEmbeddings:
    """The mean-ensembled, L2-normalised text embeddings of a prompt set's classes (``.vectors``, (K, D)),
    with the class names, colours and provenance that :func:`tsmap.classify` puts on its maps."""
    return embed_prompts(replace(prompts, ensembling="mean"), model=clip_model, pretrained=clip_pretrained)

