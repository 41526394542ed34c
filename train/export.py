"""Save the trained encoder as a checkpoint ``tsmap predict`` loads.

This is the one place that writes the model file, so switching to tsmap's own self-describing
format (safetensors + JSON metadata, being built for the encoder) is a change here only.
Until then: a bare state_dict in the authors' key layout (what ``tsmap.load_encoder`` reads,
``weights_only=True``) plus a JSON sidecar with the model config, preprocessing spec, text model
and provenance.
"""

from __future__ import annotations

import json
import os

import torch

from tsmap import __version__
from tsmap.preprocess import Preprocessing

#: File name of the exported model inside a training run folder.
MODEL_FILE = "model.ckpt"


def save_model(encoder: torch.nn.Module, preprocessing: Preprocessing, path: str, *, text_model: dict,
               provenance: dict) -> str:
    """Write ``encoder`` to ``path`` (atomically) with its metadata; returns the path."""
    meta = {
        "format": "tsmap-encoder-sidecar",
        "model": encoder.config.to_dict(),
        "preprocessing": preprocessing.to_dict(),
        "text_model": text_model,
        "provenance": {"tsmap_version": __version__, **provenance},
    }
    state = {k: v.detach().cpu().contiguous() for k, v in encoder.state_dict().items()}
    _atomic(path, lambda tmp: torch.save(state, tmp))
    _atomic(path + ".json", lambda tmp: _write_json(tmp, meta))
    return path


def _write_json(path: str, obj: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, default=list)


def _atomic(path: str, write) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_model(path: str | None):
    """(encoder, preprocessing) of a checkpoint written by :func:`save_model`, or anything ``tsmap.load_encoder`` reads."""
    from tsmap.checkpoint import load_encoder, load_strict
    from tsmap.errors import ModelError
    from tsmap.model import EncoderConfig, TimeSenCLIPEncoder

    sidecar = f"{path}.json" if path else None
    if not sidecar or not os.path.exists(sidecar):
        return load_encoder(path)
    try:
        with open(sidecar, encoding="utf-8") as f:
            meta = json.load(f)
        model = TimeSenCLIPEncoder(EncoderConfig(**meta["model"]))
        prep = Preprocessing.from_dict(meta["preprocessing"])
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"cannot read checkpoint {path!r} with its metadata {sidecar!r} ({type(exc).__name__}: {exc})") from None
    load_strict(model, state, where=path)
    return model.eval(), prep
