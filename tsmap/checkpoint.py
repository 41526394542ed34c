"""Load encoder weights from any source, and convert the authors' checkpoint to tsmap's format.

A checkpoint reference is a local path or ``hf://OWNER/REPO[@REVISION]/PATH/IN/REPO`` (downloaded
once and cached by huggingface_hub). The file is either

* a tsmap checkpoint (safetensors + JSON metadata, see :mod:`tsmap.checkpoint_format`), or
* the authors' published weights: a bare state_dict or a Lightning-style wrapper (``state_dict``
  key; keys prefixed ``learner.ts_encoder.``, ``ts_encoder.``, ``TS_ViT.``), read with
  ``torch.load(weights_only=True)`` (never unpickling arbitrary objects) or from safetensors.
"""

from __future__ import annotations

import hashlib
import logging
import os

import torch

from .checkpoint_format import (
    SUFFIX,
    Checkpoint,
    is_safetensors,
    load_strict,
    read_checkpoint,
    read_metadata,
    read_tensors,
    save_checkpoint,
    weights_sha256,
)
from .errors import InputError, ModelError
from .model import EncoderConfig, TimeSenCLIPEncoder, build_encoder
from .preprocess import AUTHORS, Preprocessing, authors_spec

__all__ = ["AUTHORS_HF", "Checkpoint", "convert_checkpoint", "load_checkpoint", "load_encoder", "load_strict"]

log = logging.getLogger("tsmap")

HF_SCHEME = "hf://"
#: The published 1x1 TimeSenCLIP encoder.
AUTHORS_HF = "hf://pallavijainpj/TimeSenCLIP/TimeSenCLIP_1x1.ckpt"
#: The text tower the authors' encoder was aligned to (OpenAI CLIP ViT-B/32).
AUTHORS_TEXT_MODEL = "open_clip:ViT-B-32/openai"
AUTHORS_TRAINING_DATA = "Sen4Map Sentinel-2 L2A 2018 time series + LUCAS 2018 ground photos (TimeSenCLIP authors)"
#: Key prefixes the authors' training wrappers put in front of the encoder's own keys (preferred order).
AUTHOR_PREFIXES = ("learner.ts_encoder.", "ts_encoder.", "TS_ViT.", "model.", "module.")
_ANCHOR = "spectral_embedding.1.weight"
#: The authors' head count; it cannot be read from the weights' shapes.
AUTHORS_HEADS = 8


def load_encoder(checkpoint: str | os.PathLike | None, *, seed: int = 0) -> tuple[TimeSenCLIPEncoder, Preprocessing]:
    """The encoder (eval mode) and its preprocessing spec from ``checkpoint``; a seeded random model when None."""
    if checkpoint is None:
        log.warning(
            "no --checkpoint given: the satellite encoder has RANDOM weights (seed %d); maps are meaningless. "
            "Pass the TimeSenCLIP checkpoint (TimeSenCLIP_1x1.ckpt or %s) for real results",
            seed,
            AUTHORS_HF,
        )
        return build_encoder(seed=seed), AUTHORS
    ckpt = load_checkpoint(checkpoint)
    return ckpt.model, ckpt.preprocessing


def load_checkpoint(ref: str | os.PathLike) -> Checkpoint:
    """A :class:`Checkpoint` from a tsmap checkpoint or the authors' weights (path or ``hf://``)."""
    path = resolve(ref)
    if is_safetensors(path):
        if read_metadata(path) is not None:
            return read_checkpoint(path)
        obj = read_tensors(path)
    else:
        obj = _torch_load(path)
    state = unwrap_state_dict(obj, where=path)
    source = {"source": os.fspath(ref), "source_sha256": file_sha256(path)}
    model = _authors_model(state, where=path)
    provenance = {**source, "training_data": AUTHORS_TRAINING_DATA}
    return Checkpoint(model, authors_spec(patch=model.config.patch), AUTHORS_TEXT_MODEL, provenance, weights_sha256(model.state_dict()))


def load_authors_checkpoint(path: str | os.PathLike) -> TimeSenCLIPEncoder:
    """The authors' weights (bare or wrapped state_dict, or an ``hf://`` reference), loaded strictly."""
    path = resolve(path)
    return _authors_model(unwrap_state_dict(_torch_load(path), where=path), where=path)


def convert_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, *, text_model: str | None = None) -> Checkpoint:
    """Write ``src`` (the authors' weights, or any checkpoint) as a tsmap checkpoint at ``dst``.

    The authors' preprocessing spec, text model and provenance (source and its SHA-256) are filled
    in; the result is read back and returned.
    """
    dst = os.fspath(dst)
    if not dst.endswith(SUFFIX):
        raise InputError(f"output {dst!r} must end in {SUFFIX}")
    if not os.path.isdir(os.path.dirname(os.path.abspath(dst))):
        raise InputError(f"output folder of {dst!r} does not exist; create it first")
    ckpt = load_checkpoint(src)
    save_checkpoint(dst, ckpt.model, ckpt.preprocessing, text_model=text_model or ckpt.text_model, provenance=ckpt.provenance)
    return read_checkpoint(dst)


