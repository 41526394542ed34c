"""Ground-level embeddings of LUCAS points: the published frozen-CLIP file, or photos encoded here.

The published file (SenCLIP, ``lucas_swen_hfclipemb512_ViTB32.pt``) is a dict
``"{NUTS0}_{POINT_ID}{DIR}" -> tensor (1, 512)`` with DIR in W, E, N, S. LUCAS photos live at
``<root>/<NUTS0>/<ID[0:3]>/<ID[3:6]>/<ID><DIR>.jpg`` (or flat, ``<root>/<ID><DIR>.jpg``) and are
encoded with open_clip's image tower.
"""

from __future__ import annotations

import functools
import os
import re

import numpy as np

from tsmap.errors import DataError, InputError, ModelError
from tsmap.text_model import DEFAULT_MODEL, DEFAULT_PRETRAINED

from .store import VIEWS

_KEY = re.compile(r"^([A-Z]{2})_(\d+)([WENS])$")


class GroundEmbeddings:
    """Lookup of per-view embeddings by point id: ``views(point_id) -> ((V, D) array, (V,) bool)``."""

    def __init__(self, table: dict[tuple[str, str], np.ndarray], dim: int, source: str) -> None:
        self.table = table
        self.dim = dim
        self.source = source

    def views(self, point_id: str) -> tuple[np.ndarray, np.ndarray]:
        out = np.zeros((len(VIEWS), self.dim), dtype=np.float32)
        have = np.zeros(len(VIEWS), dtype=bool)
        for v, d in enumerate(VIEWS):
            emb = self.table.get((point_id, d))
            if emb is not None:
                out[v], have[v] = emb, True
        return out, have

    def point_ids(self) -> set[str]:
        return {pid for pid, _ in self.table}


def load_embedding_file(path: str) -> GroundEmbeddings:
    """Read the published LUCAS embedding dict (``.pt``, read with ``weights_only=True``)."""
    import torch

    if not os.path.exists(path):
        raise InputError(f"embeddings file {path!r} does not exist; give the LUCAS CLIP embeddings .pt file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DataError(f"cannot read embeddings {path!r} as plain tensors ({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, dict) or not obj:
        raise DataError(f"embeddings {path!r} is not a non-empty dict '{{NUTS0}}_{{POINT_ID}}{{W|E|N|S}}' -> tensor")
    table, dims = {}, set()
    for key, value in obj.items():
        m = _KEY.match(str(key))
        if m is None or not isinstance(value, torch.Tensor):
            raise DataError(
                f"embeddings {path!r}: entry {key!r} is not '{{NUTS0}}_{{POINT_ID}}{{W|E|N|S}}' -> tensor (1, 512)"
            )
        vec = value.detach().float().reshape(-1).numpy()
        table[(m[2], m[3])] = vec
        dims.add(vec.size)
    if len(dims) != 1:
        raise DataError(f"embeddings {path!r} mix vector sizes {sorted(dims)}; all must have the same size")
    return GroundEmbeddings(table, dims.pop(), os.path.basename(path))


def photo_path(root: str, point_id: str, view: str, nuts0: str | None) -> str | None:
    """Path of a LUCAS photo under ``root`` (nested GISCO layout or flat), or None when absent."""
    candidates = [os.path.join(root, f"{point_id}{view}.jpg")]
    if nuts0:
        candidates.insert(0, os.path.join(root, nuts0, point_id[:3], point_id[3:6], f"{point_id}{view}.jpg"))
    return next((p for p in candidates if os.path.exists(p)), None)


def encode_photos(
    root: str,
    points: dict[str, str | None],
    *,
    clip_model: str = DEFAULT_MODEL,
    clip_pretrained: str = DEFAULT_PRETRAINED,
    batch_size: int = 32,
) -> GroundEmbeddings:
    """Encode the LUCAS photos of ``points`` (point id -> NUTS0 code) with open_clip's image tower.

    Embeddings are raw image features (not normalised), like the published file; training
    normalises after pooling the views.
    """
    import torch

    if not os.path.isdir(root):
        raise InputError(f"photo folder {root!r} does not exist; give the folder of LUCAS photos")
    model, preprocess = _image_tower(clip_model, clip_pretrained)
    jobs = [(pid, d, p) for pid, nuts0 in points.items() for d in VIEWS if (p := photo_path(root, pid, d, nuts0))]
    table: dict[tuple[str, str], np.ndarray] = {}
    dim = model.visual.output_dim
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start : start + batch_size]
        images = torch.stack([preprocess(_open_image(p)) for _, _, p in chunk])
        with torch.inference_mode():
            emb = model.encode_image(images).float().numpy()
        for (pid, d, _), e in zip(chunk, emb):
            table[(pid, d)] = e
    return GroundEmbeddings(
        table, dim, f"photos:{os.path.basename(os.path.abspath(root))}:{clip_model}/{clip_pretrained}"
    )


def _open_image(path: str):
    from PIL import Image

    try:
        return Image.open(path).convert("RGB")
    except Exception as exc:
        raise DataError(f"cannot read photo {path!r} ({type(exc).__name__}: {exc}); remove or replace it") from None


@functools.lru_cache(maxsize=1)
def _image_tower(clip_model: str, clip_pretrained: str):
    import open_clip
    import torch

    pretrained = None if clip_pretrained == "none" else clip_pretrained
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model, _, preprocess = open_clip.create_model_and_transforms(clip_model, pretrained=pretrained)
    except Exception as exc:
        raise ModelError(
            f"cannot load open_clip image tower {clip_model}/{clip_pretrained} ({type(exc).__name__}: {exc}); "
            "connect once to download it, pass a local weights file, or use the published embeddings file"
        ) from None
    return model.eval(), preprocess
