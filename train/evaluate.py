"""``tsmap eval``: zero-shot top-1, class-consistent retrieval and scenicness on a training store.

For every task with labels (lc, lu, crop, eunis, bioregion), prompt kind and temporal input
(monthly = 12 steps; quarterly = median of normalised months 0-2, 3-5, 6-8, 9-11; single = median of
all 12, as the authors test; medians are torch's, the lower middle value, as theirs), it reports
zero-shot top-1 (and the authors' "normalised" top-1), Recall@1 satellite-to-ground and
ground-to-satellite (a hit when the nearest item has the query's class), and, when scenicness scores
are given, Pearson R and Kendall tau of early and late prompt ensembles and the paper's "average".

Prompt kinds: ``class-name`` (the name alone), ``template`` (the paper's single template "a centered
satellite image of {class}"), ``descriptive`` (a prompt set per task) and, opt-in, tsmap's
``template-ensemble`` (the paper's template plus the authors' generic photo/image templates, averaged).
"""

from __future__ import annotations

import csv
import json
import os
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from tsmap.errors import InputError
from tsmap.specs import Preprocessing
from tsmap.prompts import PromptClass, PromptSet, bundled, load_prompts
from tsmap.text_model import DEFAULT_MODEL, DEFAULT_PRETRAINED

from . import metrics
from .classes import TASKS, _norm
from .store import Samples, read_store
from .trainer import prepare_inputs

PROMPT_KINDS = ("class-name", "template", "descriptive", "template-ensemble")
#: The kinds the paper reports (the default).
PAPER_PROMPT_KINDS = PROMPT_KINDS[:3]
TEMPORAL = ("monthly", "quarterly", "single")
#: The paper's template result uses this single template.
PAPER_TEMPLATE = "a centered satellite image of {}"
#: Templates of tsmap's "template-ensemble" kind: the paper's template and the authors' Generic set.
TEMPLATES = (PAPER_TEMPLATE, "a photo of  {}.", "a photo of a {}.", "a photo of an {}.",
             "an image of  {}.", "an image of a {}.", "an image of an {}.")
#: The scenicness ensembles the paper's "average" is the mean of (Table 4: Early, k = 2, 5, 8, 10).
SCENIC_AVERAGE_OF = ("early", "late-k2", "late-k5", "late-k8", "late-k10")
#: Bundled prompt sets tried for the "descriptive" kind when none is given for a task.
DEFAULT_PROMPT_SETS = {
    "lc": "land-cover",
    "lu": "land-use",
    "crop": "crops",
    "eunis": "eunis",
    "bioregion": "bioregions",
}


@dataclass(frozen=True)
class EvalSpec:
    """What to evaluate."""

    tasks: tuple[str, ...] = ("lc", "lu", "crop", "eunis", "bioregion")
    prompt_kinds: tuple[str, ...] = PAPER_PROMPT_KINDS
    temporal: tuple[str, ...] = TEMPORAL
    split: str | None = "test"
    retrieval: bool = True
    retrieval_tasks: tuple[str, ...] = ("lc", "lu", "crop", "eunis", "bioregion", "country")
    prompt_sets: dict = field(default_factory=dict)  #: task -> prompt-set file or bundled name (descriptive)
    template: str = PAPER_TEMPLATE  #: the "template" kind's one template
    templates: tuple[str, ...] = TEMPLATES  #: the "template-ensemble" kind's templates
    clip_model: str = DEFAULT_MODEL
    clip_pretrained: str = DEFAULT_PRETRAINED
    batch_size: int = 4096

    def __post_init__(self) -> None:
        for name, allowed, values in (("task", TASKS, self.tasks), ("prompt kind", PROMPT_KINDS, self.prompt_kinds),
                                      ("temporal mode", TEMPORAL, self.temporal),
                                      ("retrieval task", TASKS, self.retrieval_tasks)):
            bad = [v for v in values if v not in allowed]
            if bad:
                raise InputError(f"unknown {name} {bad}; choose from {', '.join(allowed)}")


