"""Text embeddings from an open_clip text tower (default: OpenAI CLIP ViT-B/32)."""

from __future__ import annotations

import functools
import logging
import os

import numpy as np

from .errors import ModelError

log = logging.getLogger("tsmap")

DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "openai"
#: ``pretrained`` value that builds a randomly initialised (seeded) tower, for offline use.
RANDOM = "none"


def encode_texts(texts: list[str], *, model: str = DEFAULT_MODEL, pretrained: str = DEFAULT_PRETRAINED) -> np.ndarray:
    """L2-normalised text embeddings (len(texts), dim) as float32.

    ``pretrained`` is an open_clip tag (``"openai"``), a local weights file, or ``"none"`` for a
    seeded random tower (scores are then meaningless; a warning says so).
    """
    import torch

    clip, tokenizer = _load(model, pretrained)
    with torch.inference_mode():
        emb = clip.encode_text(tokenizer(list(texts)), normalize=True)
    return emb.float().numpy()


def model_id(model: str = DEFAULT_MODEL, pretrained: str = DEFAULT_PRETRAINED) -> str:
    """A string naming the text model, recorded with every output."""
    tag = os.path.basename(pretrained) if os.path.exists(str(pretrained)) else pretrained
    return f"open_clip:{model}/{tag}"


@functools.lru_cache(maxsize=2)
def _load(model: str, pretrained: str):
    import open_clip
    import torch

    if model not in open_clip.list_models():
        raise ModelError(f"unknown open_clip model {model!r}; see open_clip.list_models() (default {DEFAULT_MODEL})")
    if str(pretrained).lower() == RANDOM:
        log.warning(
            "text tower %s has RANDOM weights (--clip-pretrained none): prompt scores are meaningless; "
            "use the default 'openai' weights or a local weights file for real maps",
            model,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            clip = open_clip.create_model(model, pretrained=None)
    else:
        try:
            clip = open_clip.create_model(model, pretrained=pretrained)
        except Exception as exc:
            raise ModelError(
                f"cannot load open_clip weights {pretrained!r} for {model} ({type(exc).__name__}: {exc}); "
                "connect to the internet once, or pass --clip-pretrained with a local weights file "
                "(or 'none' for a random tower)"
            ) from exc
    return clip.eval(), open_clip.get_tokenizer(model)
