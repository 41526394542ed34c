"""Scenicness maps from rated landscape prompts (Levering, Marcos, Jacobs & Tuia 2024, PLOS One).

Each prompt (``"a misty mountain lake"``) carries a rating on the 1-10 ScenicOrNot scale. A pixel's
scenicness is the rating average weighted by ``softmax(logit_scale * cos(pixel, prompt))``:

- early ensembling: one softmax over all prompts;
- late ensembling: one softmax per rater over that rater's prompts, then the mean over raters who
  wrote at least ``min_prompts`` prompts (the paper's k = 2, 5, 8, 10).

Both are convex combinations of ratings, so the map lies on the 1-10 scale. Prompts come from a
YAML file, the bundled *illustrative* set, or the Levering et al. rated-prompt CSV (columns
``user_index``, ``values_in_order``, ``prompts_in_order``), which is the set to use for research.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass
from importlib import resources

import numpy as np
import xarray as xr

from .georef import keep_crs
from .dims import EMBED
from .errors import InputError
from .prompts import SCENIC_SUFFIX, check_length, read_document
from .zeroshot import LOGIT_SCALE, l2_normalise
from .text import encode_texts
from .text_model import DEFAULT_MODEL, DEFAULT_PRETRAINED, model_id
from .userfiles import read_text

METHODS = ("early", "late")
#: The minimum prompt counts per rater evaluated by Levering et al. and TimeSenCLIP.
PAPER_MIN_PROMPTS = (2, 5, 8, 10)
_CSV_COLUMNS = ("user_index", "values_in_order", "prompts_in_order")
#: Most rated prompts in one set: scoring holds a (pixels x prompts) matrix per tile (256² x 1,000 float32 = 262 MB).
MAX_SCENIC_PROMPTS = 1_000


@dataclass(frozen=True)
class ScenicPrompts:
    """Landscape descriptions, the 1-10 rating of each, and who rated it."""

    name: str
    texts: tuple[str, ...]
    values: tuple[float, ...]
    raters: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.texts:
            raise InputError(f"scenic prompts {self.name!r} are empty; give at least one rated prompt")
        if len(self.texts) > MAX_SCENIC_PROMPTS:
            raise InputError(
                f"scenic prompts {self.name!r}: {len(self.texts):,} prompts; at most {MAX_SCENIC_PROMPTS:,} per set "
                "(each pixel is scored against every prompt)"
            )
        if not len(self.texts) == len(self.values) == len(self.raters):
            raise InputError(
                f"scenic prompts {self.name!r}: {len(self.texts)} texts, {len(self.values)} values, "
                f"{len(self.raters)} raters"
            )
        for t, v in zip(self.texts, self.values):
            if not 1 <= v <= 10:
                raise InputError(
                    f"scenic prompts {self.name!r}: prompt {t!r} has value {v}; ratings lie on the 1-10 scale"
                )

    def rater_counts(self) -> dict[str, int]:
        """Number of prompts per rater, in order of first appearance."""
        counts: dict[str, int] = {}
        for r in self.raters:
            counts[r] = counts.get(r, 0) + 1
        return counts

    def to_json(self) -> str:
        """The prompts as compact JSON ``[{text, value, rater}, ...]`` (recorded with every map)."""
        doc = [{"text": t, "value": v, "rater": r} for t, v, r in zip(self.texts, self.values, self.raters)]
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)

    def sha256(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()


def bundled_scenic() -> list[str]:
    """Names of the scenicness sets shipped with tsmap (``illustrative``)."""
    files = resources.files("tsmap.prompt_sets").iterdir()
    return sorted(p.name[: -len(SCENIC_SUFFIX)] for p in files if p.name.endswith(SCENIC_SUFFIX))


def load_scenic(source: str | os.PathLike = "illustrative") -> ScenicPrompts:
    """Rated prompts from a Levering-style CSV, a YAML file, or a bundled set by name."""
    source = str(source)
    if source.lower().endswith(".csv"):
        return read_rated_csv(source)
    doc, name = read_document(source, kind="scenic prompts", names=bundled_scenic(), suffix=SCENIC_SUFFIX)
    return parse_scenic(doc, name=name, where=source)


def read_rated_csv(path: str | os.PathLike) -> ScenicPrompts:
    """Read the Levering et al. rated-prompt CSV (one row per prompt: rater, rating, text)."""
    path = os.fspath(path)
    content = read_text(path, kind="scenic prompts CSV")
    try:
        texts, values, raters = _rated_rows(csv.DictReader(io.StringIO(content, newline="")), path)
    except csv.Error as exc:
        raise InputError(f"{path}: not a readable CSV ({exc}); a rated-prompt CSV has columns "
                         f"{', '.join(_CSV_COLUMNS)}") from None
    return ScenicPrompts(os.path.splitext(os.path.basename(path))[0], tuple(texts), tuple(values), tuple(raters))


def _rated_rows(reader: csv.DictReader, path: str) -> tuple[list, list, list]:
    missing = [c for c in _CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(f"{path}: missing column {missing[0]!r}; a rated-prompt CSV has columns "
                         f"{', '.join(_CSV_COLUMNS)}")
    texts, values, raters = [], [], []
    for line, row in enumerate(reader, start=2):
        text, rater = (row["prompts_in_order"] or "").strip(), (row["user_index"] or "").strip()
        if not text or not rater:
            raise InputError(f"{path}: line {line} has an empty prompts_in_order or user_index")
        check_length(text, f"{path}: line {line}")
        texts.append(text)
        values.append(_rating(row["values_in_order"], f"{path}: line {line} values_in_order"))
        raters.append(rater)
    return texts, values, raters


def parse_scenic(doc, *, name: str = "scenic", where: str = "scenic") -> ScenicPrompts:
    """Validate ``{name, prompts: [{text, value, rater?}, ...]}`` into :class:`ScenicPrompts`."""
    if not isinstance(doc, dict) or not isinstance(doc.get("prompts"), list) or not doc["prompts"]:
        raise InputError(f"{where}: needs a non-empty list 'prompts:' of {{text: ..., value: 1-10}}")
    extra = sorted(set(doc) - {"name", "description", "prompts"})
    if extra:
        raise InputError(f"{where}: unknown field {extra[0]!r}; allowed fields are description, name, prompts")
    texts, values, raters = [], [], []
    for i, entry in enumerate(doc["prompts"], start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("text"), str) or not entry["text"].strip():
            raise InputError(f"{where}: prompt #{i} needs a non-empty 'text'")
        bad = sorted(set(entry) - {"text", "value", "rater"})
        if bad:
            raise InputError(
                f"{where}: prompt #{i} has unknown field {bad[0]!r}; allowed fields are rater, text, value"
            )
        check_length(entry["text"], f"{where}: prompt #{i}")
        texts.append(entry["text"].strip())
        values.append(_rating(entry.get("value"), f"{where}: prompt #{i} ({entry['text'].strip()!r}) 'value'"))
        raters.append(str(entry.get("rater", "1")))
    return ScenicPrompts(str(doc.get("name", name)), tuple(texts), tuple(values), tuple(raters))


def scenicness(
    embedding: xr.DataArray,
    prompts: ScenicPrompts,
    *,
    method: str = "early",
    min_prompts: int = 2,
    text_embeddings: np.ndarray | None = None,
    clip_model: str = DEFAULT_MODEL,
    clip_pretrained: str = DEFAULT_PRETRAINED,
    cache_dir=None,
    logit_scale: float = LOGIT_SCALE,
) -> xr.DataArray:
    """Scenicness (y, x) float32 on the 1-10 scale of an (embed, y, x) cube, lazily; NaN where no data.

    ``text_embeddings`` (P, D) are the prompts' embeddings in order; when omitted they are encoded
    with the open_clip ``clip_model``/``clip_pretrained`` (cached). ``min_prompts`` applies to ``method="late"``.
    """
    weights = _weights(prompts, method, min_prompts)
    text_model = "given" if text_embeddings is not None else model_id(clip_model, clip_pretrained)
    if text_embeddings is None:
        text_embeddings = encode_texts(
            list(prompts.texts), model=clip_model, pretrained=clip_pretrained, cache_dir=cache_dir
        )
    vectors = l2_normalise(text_embeddings)
    if vectors.shape[0] != len(prompts.texts):
        raise InputError(
            f"{vectors.shape[0]} text embeddings for {len(prompts.texts)} scenic prompts; give one per prompt"
        )
    if EMBED not in embedding.dims or embedding.sizes[EMBED] != vectors.shape[1]:
        raise InputError(
            f"pixel embeddings need an {EMBED!r} dimension of {vectors.shape[1]} (the text embedding size)"
        )
    out = xr.apply_ufunc(
        lambda e: scenic_block(e, vectors, weights, logit_scale=logit_scale),
        embedding,
        input_core_dims=[[EMBED]],
        dask="parallelized",
        output_dtypes=[np.float32],
    )
    out.attrs.update(
        scenic_prompts=prompts.name, scenic_sha256=prompts.sha256(), prompts=prompts.to_json(),
        scenic_method=_describe(method, min_prompts, weights),
        logit_scale=float(logit_scale), text_model=text_model, long_name="scenicness", units="1-10 rating",
        valid_range=[1.0, 10.0],
    )
    return keep_crs(out.rename("scenicness"), embedding)


def method_description(prompts: ScenicPrompts, *, method: str = "early", min_prompts: int = 2) -> str:
    """How the ratings of ``prompts`` combine, as a map records it; :class:`InputError` for a bad method or count."""
    return _describe(method, min_prompts, _weights(prompts, method, min_prompts))


@dataclass(frozen=True, eq=False)
class _Weights:
    """Prompts (indices, grouped by rater) that take part, and each rater group's start."""

    order: np.ndarray  # prompt indices, grouped
    starts: np.ndarray  # start of each group within ``order``
    values: np.ndarray  # ratings in ``order``