@dataclass(frozen=True)
class EvalRow:
    task: str
    metric: str  #: top1, top1_normalised, recall@1_s2g, recall@1_g2s, pearson_r, kendall_tau
    prompts: str  #: prompt kind, "-" for retrieval, ensemble name for scenicness
    temporal: str
    value: float
    n: int


@dataclass(frozen=True)
class EvalReport:
    rows: list[EvalRow]
    notes: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def value(self, task: str, metric: str, prompts: str, temporal: str) -> float:
        for r in self.rows:
            if (r.task, r.metric, r.prompts, r.temporal) == (task, metric, prompts, temporal):
                return r.value
        raise KeyError((task, metric, prompts, temporal))

    def to_json(self) -> str:
        return json.dumps({"meta": self.meta, "notes": self.notes, "rows": [asdict(r) for r in self.rows]}, indent=1)

    def table(self) -> str:
        """A text table: one line per (task, metric, prompts), one column per temporal mode."""
        modes = [m for m in TEMPORAL if any(r.temporal == m for r in self.rows)]
        keys = list(dict.fromkeys((r.task, r.metric, r.prompts) for r in self.rows))
        cells = {(r.task, r.metric, r.prompts, r.temporal): r for r in self.rows}
        head = f"{'task':<10} {'metric':<16} {'prompts':<12} " + " ".join(f"{m:>9}" for m in modes) + "      n"
        lines = [head, "-" * len(head)]
        for k in keys:
            vals = [cells.get(k + (m,)) for m in modes]
            n = next((v.n for v in vals if v is not None), 0)
            lines.append(f"{k[0]:<10} {k[1]:<16} {k[2]:<12} " + " ".join(
                f"{v.value:9.4f}" if v is not None else f"{'':>9}" for v in vals) + f" {n:6d}")
        return "\n".join(lines + [f"note: {n}" for n in self.notes])


def evaluate(
    *, store: str | None = None, samples: Samples | None = None, checkpoint: str | None = None,
    model: torch.nn.Module | None = None, preprocessing: Preprocessing | None = None, spec: EvalSpec = EvalSpec(),
    scenic_scores: str | None = None, scenic_prompts: str | None = None, device: str | None = None,
) -> EvalReport:
    """Evaluate a checkpoint (or ``model``) on a store's split (or on ``samples``)."""
    if model is None:
        from .export import load_model

        model, ckpt_prep = load_model(checkpoint)
        preprocessing = preprocessing or ckpt_prep
    if samples is None:
        if store is None:
            raise InputError("give a training store (--store) to evaluate on")
        samples = read_store(store, split=spec.split, patch=model.config.patch)
    elif spec.split is not None:
        samples = samples.select_split(spec.split)
    preprocessing = preprocessing or Preprocessing()
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    inputs = prepare_inputs(samples, preprocessing)
    ground = _pooled_ground(inputs["views"], inputs["view_mask"])
    sat = {
        mode: satellite_embeddings(
            model, inputs["x"], inputs["valid"], mode=mode, batch_size=spec.batch_size, device=dev
        )
        for mode in spec.temporal
    }
    rows, notes = [], []
    text_cache: dict = {}
    for task in spec.tasks:
        labels = samples.labels.get(task)
        if labels is None or not (labels >= 0).any():
            notes.append(f"{task}: no labels in this split, skipped")
            continue
        for kind in spec.prompt_kinds:
            found = _class_texts(task, kind, spec, notes, text_cache)
            if found is None:
                continue
            classes, columns = found
            col = np.full(len(TASKS[task].classes), -1)
            col[columns] = np.arange(len(columns))
            y = np.where(labels >= 0, col[np.maximum(labels, 0)], -1)  # label -> score column; -1 = not scored
            if ((labels >= 0) & (y < 0)).any():
                notes.append(
                    f"{task}/{kind}: {int(((labels >= 0) & (y < 0)).sum())} points of classes without prompts left out"
                )
            n = int((y >= 0).sum())
            for mode, emb in sat.items():
                cos = classes.scores(emb)
                rows.append(EvalRow(task, "top1", kind, mode, metrics.top1_accuracy(cos, y), n))
                rows.append(EvalRow(task, "top1_normalised", kind, mode, metrics.normalised_top1(cos, y), n))
    if spec.retrieval:
        for task in spec.retrieval_tasks:
            labels = samples.labels.get(task)
            if labels is None or not (labels >= 0).any():
                continue
            n = int((labels >= 0).sum())
            for mode, emb in sat.items():
                rows.append(
                    EvalRow(task, "recall@1_s2g", "-", mode, metrics.recall_at_1(emb, ground, labels, labels), n)
                )
                rows.append(
                    EvalRow(task, "recall@1_g2s", "-", mode, metrics.recall_at_1(ground, emb, labels, labels), n)
                )
    if scenic_scores or scenic_prompts:
        scenic = _scenicness(samples, sat, scenic_scores, scenic_prompts, spec)
        rows += scenic
        if not any(r.prompts == "average" for r in scenic):
            notes.append(
                "scenicness: no paper average; it needs early and late k = 2, 5, 8, 10 (raters with >= 10 prompts)"
            )
    meta = {"checkpoint": checkpoint, "store": store, "split": spec.split, "n_points": len(samples),
            "text_model": f"{spec.clip_model}/{spec.clip_pretrained}"}
    return EvalReport(rows, notes, meta)


