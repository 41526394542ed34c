"""Save the trained encoder as a tsmap checkpoint, the format ``tsmap predict`` loads.

The one place training writes a model: :func:`tsmap.checkpoint.save_checkpoint` (safetensors
weights + JSON metadata with the model config, preprocessing spec, text model and provenance).
"""

from __future__ import annotations

from dataclasses import replace

import torch

from tsmap.checkpoint import load_encoder
from tsmap.checkpoint import save_checkpoint
from tsmap.specs import Preprocessing
from tsmap.text import model_id

#: File name of the exported model inside a training run folder.
MODEL_FILE = "model.safetensors"


def save_model(encoder: torch.nn.Module, preprocessing: Preprocessing, path: str, *, text_model: dict,
               provenance: dict) -> str:
    """Write ``encoder`` to ``path`` (atomically) with its spec; returns the path.

    ``text_model`` is ``{"clip_model": ..., "clip_pretrained": ...}``, the tower the ground
    embeddings came from (recorded as an open_clip model id).
    """
    save_checkpoint(
        path,
        encoder,
        replace(preprocessing, patch=encoder.config.patch),
        text_model=model_id(text_model["clip_model"], text_model["clip_pretrained"]),
        provenance=provenance,
    )
    return path


def load_model(path: str | None):
    """(encoder, preprocessing) of an exported model, or of anything ``tsmap.load_encoder`` reads."""
    return load_encoder(path)
