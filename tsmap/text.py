"""Text embeddings from an open_clip text tower (default: OpenAI CLIP ViT-B/32 with QuickGELU), cached on disk.

The cache holds one small ``.npy`` per (text model, exact prompt text), so re-running a prompt set,
or another set that shares sentences, costs nothing. Its folder is ``cache_dir`` when given, else
``$TSMAP_CACHE_DIR``, else the user cache folder (``~/.cache/tsmap`` on Linux).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import sys

import numpy as np

from ._files import atomic_path
from .errors import ModelError
from .hub import check_reachable
from .legend import Legend
from .prompts import PromptSet
from .zeroshot import ClassEmbeddings
from .text_model import DEFAULT_MODEL, DEFAULT_PRETRAINED, model_id

log = logging.getLogger("tsmap")
#: ``pretrained`` value that builds a randomly initialised (seeded) tower, for offline use.
RANDOM = "none"
#: Give ``cache_dir=NO_CACHE`` to bypass the disk cache.
NO_CACHE = False
#: Texts per forward pass of the text tower: memory stays bounded however many prompts a set has.
TEXT_BATCH = 256
#: What to do when the text weights cannot be had.
OFFLINE_FIX = (
    "connect to the internet once (the weights are then cached; `tsmap download` fetches them ahead), or download them "
    "elsewhere (e.g. huggingface.co/timm/vit_base_patch32_clip_224.openai, open_clip_pytorch_model.bin) and pass "
    f"--clip-pretrained FILE --clip-model {DEFAULT_MODEL} (or 'none' for a random tower)"
)


def encode_texts(
    texts: list[str],
    *,
    model: str = DEFAULT_MODEL,
    pretrained: str = DEFAULT_PRETRAINED,
    cache_dir: str | os.PathLike | None | bool = None,
) -> np.ndarray:
    """L2-normalised text embeddings (len(texts), dim) as float32, from the disk cache when there.

    ``pretrained`` is an open_clip tag (``"openai"``), a local weights file, or ``"none"`` for a
    seeded random tower (scores are then meaningless; a warning says so). Only texts missing from
    the cache are encoded (and then stored); ``cache_dir=False`` turns the cache off.
    """
    texts = [str(t) for t in texts]
    warn_if_random(model, pretrained)
    cache = None if cache_dir is NO_CACHE else _Cache(cache_dir, _cache_key(model, pretrained))
    found = {t: cache.get(t) for t in dict.fromkeys(texts)} if cache else {}
    missing = [t for t in dict.fromkeys(texts) if found.get(t) is None]
    for start in range(0, len(missing), TEXT_BATCH):  # bounded memory, and the cache keeps each batch done
        batch = missing[start : start + TEXT_BATCH]
        for t, e in zip(batch, _encode(batch, model, pretrained)):
            found[t] = e
            if cache:
                cache.put(t, e)
    if not texts:
        return np.zeros((0, 0), np.float32)
    return np.stack([found[t] for t in texts]).astype(np.float32)


_WARNED: set = set()


def warn_if_random(model: str, pretrained: str) -> None:
    """Warn (once per process and model) that a random text tower makes scores meaningless, whether its
    embeddings are computed now or come from the cache; outputs record it in their ``warnings`` tag."""
    if str(pretrained).lower() == RANDOM and model not in _WARNED:
        _WARNED.add(model)
        log.warning(
            "text tower %s has RANDOM weights (--clip-pretrained none): prompt scores are meaningless; "
            "use the default %r weights or a local weights file for real maps",
            model, DEFAULT_PRETRAINED,
        )


def embed_prompts(
    prompts: PromptSet,
    *,
    model: str = DEFAULT_MODEL,
    pretrained: str = DEFAULT_PRETRAINED,
    cache_dir: str | os.PathLike | None | bool = None,
) -> ClassEmbeddings:
    """The class embeddings of a prompt set, ensembled by its rule, with provenance tags."""
    groups = prompts.texts()
    flat = encode_texts([t for g in groups for t in g], model=model, pretrained=pretrained, cache_dir=cache_dir)
    bounds = np.cumsum([0] + [len(g) for g in groups])
    per_class = [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    return ClassEmbeddings.from_groups(
        per_class,
        rule=prompts.ensembling,
        names=prompts.names,
        tags=provenance(prompts, model=model, pretrained=pretrained),
        colors=Legend.from_prompts(prompts).colors,
    )


def provenance(
    prompts: PromptSet, *, model: str = DEFAULT_MODEL, pretrained: str = DEFAULT_PRETRAINED
) -> dict[str, str]:
    """Tags that let a map be traced to, and rebuilt from, its prompts and text model."""
    return {
        "prompts_name": prompts.name,
        "prompts_sha256": prompts.sha256(),
        "text_model": model_id(model, pretrained),
        "classes": json.dumps(prompts.names, ensure_ascii=False),
        "prompts": prompts.to_json(),
    }


def default_cache_dir() -> str:
    """``$TSMAP_CACHE_DIR``, else the platform's user cache folder + ``tsmap``."""
    if os.environ.get("TSMAP_CACHE_DIR"):
        return os.environ["TSMAP_CACHE_DIR"]
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~/AppData/Local")
    elif sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "tsmap")


