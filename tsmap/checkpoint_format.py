"""tsmap's own checkpoint format: one ``.safetensors`` file that describes itself.

The weights are stored as safetensors (no pickle anywhere); the safetensors header metadata holds
one JSON document under the key ``"tsmap"``::

    {"format": "tsmap-encoder", "format_version": 2,
     "model": {EncoderConfig fields},
     "preprocessing": {Preprocessing fields: bands, harmonise_offset, composite {rule, periods,
                       keep_snow}, lo, hi, patch},
     "text_model": "open_clip:ViT-B-32-quickgelu/openai",
     "provenance": {"tsmap_version": ..., "training_data": ..., "step": ..., "source": ..., ...},
     "weights_sha256": "<sha256 of the tensors, see weights_sha256()>",
     "sha256": "<sha256 of this document without this field, see metadata_sha256()>"}

``sha256`` covers everything else in the document, ``weights_sha256`` included, so an edited
config, preprocessing spec, text model or provenance is refused just like edited weights. Version 1
files (no ``sha256``: only their weights are covered) are still read, with a warning that says how
to re-save them.

Reading checks the format tag, the version, both hashes and a strict key/shape match, and fails
with a :class:`~tsmap.errors.ModelError` naming what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import tempfile
from dataclasses import dataclass, field

import torch

from .errors import ModelError
from .model import EncoderConfig, TimeSenCLIPEncoder
from .specs import Preprocessing

log = logging.getLogger("tsmap")

FORMAT = "tsmap-encoder"
FORMAT_VERSION = 2
#: Versions this tsmap reads: 1 (hash over the weights only) and 2 (hash over the metadata too).
READABLE_VERSIONS = (1, 2)
#: The prepended token's state-dict key: tsmap's model and the authors' older code call it
#: ``class_token``, their two newest versions ``time_token``. Files may use either name.
TOKEN_KEY, TOKEN_ALIASES = "class_token", ("class_token", "time_token")
METADATA_KEY = "tsmap"
SUFFIX = ".safetensors"


@dataclass(frozen=True)
class Checkpoint:
    """A loaded tsmap checkpoint: the model (eval mode) and everything needed to use it."""

    model: TimeSenCLIPEncoder
    preprocessing: Preprocessing
    text_model: str  #: the text tower the embedding space is aligned to
    provenance: dict = field(default_factory=dict)
    weights_sha256: str = ""


def save_checkpoint(
    path: str | os.PathLike,
    model: TimeSenCLIPEncoder,
    preprocessing: Preprocessing,
    *,
    text_model: str,
    provenance: dict | None = None,
) -> str:
    """Write ``model`` with its spec to ``path`` (atomically) and return the weights hash.

    ``provenance`` is any JSON-serialisable dict (training data, step, source checkpoint, ...);
    the tsmap version is added.
    """
    from . import __version__

    if model.config.patch != preprocessing.patch:
        raise ModelError(f"model patch {model.config.patch} != preprocessing patch {preprocessing.patch}; give the spec of this model")
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    digest = weights_sha256(state)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model.config.to_dict(),
        "preprocessing": preprocessing.to_dict(),
        "text_model": str(text_model),
        "provenance": {**(provenance or {}), "tsmap_version": __version__},
        "weights_sha256": digest,
    }
    try:
        meta["sha256"] = metadata_sha256(meta)
        text = json.dumps(meta, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"checkpoint metadata must be plain JSON ({exc}); pass provenance as str/int/float values") from None
    from safetensors.torch import save_file

    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tsmap-", suffix=SUFFIX, dir=folder)
    os.close(fd)
    try:
        save_file(state, tmp, metadata={METADATA_KEY: text})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return digest


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Load a tsmap checkpoint, verifying format, version, metadata and weights hashes and shapes."""
    path = os.fspath(path)
    meta = read_metadata(path)
    if meta is None:
        raise ModelError(f"{path!r} is a safetensors file without tsmap metadata; convert the weights with `tsmap convert`")
    _check_metadata_hash(meta, path)
    try:
        config = EncoderConfig.from_dict(meta["model"])
        prep = Preprocessing.from_dict(meta["preprocessing"])
        text_model, digest = str(meta["text_model"]), str(meta["weights_sha256"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"checkpoint {path!r} has invalid metadata ({type(exc).__name__}: {exc}); re-create it with tsmap") from None
    if config.patch != prep.patch:
        raise ModelError(f"checkpoint {path!r}: model patch {config.patch} != preprocessing patch {prep.patch}")
    state = read_tensors(path)
    actual = weights_sha256(state)
    if actual != digest:
        raise ModelError(
            f"checkpoint {path!r} is corrupt or was modified: weights hash {actual[:12]} != recorded {digest[:12]}; "
            "re-download or re-convert it"
        )
    model = TimeSenCLIPEncoder(config)
    load_strict(model, state, where=path)
    return Checkpoint(model.eval(), prep, text_model, dict(meta.get("provenance", {})), digest)


def metadata_sha256(meta: dict) -> str:
    """SHA-256 of the checkpoint's JSON document without its ``sha256`` field (canonical JSON: sorted
    keys, no whitespace), so it covers the config, preprocessing, text model, provenance and the
    weights hash, but not the file's formatting."""
    body = {k: v for k, v in meta.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()).hexdigest()


def _check_metadata_hash(meta: dict, path: str) -> None:
    if meta["format_version"] == 1:
        log.warning(
            "checkpoint %r was written by an older tsmap (format 1): its hash covers the weights only, so an edited "
            "config or preprocessing spec would go unnoticed; re-save it with `tsmap convert %s NEW.safetensors`",
            path,
            path,
        )
        return
    recorded = meta.get("sha256")
    try:
        actual = metadata_sha256(meta)
    except ValueError as exc:  # NaN or infinity in the document: never written by tsmap
        raise ModelError(f"checkpoint {path!r} has invalid metadata ({exc}); re-create it with tsmap") from None
    if recorded != actual:
        raise ModelError(
            f"checkpoint {path!r} is corrupt or was modified: metadata hash {actual[:12]} != recorded {str(recorded)[:12]} "
            "(its config, preprocessing spec, text model or provenance changed); re-download or re-convert it"
        )


def read_metadata(path: str | os.PathLike) -> dict | None:
    """The tsmap JSON of a safetensors file, None when it has none; ModelError when not safetensors."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > 100_000_000:
                raise ValueError("header too large")
            header = json.loads(f.read(n))
        text = (header.get("__metadata__") or {}).get(METADATA_KEY)
        meta = None if text is None else json.loads(text)
    except (OSError, ValueError, struct.error, AttributeError) as exc:
        raise ModelError(f"{path!r} is not a readable safetensors file ({type(exc).__name__}: {exc})") from None
    if meta is None:
        return None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(f"{path!r} is not a tsmap encoder checkpoint (format {meta.get('format') if isinstance(meta, dict) else meta!r})")
    if meta.get("format_version") not in READABLE_VERSIONS:
        raise ModelError(
            f"{path!r} has checkpoint format version {meta.get('format_version')!r}; this tsmap reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}: upgrade tsmap"
        )
    return meta


def is_safetensors(path: str | os.PathLike) -> bool:
    """True when the file starts like safetensors (8-byte header length, then a JSON object)."""
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] < 100_000_000


def weights_sha256(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the tensors in key order: name, dtype, shape and raw bytes of each."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def canonical_token(state: dict, *, where: str) -> dict:
    """``state`` with the prepended token under tsmap's key: exactly one of ``class_token`` and
    ``time_token`` must be present (the same tensor under the older and the newer name)."""
    found = [k for k in TOKEN_ALIASES if k in state]
    if len(found) != 1:
        raise ModelError(
            f"checkpoint {where!r} must hold exactly one of the token keys {' or '.join(map(repr, TOKEN_ALIASES))} "
            f"(the authors' older and newer name), found {'both' if found else 'neither'}"
        )
    return {(TOKEN_KEY if k == found[0] else k): v for k, v in state.items()}


def load_strict(model: torch.nn.Module, state: dict, *, where: str) -> None:
    """Load ``state`` into ``model``; on any key or shape mismatch, one clear error listing them.

    The token may be named ``class_token`` or ``time_token`` (see :func:`canonical_token`).
    """
    state = canonical_token(state, where=where)
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


def read_tensors(path: str) -> dict[str, torch.Tensor]:
    """All tensors of a safetensors file, on the CPU."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"cannot read the weights of {path!r} ({exc}); the file is truncated or corrupt") from None
