"""Tile scorers: turn a tile's embeddings into named map layers, and say which files they go to.

A scorer is a small picklable object shipped to every worker: ``scorer(emb)`` with ``emb`` the
dequantised float32 embeddings (embed, y, x) of one tile returns ``{layer name: (y, x) array}``.
:class:`ClassScorer` wraps :func:`tsmap.score.classify` and writes whatever layers it returns:
``class`` to the class COG, every other layer (top-1 score, probability, margin, ...) as one band
of the confidence COG.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

import numpy as np

from .bands import EMBED, X, Y
from .prompts import PromptSet
from .score import CLASS_NODATA, classify, ensemble
from .text import DEFAULT_MODEL, DEFAULT_PRETRAINED, encode_texts, model_id
from .write import Product

#: Colours for classes whose prompt file gives none (RGB).
PALETTE = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255),
    (170, 110, 40), (255, 250, 200), (128, 0, 0), (170, 255, 195), (128, 128, 0), (255, 215, 180),
    (0, 0, 128), (128, 128, 128),
)


@dataclass(frozen=True, eq=False)
class ClassScorer:
    """Class, top-1 score (and whatever else ``classify`` returns) of every pixel against a prompt set."""

    prompts: PromptSet
    classes: np.ndarray  #: (K, D) ensembled, L2-normalised class text embeddings
    text_model: str  #: id of the text tower that made ``classes``

    @classmethod
    def build(cls, prompts: PromptSet, *, clip_model: str = DEFAULT_MODEL, clip_pretrained: str = DEFAULT_PRETRAINED) -> "ClassScorer":
        classes = class_embeddings(prompts, clip_model=clip_model, clip_pretrained=clip_pretrained)
        return cls(prompts, np.asarray(classes, dtype=np.float32), model_id(clip_model, clip_pretrained))

    def __call__(self, emb: np.ndarray) -> dict[str, np.ndarray]:
        import xarray as xr

        ds = classify(xr.DataArray(emb, dims=(EMBED, Y, X)), self.classes)
        return {name: np.asarray(ds[name].values) for name in ds.data_vars}

    @property
    def dim(self) -> int:
        return int(self.classes.shape[1])

    def fingerprint(self) -> str:
        h = hashlib.sha256(self.prompts.sha256().encode() + self.text_model.encode())
        h.update(np.ascontiguousarray(self.classes).tobytes())
        return h.hexdigest()

    def tags(self) -> dict:
        return {
            "prompts_name": self.prompts.name,
            "prompts_sha256": self.prompts.sha256(),
            "prompts": json.dumps(dict(zip(self.prompts.names, self.prompts.texts())), ensure_ascii=False),
            "classes": ",".join(self.prompts.names),
            "text_model": self.text_model,
        }

    def products(self, out: str) -> list[Product]:
        """The class COG at ``out`` and the confidence COG ``<stem>_score.tif`` with the other layers."""
        layers = self(np.full((self.dim, 1, 1), np.nan, np.float32))
        others = tuple(name for name in layers if name != "class")
        stem = stem_of(out)
        return [
            Product(out, ("class",), "uint8", CLASS_NODATA, colormap=self.colormap()),
            Product(f"{stem}_score.tif", others, "float32", float("nan")),
        ]

    def colormap(self) -> dict[int, tuple[int, int, int, int]]:
        cmap = {CLASS_NODATA: (0, 0, 0, 0)}
        for i, c in enumerate(self.prompts.classes):
            cmap[i] = (*hex_rgb(c.color), 255) if c.color else (*PALETTE[i % len(PALETTE)], 255)
        return cmap


_MEMO: dict[tuple[str, str, str], np.ndarray] = {}


def class_embeddings(prompts: PromptSet, *, clip_model: str = DEFAULT_MODEL, clip_pretrained: str = DEFAULT_PRETRAINED) -> np.ndarray:
    """(K, D) ensembled, L2-normalised text embeddings of a prompt set's classes (memoised per process)."""
    key = (prompts.sha256(), clip_model, str(clip_pretrained))
    if key not in _MEMO:
        texts = prompts.texts()
        flat = encode_texts([t for group in texts for t in group], model=clip_model, pretrained=clip_pretrained)
        bounds = np.cumsum([0] + [len(g) for g in texts])
        _MEMO[key] = ensemble([flat[a:b] for a, b in zip(bounds[:-1], bounds[1:])])
    return _MEMO[key].copy()


def hex_rgb(color: str) -> tuple[int, int, int]:
    text = color.lstrip("#")
    if len(text) != 6:
        return (128, 128, 128)
    return tuple(int(text[i : i + 2], 16) for i in (0, 2, 4))


def stem_of(out: str | os.PathLike) -> str:
    out = os.fspath(out)
    return out[: out.rfind(".")] if "." in os.path.basename(out) else out