def cached_weights(model: str, pretrained: str) -> str | None:
    """The local file of open_clip weights ``pretrained`` for ``model`` when the Hugging Face cache already has
    them (what ``tsmap download`` fetched), else None. Looked up without any network access."""
    import open_clip
    from huggingface_hub import try_to_load_from_cache

    hub = (open_clip.get_pretrained_cfg(model, pretrained) or {}).get("hf_hub", "")
    if not hub:
        return None
    repo, filename = os.path.split(hub.rstrip("/") + ("/open_clip_pytorch_model.bin" if hub.endswith("/") else ""))
    for name in ("open_clip_model.safetensors", filename):
        found = try_to_load_from_cache(repo, name)
        if isinstance(found, str) and os.path.isfile(found):
            return found
    return None


def _weights_source(model: str, pretrained: str) -> dict:
    """``create_model`` arguments: a local file first (path given, or weights already cached), so a run
    that has what it needs never touches the network; else the tag, which open_clip downloads."""
    import open_clip

    local = None if os.path.isfile(str(pretrained)) else cached_weights(model, pretrained)
    if local is None:
        if open_clip.get_pretrained_cfg(model, pretrained):  # a tag: open_clip downloads it now
            check_reachable(f"the {model}/{pretrained} text weights", fix=OFFLINE_FIX)
        return {"pretrained": pretrained}
    quick_gelu = bool((open_clip.get_pretrained_cfg(model, pretrained) or {}).get("quick_gelu", False))
    return {"pretrained": local, "force_quick_gelu": quick_gelu}


def prefetch(model: str = DEFAULT_MODEL, pretrained: str = DEFAULT_PRETRAINED) -> str:
    """Download open_clip weights now (into open_clip's / Hugging Face's cache) for offline runs; returns the file.

    A local weights file is returned as is, and nothing is fetched for it."""
    import open_clip

    if os.path.isfile(str(pretrained)):
        return os.path.abspath(pretrained)
    cfg = open_clip.get_pretrained_cfg(model, pretrained)
    if not cfg:
        raise ModelError(f"open_clip has no weights {pretrained!r} for {model}; see open_clip.list_pretrained()")
    check_reachable(f"the {model}/{pretrained} text weights", fix="connect to the internet, or pass a local weights "
                    "file with --clip-pretrained FILE")
    try:
        return open_clip.download_pretrained(cfg)
    except Exception as exc:
        raise ModelError(
            f"cannot download the {model}/{pretrained} weights ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:200]}); "
            "check the network (HF_HUB_OFFLINE=1 forbids downloads), or pass a local weights file with "
            "--clip-pretrained FILE"
        ) from None


def _cache_key(model: str, pretrained: str) -> str:
    """Model id, plus size and mtime for a local weights file (a changed file is a new model)."""
    key = model_id(model, pretrained)
    if os.path.isfile(str(pretrained)):
        st = os.stat(pretrained)
        key += f"@{os.path.abspath(pretrained)}:{st.st_size}:{st.st_mtime_ns}"
    return key


class _Cache:
    """One ``.npy`` per text under ``<root>/text-embeddings/<model>/``; writes are atomic."""

    def __init__(self, root, key: str) -> None:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", key.split("@")[0])[:80]
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        self.dir = os.path.join(os.fspath(root or default_cache_dir()), "text-embeddings", f"{slug}-{digest}")

    def _path(self, text: str) -> str:
        h = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return os.path.join(self.dir, h[:2], f"{h}.npy")

    def get(self, text: str) -> np.ndarray | None:
        path = self._path(text)
        if not os.path.exists(path):
            return None
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable text-embedding cache file %s (%s)", path, exc)
            return None

    def put(self, text: str, emb: np.ndarray) -> None:
        path = self._path(text)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.save(f, np.asarray(emb, np.float32), allow_pickle=False)
        except OSError as exc:
            log.warning("cannot write the text-embedding cache in %s (%s); continuing without it", self.dir, exc)


def _encode(texts: list[str], model: str, pretrained: str) -> np.ndarray:
    import torch

    clip, tokenizer = _load(model, pretrained, _cache_key(model, pretrained))
    with torch.inference_mode():
        emb = clip.encode_text(tokenizer(list(texts)), normalize=True)
    return emb.float().numpy()


@functools.lru_cache(maxsize=2)
def _load(model: str, pretrained: str, key: str):
    """The open_clip model and tokenizer; ``key`` changes when a local weights file does."""
    import open_clip
    import torch

    if model not in open_clip.list_models():
        raise ModelError(f"unknown open_clip model {model!r}; see open_clip.list_models() (default {DEFAULT_MODEL})")
    if str(pretrained).lower() == RANDOM:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            clip = open_clip.create_model(model, pretrained=None)
    else:
        source = _weights_source(model, pretrained)  # no network: fails here, at once
        try:
            with _open_clip_errors_silenced():  # our ModelError below says it in one line
                clip = open_clip.create_model(model, **source)
        except Exception as exc:
            raise ModelError(
                f"cannot load open_clip weights {pretrained!r} for {model} "
                f"({type(exc).__name__}: {' '.join(str(exc).split())[:300]}); {OFFLINE_FIX}"
            ) from exc
    return clip.eval(), open_clip.get_tokenizer(model)


class _open_clip_errors_silenced(logging.Filter):
    """open_clip logs an ERROR on the root logger before it raises; the caller reports the failure itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno >= logging.ERROR and "open_clip" in record.pathname)

    def __enter__(self):
        logging.getLogger().addFilter(self)
        return self

    def __exit__(self, *exc):
        logging.getLogger().removeFilter(self)
