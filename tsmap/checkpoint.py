"""Load encoder weights: the authors' published checkpoint (bare or Lightning-wrapped state_dict)."""

from __future__ import annotations

import logging
import os

import torch

from .errors import ModelError
from .model import EncoderConfig, TimeSenCLIPEncoder, build_encoder
from .preprocess import AUTHORS, Preprocessing

log = logging.getLogger("tsmap")

#: Key prefixes the authors' training wrappers put in front of the encoder's own keys.
AUTHOR_PREFIXES = ("learner.ts_encoder.", "ts_encoder.", "TS_ViT.", "model.", "module.")


def load_encoder(checkpoint: str | os.PathLike | None, *, seed: int = 0) -> tuple[TimeSenCLIPEncoder, Preprocessing]:
    """The encoder and its preprocessing spec from ``checkpoint``; a seeded random model when None."""
    if checkpoint is None:
        log.warning(
            "no --checkpoint given: the satellite encoder has RANDOM weights (seed %d); maps are meaningless. "
            "Pass the TimeSenCLIP checkpoint (TimeSenCLIP_1x1.ckpt) for real results",
            seed,
        )
        return build_encoder(seed=seed), AUTHORS
    return load_authors_checkpoint(checkpoint), AUTHORS


def load_authors_checkpoint(path: str | os.PathLike) -> TimeSenCLIPEncoder:
    """Load the authors' weights strictly (never unpickling arbitrary objects)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelError(f"checkpoint {path!r} does not exist; give the path of TimeSenCLIP_1x1.ckpt or a tsmap checkpoint")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"cannot read checkpoint {path!r} as plain tensors ({type(exc).__name__}: {exc})") from None
    state = unwrap_state_dict(obj, where=path)
    weight = state.get("spectral_embedding.1.weight")
    if weight is None:
        raise ModelError(f"checkpoint {path!r} has no 'spectral_embedding.1.weight'; it is not a TimeSenCLIP encoder")
    patch = round((weight.shape[1] / 10) ** 0.5)
    model = TimeSenCLIPEncoder(EncoderConfig(patch=patch, dim=weight.shape[0]))
    load_strict(model, state, where=path)
    return model.eval()


def unwrap_state_dict(obj, *, where: str) -> dict:
    """The encoder's own state dict out of a bare or wrapped checkpoint."""
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelError(f"checkpoint {where!r} is not a state_dict of tensors")
    for prefix in AUTHOR_PREFIXES:
        if any(k.startswith(prefix) for k in obj):
            obj = {k[len(prefix) :]: v for k, v in obj.items() if k.startswith(prefix)}
            break
    return obj


def load_strict(model: torch.nn.Module, state: dict, *, where: str) -> None:
    """Load ``state`` into ``model``; on any key or shape mismatch, one clear error listing them."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}" for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:8]}{' ...' if len(missing) > 8 else ''}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}")
        if shapes:
            parts.append(f"shape mismatches {shapes[:8]}")
        raise ModelError(f"checkpoint {where!r} does not fit the encoder: {'; '.join(parts)}")
    model.load_state_dict(state, strict=True)