def scenic_block(
    emb: np.ndarray, vectors: np.ndarray, weights: _Weights, *, logit_scale: float = LOGIT_SCALE
) -> np.ndarray:
    """Per-chunk scenicness of numpy embeddings (..., D) -> (...) float32."""
    logits = np.float32(logit_scale) * (np.asarray(emb, np.float32) @ vectors[weights.order].T)
    counts = np.diff(np.append(weights.starts, len(weights.order)))
    peak = np.repeat(np.maximum.reduceat(logits, weights.starts, axis=-1), counts, axis=-1)
    e = np.exp(logits - peak)
    per_rater = np.add.reduceat(e * weights.values, weights.starts, axis=-1) / np.add.reduceat(
        e, weights.starts, axis=-1
    )
    return per_rater.mean(-1).astype(np.float32)


def _weights(prompts: ScenicPrompts, method: str, min_prompts: int) -> _Weights:
    values = np.asarray(prompts.values, np.float32)
    if method == "early":
        return _Weights(np.arange(len(values)), np.array([0]), values)
    if method != "late":
        raise InputError(f"scenic method must be one of {', '.join(METHODS)}, got {method!r}")
    if isinstance(min_prompts, bool) or not isinstance(min_prompts, (int, np.integer)) or min_prompts < 1:
        raise InputError(
            f"min_prompts must be a positive integer (the paper uses {PAPER_MIN_PROMPTS}), got {min_prompts!r}"
        )
    counts = prompts.rater_counts()
    kept = [r for r, n in counts.items() if n >= min_prompts]
    if not kept:
        raise InputError(
            f"no rater of {prompts.name!r} has >= {min_prompts} prompts (most: {max(counts.values())}); lower "
            "min_prompts"
        )
    raters = np.asarray(prompts.raters)
    groups = [np.flatnonzero(raters == r) for r in kept]
    order = np.concatenate(groups)
    return _Weights(order, np.cumsum([0] + [len(g) for g in groups[:-1]]), values[order])


def _describe(method: str, min_prompts: int, weights: _Weights) -> str:
    if method == "early":
        return "early"
    return f"late (mean over {len(weights.starts)} raters with >= {min_prompts} prompts)"


def _rating(value, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a rating from 1 to 10, got {value!r}") from None
    if not 1 <= v <= 10:
        raise InputError(f"{what} must be a rating from 1 to 10, got {value!r}")
    return v