def resolve(ref: str | os.PathLike) -> str:
    """A local file for ``ref``: the path itself, or the cached download of an ``hf://`` reference."""
    ref = os.fspath(ref)
    if ref.startswith(HF_SCHEME):
        return _hf_download(ref)
    if not os.path.isfile(ref):
        raise ModelError(f"checkpoint {ref!r} does not exist; give the path of TimeSenCLIP_1x1.ckpt, a tsmap checkpoint, or {AUTHORS_HF}")
    return ref


def parse_hf(ref: str) -> tuple[str, str, str | None]:
    """``hf://owner/repo[@rev]/path`` -> (repo_id, filename, revision)."""
    parts = ref[len(HF_SCHEME) :].split("/")
    if len(parts) < 3 or not all(parts):
        raise InputError(f"Hugging Face reference {ref!r} must look like hf://OWNER/REPO/FILE (e.g. {AUTHORS_HF})")
    repo, _, revision = parts[1].partition("@")
    return f"{parts[0]}/{repo}", "/".join(parts[2:]), revision or None


def _hf_download(ref: str) -> str:
    repo_id, filename, revision = parse_hf(ref)
    try:
        from huggingface_hub import hf_hub_download

        return hf_hub_download(repo_id, filename, revision=revision)
    except Exception as exc:  # network, auth, missing file: all end the same way for the user
        first = (str(exc).strip().splitlines() or [""])[0]
        raise ModelError(
            f"cannot download {ref} ({type(exc).__name__}: {first}); check the network and the name, "
            "or download the file yourself and pass its local path"
        ) from None


def _torch_load(path: str):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise ModelError(
            f"cannot read checkpoint {path!r} as plain tensors ({type(exc).__name__}: {first}); tsmap never unpickles "
            "objects: save the encoder's state_dict alone (torch.save(ckpt['state_dict'], ...)) or use tsmap convert on it"
        ) from None


def unwrap_state_dict(obj, *, where: str) -> dict:
    """The encoder's own state dict out of a bare or wrapped checkpoint."""
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict):
        raise ModelError(f"checkpoint {where!r} is not a state_dict (got {type(obj).__name__})")
    anchors = [k[: -len(_ANCHOR)] for k in obj if isinstance(k, str) and k.endswith(_ANCHOR)]
    if not anchors:
        raise ModelError(f"checkpoint {where!r} has no '{_ANCHOR}' key; it is not a TimeSenCLIP encoder")
    prefix = anchors[0] if len(anchors) == 1 else next((p for p in AUTHOR_PREFIXES + ("",) if p in anchors), None)
    if prefix is None:
        raise ModelError(f"checkpoint {where!r} holds several encoders (prefixes {sorted(anchors)}); extract one first")
    state = {k[len(prefix) :]: v for k, v in obj.items() if isinstance(k, str) and k.startswith(prefix)}
    if prefix == "":
        state = {k: v for k, v in state.items() if not any(k.startswith(p) for p in AUTHOR_PREFIXES)}
    bad = sorted(k for k, v in state.items() if not isinstance(v, torch.Tensor))
    if bad:
        raise ModelError(f"checkpoint {where!r} has non-tensor entries {bad[:5]} among the encoder's weights")
    return state


def _authors_model(state: dict, *, where: str) -> TimeSenCLIPEncoder:
    """Build the encoder the shapes describe (heads = the authors' 8) and load ``state`` strictly."""
    weight = state[_ANCHOR]
    dim, inputs = weight.shape
    patch = round((inputs / 10) ** 0.5)
    if weight.dim() != 2 or 10 * patch * patch != inputs:
        raise ModelError(f"checkpoint {where!r}: {_ANCHOR} has shape {tuple(weight.shape)}, not (dim, 10*P*P)")
    depth = len({k.split(".")[2] for k in state if k.startswith("transformer.layers.")})
    kwargs = {"dim": int(dim), "patch": patch, "depth": max(depth, 1), "heads": AUTHORS_HEADS}
    for key, name, axis in (("transformer.layers.0.linear1.weight", "mlp_dim", 0), ("time_pos_encoding", "months", 1), ("mlp_head.1.weight", "out_dim", 0)):
        if key in state and state[key].dim() > axis:
            kwargs[name] = int(state[key].shape[axis])
    try:
        model = TimeSenCLIPEncoder(EncoderConfig(**kwargs))
    except ValueError as exc:
        raise ModelError(f"checkpoint {where!r} describes no valid encoder ({exc})") from None
    load_strict(model, state, where=where)
    return model.eval()


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
