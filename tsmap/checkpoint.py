"""Encoder checkpoints, one module: load from any source, save and convert (tsmap's format and the authors').

A checkpoint reference is a local path or ``hf://OWNER/REPO[@REVISION]/PATH/IN/REPO`` (downloaded
once and cached by huggingface_hub). The file is either

* a tsmap checkpoint (safetensors + JSON metadata, see *tsmap's format* below), or
* the authors' published weights: a bare state_dict or a Lightning-style wrapper (``state_dict``
  key; keys prefixed ``learner.ts_encoder.``, ``ts_encoder.``, ``TS_ViT.``), read with
  ``torch.load(weights_only=True)`` (never unpickling arbitrary objects) or from safetensors. The
  token may be named ``time_token`` (their newest code) or ``class_token`` (older). Only the
  published architectures are accepted (P = 1, 5, 9; 12 months; depth 6; width 512; feed-forward
  256; 512-d output) unless the caller passes ``config=``; a single time step takes position row 0,
  as their newest inference code does.

**tsmap's format.** One ``.safetensors`` file that describes itself.

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
import shlex
import struct
from dataclasses import dataclass, field, replace

import torch

from ._files import atomic_path, file_sha256
from ._version import __version__
from .errors import InputError, ModelError, plain_message
from .hub import cached_file, check_reachable
from .model import EncoderConfig, TimeSenCLIPEncoder, build_encoder
from .overwrite import check_outputs, check_writable
from .specs import AUTHORS, Preprocessing, authors_spec
from .text_model import AUTHORS_TEXT_MODEL

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
    if model.config.patch != preprocessing.patch:
        raise ModelError(
            f"model patch {model.config.patch} != preprocessing patch {preprocessing.patch}; give the spec of this "
            "model"
        )
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
        raise ModelError(
            f"checkpoint metadata must be plain JSON ({exc}); pass provenance as str/int/float values"
        ) from None
    from safetensors.torch import save_file

    with atomic_path(path, suffix=SUFFIX) as tmp:
        save_file(state, tmp, metadata={METADATA_KEY: text})
    return digest


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Load a tsmap checkpoint, verifying format, version, metadata and weights hashes and shapes."""
    path = os.fspath(path)
    meta = read_metadata(path)
    if meta is None:
        raise ModelError(
            f"{path!r} is a safetensors file without tsmap metadata; convert the weights with `tsmap convert`"
        )
    _check_metadata_hash(meta, path)
    try:
        config = EncoderConfig.from_dict(meta["model"])
        prep = Preprocessing.from_dict(meta["preprocessing"])
        text_model, digest = str(meta["text_model"]), str(meta["weights_sha256"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(
            f"checkpoint {path!r} has invalid metadata ({type(exc).__name__}: {exc}); re-create it with tsmap"
        ) from None
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
    return Checkpoint(model=model.eval(), preprocessing=prep, text_model=text_model,
                      provenance=dict(meta.get("provenance", {})), weights_sha256=digest)


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
            f"checkpoint {path!r} is corrupt or was modified: metadata hash {actual[:12]} != recorded "
            f"{str(recorded)[:12]} "
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
        raise ModelError(
            f"{path!r} is not a tsmap encoder checkpoint (format "
            f"{meta.get('format') if isinstance(meta, dict) else meta!r})"
        )
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
    shapes = [
        f"{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
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


# --- Loading any source: tsmap files, the authors' weights, hf:// ---

HF_SCHEME = "hf://"
#: The published 1x1 TimeSenCLIP encoder.
AUTHORS_HF = "hf://pallavijainpj/TimeSenCLIP/TimeSenCLIP_1x1.ckpt"
AUTHORS_TRAINING_DATA = "Sen4Map Sentinel-2 L2A 2018 time series + LUCAS 2018 ground photos (TimeSenCLIP authors)"
#: Key prefixes the authors' training wrappers put in front of the encoder's own keys (preferred order).
AUTHOR_PREFIXES = ("learner.ts_encoder.", "ts_encoder.", "TS_ViT.", "model.", "module.")
_ANCHOR = "spectral_embedding.1.weight"
#: The published architectures: P x P patches for these P, every other field as here. The heads (8)
#: cannot be read from the weights' shapes; a single time step takes row 0 (their newest inference).
PUBLISHED_PATCHES = (1, 5, 9)
PUBLISHED = EncoderConfig(annual_position="first")


def load_encoder(
    checkpoint: str | os.PathLike | None, *, seed: int = 0, config: EncoderConfig | None = None
) -> tuple[TimeSenCLIPEncoder, Preprocessing]:
    """The encoder (eval mode) and its preprocessing spec from ``checkpoint``; a seeded random model when None.

    ``config`` is for the authors' files only (they carry none): it loads an architecture other than
    the published ones, or the published one with ``annual_position="mean"``.
    """
    if checkpoint is None:
        log.warning(
            "no --checkpoint given: the satellite encoder has RANDOM weights (seed %d); maps are meaningless. "
            "Pass the TimeSenCLIP checkpoint (TimeSenCLIP_1x1.ckpt or %s) for real results",
            seed,
            AUTHORS_HF,
        )
        return build_encoder(config or EncoderConfig(), seed=seed), AUTHORS
    ckpt = load_checkpoint(checkpoint, config=config)
    return ckpt.model, ckpt.preprocessing


def load_checkpoint(ref: str | os.PathLike, *, config: EncoderConfig | None = None) -> Checkpoint:
    """A :class:`Checkpoint` from a tsmap checkpoint or the authors' weights (path or ``hf://``).

    The authors' files must hold a published architecture unless ``config`` describes them.
    """
    path = resolve(ref)
    if is_safetensors(path):
        if read_metadata(path) is not None:
            return _own_checkpoint(path, config)
        obj = read_tensors(path)
    else:
        _check_torch_file(path)
        obj = _torch_load(path)
    state = unwrap_state_dict(obj, where=path)
    source = {"source": os.fspath(ref), "source_sha256": file_sha256(path)}
    model = _authors_model(state, where=path, config=config)
    provenance = {**source, "training_data": AUTHORS_TRAINING_DATA}
    return Checkpoint(model=model, preprocessing=authors_spec(patch=model.config.patch), text_model=AUTHORS_TEXT_MODEL,
                      provenance=provenance, weights_sha256=weights_sha256(model.state_dict()))


def load_authors_checkpoint(path: str | os.PathLike, *, config: EncoderConfig | None = None) -> TimeSenCLIPEncoder:
    """The authors' weights (bare or wrapped state_dict, or an ``hf://`` reference), loaded strictly."""
    path = resolve(path)
    _check_torch_file(path)
    return _authors_model(unwrap_state_dict(_torch_load(path), where=path), where=path, config=config)


def convert_checkpoint(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    text_model: str | None = None,
    config: EncoderConfig | None = None,
    annual_position: str | None = None,
    overwrite: bool = False,
) -> Checkpoint:
    """Write ``src`` (the authors' weights, or any checkpoint) as a tsmap checkpoint at ``dst``.

    The authors' preprocessing spec, text model and provenance (source and its SHA-256) are filled
    in; the result is read back and returned. ``config`` describes an authors' file of another
    architecture; ``annual_position`` ("first" or "mean") sets how a single time step is placed.
    An existing ``dst`` is replaced only with ``overwrite``, and never when it is ``src``.
    """
    dst = os.fspath(dst)
    if not dst.endswith(SUFFIX):
        raise InputError(f"output {dst!r} must end in {SUFFIX}")
    if not os.path.isdir(os.path.dirname(os.path.abspath(dst))):
        raise InputError(f"output folder of {dst!r} does not exist; create it first")
    if os.path.isdir(dst):
        raise InputError(f"output {dst!r} is a folder; give the checkpoint's file name")
    check_outputs([dst], inputs=[src], overwrite=overwrite)
    check_writable(os.path.dirname(os.path.abspath(dst)))
    ckpt = load_checkpoint(src, config=config)
    if annual_position is not None:
        try:
            ckpt.model.config = replace(ckpt.model.config, annual_position=annual_position)
        except ValueError as exc:
            raise InputError(str(exc)) from None
    save_checkpoint(
        dst, ckpt.model, ckpt.preprocessing, text_model=text_model or ckpt.text_model, provenance=ckpt.provenance
    )
    return read_checkpoint(dst)


def _own_checkpoint(path: str, config: EncoderConfig | None) -> Checkpoint:
    ckpt = read_checkpoint(path)
    if config is not None and config != ckpt.model.config:
        raise InputError(
            f"{path!r} is a tsmap checkpoint with its own model config; config= applies to the authors' files only"
        )
    return ckpt


def resolve(ref: str | os.PathLike) -> str:
    """A local file for ``ref``: the path itself, or the cached download of an ``hf://`` reference."""
    ref = os.fspath(ref)
    if ref.startswith(HF_SCHEME):
        return _hf_download(ref)
    if os.path.isdir(ref):
        raise ModelError(f"checkpoint {ref!r} is a folder; give the checkpoint file in it (e.g. TimeSenCLIP_1x1.ckpt)")
    if not os.path.isfile(ref):
        raise ModelError(
            f"checkpoint {ref!r} does not exist; give the path of TimeSenCLIP_1x1.ckpt, a tsmap checkpoint, or "
            f"{AUTHORS_HF}"
        )
    return ref


#: How the files torch.save writes begin: a zip archive (torch >= 1.6) or a pickle (older torch).
_TORCH_MAGIC = (b"PK\x03\x04", b"\x80")


def _check_torch_file(path: str) -> None:
    """Refuse, with what it looks like, a file that is neither safetensors nor a torch.save file."""
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(_TORCH_MAGIC):
        return
    looks = "an empty file" if not head else "text" if _is_text(head) else "some other binary format"
    raise ModelError(
        f"{path!r} is not a checkpoint (it is {looks}, not safetensors or a torch.save file); "
        f"give TimeSenCLIP_1x1.ckpt, a tsmap .safetensors file, or {AUTHORS_HF}"
    )


def _is_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def parse_hf(ref: str) -> tuple[str, str, str | None]:
    """``hf://owner/repo[@rev]/path`` -> (repo_id, filename, revision)."""
    parts = ref[len(HF_SCHEME) :].split("/")
    if len(parts) < 3 or not all(parts):
        raise InputError(f"Hugging Face reference {ref!r} must look like hf://OWNER/REPO/FILE (e.g. {AUTHORS_HF})")
    repo, _, revision = parts[1].partition("@")
    return f"{parts[0]}/{repo}", "/".join(parts[2:]), revision or None


def _hf_download(ref: str) -> str:
    """The local file of ``hf://`` reference ``ref``: from the cache when there, else downloaded now."""
    repo_id, filename, revision = parse_hf(ref)
    fix = "download the file where there is a network (tsmap download) or pass its local path"
    local = cached_file(repo_id, filename, revision)
    if local is not None:
        return local
    check_reachable(ref, fix=fix)
    try:
        from huggingface_hub import hf_hub_download

        return hf_hub_download(repo_id, filename, revision=revision)
    except Exception as exc:  # network, auth, missing file: all end the same way for the user
        raise ModelError(
            f"cannot download {ref} ({type(exc).__name__}: {plain_message(exc)}); check the network and the name, "
            "or download the file yourself and pass its local path"
        ) from None


def _torch_load(path: str):
    import pickle

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # weights_only refused a Python object: a full (Lightning) checkpoint
        raise ModelError(
            f"checkpoint {path!r} holds pickled Python objects besides plain tensors ({_refused(exc)}), and tsmap "
            "never "
            f"unpickles objects (that runs code from the file). Only if you trust the file, extract its weights once "
            f"and pass the new file: {_extract_command(path)}"
        ) from None
    except Exception as exc:
        raise ModelError(
            f"cannot read checkpoint {path!r} as plain tensors ({type(exc).__name__}: {plain_message(exc)}); "
            "give the encoder's state_dict (torch.save(model.state_dict(), ...)) or a tsmap .safetensors checkpoint"
        ) from None


def _refused(exc: Exception) -> str:
    """What ``weights_only`` refused, e.g. ``Unsupported global: GLOBAL argparse.Namespace``."""
    _, found, rest = plain_message(exc, first_line=False).partition("WeightsUnpickler error:")
    reason = next((line.strip() for line in rest.splitlines() if line.strip()), "") if found else ""
    return reason.split(" was not an allowed global")[0] or plain_message(exc)


def _extract_command(path: str) -> str:
    """A shell command that saves a Lightning checkpoint's state_dict (two Python statements)."""
    out = os.path.splitext(os.path.basename(path))[0] + ".weights.pt"
    code = (
        f'import torch; torch.save(torch.load({json.dumps(path)}, map_location="cpu", '
        'weights_only=False)["state_dict"], '
        f"{json.dumps(out)})"
    )
    return f"python -c {shlex.quote(code)}"


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


def _authors_model(state: dict, *, where: str, config: EncoderConfig | None = None) -> TimeSenCLIPEncoder:
    """The published architecture the shapes describe (or ``config``), with ``state`` loaded strictly."""
    if config is None:
        config = _published_config(state, where=where)
    model = TimeSenCLIPEncoder(config)
    load_strict(model, state, where=where)
    return model.eval()


def _published_config(state: dict, *, where: str) -> EncoderConfig:
    """The published config whose patch the weights' shapes give; ModelError naming every field that differs."""
    weight = state[_ANCHOR]
    dim, inputs = weight.shape if weight.dim() == 2 else (None, None)
    patch = round((inputs / PUBLISHED.bands) ** 0.5) if inputs else 0
    layers = sorted(
        {int(k.split(".")[2]) for k in state if k.startswith("transformer.layers.") and k.split(".")[2].isdigit()}
    )
    found = {"dim": dim, "depth": len(layers), "patch": patch}
    for key, name, axis in (("transformer.layers.0.linear1.weight", "mlp_dim", 0), ("time_pos_encoding", "months", 1),
                            ("mlp_head.1.weight", "out_dim", 0)):
        t = state.get(key)
        found[name] = int(t.shape[axis]) if isinstance(t, torch.Tensor) and t.dim() > axis else None
    differs = [f"{name} {value} (published: {getattr(PUBLISHED, name)})" for name, value in found.items()
               if name != "patch" and value is not None and value != getattr(PUBLISHED, name)]
    if layers != list(range(len(layers))) or found["depth"] != PUBLISHED.depth:
        differs = [d for d in differs if not d.startswith("depth")]
        differs.append(f"transformer layers {layers} (published: 0..{PUBLISHED.depth - 1})")
    if not inputs or PUBLISHED.bands * patch * patch != inputs or patch not in PUBLISHED_PATCHES:
        shape = tuple(weight.shape)
        differs.append(
            f"{_ANCHOR} {shape} (published: (512, 10*P*P) for P in {', '.join(map(str, PUBLISHED_PATCHES))})"
        )
    if differs:
        raise ModelError(
            f"checkpoint {where!r} is not a published TimeSenCLIP architecture: {'; '.join(differs)}. If the file is "
            "meant to be so, pass its architecture: tsmap.load_encoder(path, config=tsmap.EncoderConfig(...))"
        )
    return replace(PUBLISHED, patch=patch)