def temporal_input(x: torch.Tensor, valid: torch.Tensor, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Monthly inputs (N, 12, C, P, P) as 12, 4 (quarterly medians) or 1 (annual median) time steps."""
    if mode == "monthly":
        return x, valid
    groups = 4 if mode == "quarterly" else 1
    n, t = valid.shape
    nan = torch.full((), float("nan"), dtype=x.dtype)
    masked = torch.where(valid[:, :, None, None, None], x, nan).reshape(n, groups, t // groups, *x.shape[2:])
    med = torch.nanmedian(masked, dim=2).values
    ok = valid.reshape(n, groups, t // groups).any(dim=2)
    return torch.nan_to_num(med, nan=0.0), ok


@torch.inference_mode()
def satellite_embeddings(model, x, valid, *, mode: str = "monthly", batch_size: int = 4096, device=None) -> np.ndarray:
    """L2-normalised (N, D) embeddings of normalised inputs under a temporal ``mode``."""
    model = model.eval().to(device or "cpu")
    xs, vs = temporal_input(x, valid, mode)
    out = []
    for a in range(0, len(xs), batch_size):
        e = model(xs[a : a + batch_size].to(model_device(model)), vs[a : a + batch_size].to(model_device(model)))
        out.append(torch.nn.functional.normalize(e.float(), dim=-1).cpu())
    return torch.cat(out).numpy()


def model_device(model) -> torch.device:
    return next(model.parameters()).device


def _pooled_ground(views: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    v = torch.nn.functional.normalize(views.float(), dim=-1) * mask[..., None]
    return torch.nn.functional.normalize(v.sum(dim=1), dim=-1).numpy()


def _class_texts(task: str, kind: str, spec: EvalSpec, notes: list, cache: dict):
    """(ClassEmbeddings, task class index of each column) for a prompt kind, or None when there is no set."""
    from tsmap.text import embed_prompts

    names = TASKS[task].classes
    columns = np.arange(len(names))
    if kind == "class-name":
        ps = PromptSet(f"{task}-names", tuple(PromptClass(n, (n,)) for n in names))
    elif kind in ("template", "template-ensemble"):
        templates = (spec.template,) if kind == "template" else spec.templates
        ps = PromptSet(f"{task}-{kind}", tuple(PromptClass(n) for n in names), templates)
    else:
        source = spec.prompt_sets.get(task) or (
            DEFAULT_PROMPT_SETS.get(task) if DEFAULT_PROMPT_SETS.get(task) in bundled() else None
        )
        if source is None:
            notes.append(f"{task}: no descriptive prompt set (give one with --prompts {task}=FILE), skipped")
            return None
        ps, columns = _matched(load_prompts(source), task, source)
    key = (ps.sha256(), spec.clip_model, spec.clip_pretrained)
    if key not in cache:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cache[key] = embed_prompts(ps, model=spec.clip_model, pretrained=spec.clip_pretrained)
    return cache[key], columns


def _matched(ps: PromptSet, task: str, source: str) -> tuple[PromptSet, np.ndarray]:
    """The classes of ``ps`` that are classes of ``task`` (matched by name or code), in task order,
    and their task class indices. A set may cover part of a task (bioregions: the 8 found in Europe)."""
    task_ = TASKS[task]
    keys = {}
    for i, name in enumerate(task_.classes):
        for k in [name] + list(task_.codes[i] if task_.codes else ()):
            keys.setdefault(_norm(k), i)
    chosen: dict[int, PromptClass] = {}
    unmatched = []
    for c in ps.classes:
        i = keys.get(_norm(c.name), keys.get(_norm(c.code or "")))
        if i is None or i in chosen:
            unmatched.append(c.name)
        else:
            chosen[i] = c
    if unmatched or not chosen:
        raise InputError(
            f"prompt set {source!r} has classes that are not (or twice) classes of task {task}: {unmatched[:5]}; "
            f"use the task's class names or codes"
        )
    order = sorted(chosen)
    subset = PromptSet(ps.name, tuple(chosen[i] for i in order), ps.templates, ensembling=ps.ensembling)
    return subset, np.array(order)


def _scenicness(
    samples: Samples, sat: dict, scores_csv: str | None, prompts_source: str | None, spec: EvalSpec
) -> list[EvalRow]:
    """Pearson R and Kendall tau of tsmap's early / late scenicness ensembles against ground-truth scores."""
    import xarray as xr

    from tsmap.dims import EMBED
    from tsmap.scenic import PAPER_MIN_PROMPTS, load_scenic, scenicness

    if not (scores_csv and prompts_source):
        raise InputError(
            "scenicness needs both --scenic-scores (point_id,score CSV) and --scenic-prompts (rated prompts CSV or "
            "YAML)"
        )
    truth = _read_scores(scores_csv)
    prompts = load_scenic(prompts_source)
    idx = np.array([i for i, p in enumerate(samples.point_id) if p in truth], dtype=int)
    if idx.size < 3:
        raise InputError(f"only {idx.size} points of this split have scenicness scores in {scores_csv!r}; need >= 3")
    gt = np.array([truth[samples.point_id[i]] for i in idx])
    most = max(prompts.rater_counts().values())
    methods = [("early", "early", 1)] + [(f"late-k{k}", "late", k) for k in PAPER_MIN_PROMPTS if most >= k]
    rows = []
    for mode, emb in sat.items():
        cube = xr.DataArray(emb[idx], dims=("point", EMBED))
        for name, method, k in methods:
            pred = scenicness(cube, prompts, method=method, min_prompts=k, clip_model=spec.clip_model,
                              clip_pretrained=spec.clip_pretrained).values
            rows.append(EvalRow("scenicness", "pearson_r", name, mode, metrics.pearson_r(pred, gt), int(idx.size)))
            rows.append(EvalRow("scenicness", "kendall_tau", name, mode, metrics.kendall_tau(pred, gt), int(idx.size)))
    return rows + _scenic_average(rows)


def _scenic_average(rows: list[EvalRow]) -> list[EvalRow]:
    """The paper's "average" row per metric and temporal mode: the mean over :data:`SCENIC_AVERAGE_OF`,
    given only when every one of them was computed (each needs raters with at least k prompts)."""
    out = []
    for metric in ("pearson_r", "kendall_tau"):
        for mode in dict.fromkeys(r.temporal for r in rows):
            values = {r.prompts: r for r in rows if (r.metric, r.temporal) == (metric, mode)}
            if all(k in values for k in SCENIC_AVERAGE_OF):
                mean = float(np.mean([values[k].value for k in SCENIC_AVERAGE_OF]))
                out.append(EvalRow("scenicness", metric, "average", mode, mean, values["early"].n))
    return out


def _read_scores(path: str) -> dict[str, float]:
    if not os.path.exists(path):
        raise InputError(f"scenicness scores {path!r} do not exist; give a CSV with columns point_id,score")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"point_id", "score"} <= set(reader.fieldnames):
            raise InputError(f"scenicness scores {path!r} need columns point_id,score")
        return {r["point_id"].removeprefix("Lucas_Point_"): float(r["score"]) for r in reader}
