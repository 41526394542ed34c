"""Training configuration: frozen dataclasses read from one YAML file.

Example (every key optional except ``data.store`` and ``run.out``)::

    data: {store: train.zarr, split: train, patch: 1}
    model: {dim: 512, depth: 6, heads: 8, mlp_dim: 256, dropout: 0.2}     # tsmap EncoderConfig
    objective: {pooling: mean, queue_size: 2048, in_batch: false}
    augment: {name: tsdrop, p: 0.5}                                      # none|tsdrop|tsmixaug|tsmsdrop
    optim: {lr: 1.0e-4, weight_decay: 0.01, batch_size: 1024, accumulate: 1, epochs: 100, warmup_steps: 500}
    run: {out: runs/tsdrop, seed: 0, checkpoint_every: 1000, log_every: 50, device: auto, amp: auto}
    text: {clip_model: ViT-B-32-quickgelu, clip_pretrained: openai}     # the text model the ground side matches
    recipe: tsmap                                                        # or authors: see RECIPES

A recipe is a preset of defaults: ``recipe: authors`` fills in :data:`RECIPES` ``["authors"]`` for
every key the file (or ``--set``) leaves out; keys given explicitly always win.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field

from tsmap.errors import InputError
from tsmap.model import EncoderConfig
from tsmap.text_model import DEFAULT_MODEL, DEFAULT_PRETRAINED
from tsmap.userfiles import load_yaml, read_text

from .augment import AugmentSpec
from .objective import POOLINGS

DEFAULT_EPOCHS = 100  #: when the config gives neither optim.steps nor optim.epochs (nor an optim section)
ENQUEUES = ("step", "micro-batch")
SCHEDULES = ("cosine", "cycles")
TOKEN_INITS = ("normal", "zeros")

#: Defaults each recipe sets (under explicit keys). "tsmap": the dataclass defaults, tsmap's fixes
#: of the authors' bugs. "authors": their newest training where it is not a bug (README, Training).
RECIPES: dict[str, dict[str, dict]] = {
    "tsmap": {},
    "authors": {
        "model": {"dropout": 0.2},
        "objective": {"pooling": "attention", "normalise_views": False, "enqueue": "micro-batch"},
        "augment": {"drop_at_least_one": True, "spectral_gated": False, "median": "tokens"},
        "optim": {"accumulate": 8, "schedule": "cycles", "anneal_epochs": 10, "decay_logit_scale": True,
                  "token_init": "zeros"},
    },
}


@dataclass(frozen=True)
class DataConfig:
    store: str = ""  #: training store written by ``tsmap prepare``
    split: str = "train"  #: split to train on
    patch: int = 1  #: centre crop of the stored patch fed to the encoder


@dataclass(frozen=True)
class ObjectiveConfig:
    pooling: str = "mean"  #: ground-view pooling: mean or attention
    queue_size: int = 2048  #: K negatives in the queue (0 = none; then in_batch is required)
    in_batch: bool = False  #: also use the other samples of the batch as negatives
    normalise_views: bool = True  #: L2-normalise each ground view before pooling (False: pool the raw views)
    enqueue: str = "step"  #: push pooled ground embeddings to the queue after each "step" or "micro-batch"

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise InputError(f"objective.pooling {self.pooling!r} must be one of {', '.join(POOLINGS)}")
        if self.enqueue not in ENQUEUES:
            raise InputError(f"objective.enqueue {self.enqueue!r} must be one of {', '.join(ENQUEUES)}")
        _booleans(self, "objective", "in_batch", "normalise_views")
        if self.queue_size < 0 or (self.queue_size == 0 and not self.in_batch):
            raise InputError("objective.queue_size must be >= 1, or 0 with in_batch: true")


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 1e-4
    weight_decay: float = 0.01
    batch_size: int = 1024  #: samples per micro-batch
    accumulate: int = 1  #: micro-batches per optimiser step
    steps: int | None = None  #: optimiser steps (or give epochs)
    epochs: float | None = None  #: passes over the training split (converted to steps)
    warmup_steps: int = 0  #: linear warm-up, then the schedule
    warmup_epochs: float = 0.0  #: the same in passes over the data (give at most one of the two)
    min_lr: float = 0.0
    schedule: str = "cosine"  #: "cosine": one decay over the run, per step; "cycles": per epoch, see anneal_epochs
    anneal_epochs: int = 10  #: cycles: epochs from lr down to min_lr, then as many back up (CosineAnnealingLR T_max)
    decay_logit_scale: bool = False  #: apply weight decay to the learnable temperature too
    token_init: str = "normal"  #: position rows and the prepended token: "normal" (std 0.02) or "zeros"

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise InputError(f"optim.schedule {self.schedule!r} must be one of {', '.join(SCHEDULES)}")
        if self.token_init not in TOKEN_INITS:
            raise InputError(f"optim.token_init {self.token_init!r} must be one of {', '.join(TOKEN_INITS)}")
        if self.anneal_epochs < 1:
            raise InputError("optim.anneal_epochs must be >= 1")
        if self.warmup_epochs < 0 or (self.warmup_epochs and self.warmup_steps):
            raise InputError("optim: give warmup_steps or warmup_epochs (>= 0), not both")
        _booleans(self, "optim", "decay_logit_scale")
        if (self.steps is None) == (self.epochs is None):
            raise InputError("optim: give exactly one of steps or epochs")
        if self.batch_size < 1 or self.accumulate < 1 or (self.steps is not None and self.steps < 1):
            raise InputError("optim.batch_size, optim.accumulate and optim.steps must be >= 1")
        if self.epochs is not None and self.epochs <= 0:
            raise InputError("optim.epochs must be > 0")
        if self.lr <= 0 or self.warmup_steps < 0 or self.min_lr < 0:
            raise InputError("optim.lr must be > 0, warmup_steps and min_lr >= 0")

    def total_steps(self, n_samples: int) -> int:
        if self.steps is not None:
            return self.steps
        per_step = self.batch_size * self.accumulate
        return max(1, int(round(self.epochs * n_samples / per_step)))

    def steps_per_epoch(self, n_samples: int) -> float:
        """Optimiser steps per epoch of the sampler: n_samples // batch_size micro-batches (the rest is left out)."""
        return (n_samples // self.batch_size) / self.accumulate

    def warmup(self, n_samples: int) -> int:
        """Warm-up length in optimiser steps."""
        return self.warmup_steps or int(round(self.warmup_epochs * self.steps_per_epoch(n_samples)))


@dataclass(frozen=True)
class RunConfig:
    out: str = ""  #: folder for checkpoints, the log and the exported model
    seed: int = 0
    checkpoint_every: int = 1000  #: optimiser steps between training-state checkpoints (0 = only at the end)
    log_every: int = 50
    device: str = "auto"  #: auto, cpu, cuda, cuda:N
    amp: str = "auto"  #: auto (bf16 autocast on CUDA), on (also on CPU), off
    max_seconds: float | None = None  #: stop early after this wall time (the schedule keeps its length)
    threads: int = 0  #: CPU threads for torch (0 = torch's default)

    def __post_init__(self) -> None:
        if self.amp not in ("auto", "on", "off"):
            raise InputError(f"run.amp {self.amp!r} must be auto, on or off")
        if self.threads < 0:
            raise InputError("run.threads must be >= 0 (0 = torch's default)")
        if self.checkpoint_every < 0 or self.log_every < 1:
            raise InputError("run.checkpoint_every must be >= 0 and run.log_every >= 1")


@dataclass(frozen=True)
class TextConfig:
    clip_model: str = DEFAULT_MODEL  #: text model the ground embeddings' image tower belongs to (OpenAI's: QuickGELU)
    clip_pretrained: str = DEFAULT_PRETRAINED


@dataclass(frozen=True)
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: EncoderConfig = field(default_factory=EncoderConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    augment: AugmentSpec = field(default_factory=AugmentSpec)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(epochs=DEFAULT_EPOCHS))
    run: RunConfig = field(default_factory=RunConfig)
    text: TextConfig = field(default_factory=TextConfig)
    recipe: str = "tsmap"  #: the preset config_from_dict filled in (RECIPES); recorded with the run

    def __post_init__(self) -> None:
        if not isinstance(self.recipe, str) or self.recipe not in RECIPES:
            raise InputError(f"config: recipe {self.recipe!r} must be one of {', '.join(RECIPES)}")
        if not self.data.store:
            raise InputError("config: data.store is required (the training store from `tsmap prepare`)")
        if not self.run.out:
            raise InputError("config: run.out is required (folder for checkpoints and the model)")
        if self.model.patch != self.data.patch:
            raise InputError(f"config: model.patch ({self.model.patch}) must equal data.patch ({self.data.patch})")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_SECTIONS = {f.name: f for f in dataclasses.fields(TrainConfig) if f.name != "recipe"}


def config_from_dict(doc: dict, *, where: str = "config") -> TrainConfig:
    """Validate a parsed YAML mapping into a :class:`TrainConfig`; unknown keys are errors."""
    if not isinstance(doc, dict):
        raise InputError(f"{where}: must be a mapping of sections ({', '.join(_SECTIONS)}) and optionally recipe")
    doc = dict(doc)
    recipe = doc.pop("recipe", "tsmap")
    if not isinstance(recipe, str) or recipe not in RECIPES:
        raise InputError(f"{where}: recipe {recipe!r} must be one of {', '.join(RECIPES)}")
    unknown = set(doc) - set(_SECTIONS)
    if unknown:
        raise InputError(f"{where}: unknown section(s) {sorted(unknown)}; known: {', '.join(_SECTIONS)}, recipe")
    for name, preset in RECIPES[recipe].items():
        if name == "optim" and name not in doc:
            doc[name] = {"epochs": DEFAULT_EPOCHS}
        value = doc.get(name) or {}
        doc[name] = {**preset, **value} if isinstance(value, dict) else value
    kwargs = {"recipe": recipe}
    for name, value in doc.items():
        cls = _section_class(name)
        value = value or {}
        if not isinstance(value, dict):
            raise InputError(f"{where}: section {name!r} must be a mapping")
        known = {f.name for f in dataclasses.fields(cls)}
        bad = set(value) - known
        if bad:
            raise InputError(f"{where}: unknown key(s) {sorted(bad)} in {name!r}; known: {', '.join(sorted(known))}")
        try:
            kwargs[name] = cls(**_coerce(cls, value, name))
        except (TypeError, ValueError) as exc:
            raise InputError(f"{where}: section {name!r}: {exc}") from None
    if "optim" not in kwargs:
        kwargs["optim"] = OptimConfig(epochs=DEFAULT_EPOCHS)
    try:
        return TrainConfig(**kwargs)
    except InputError:
        raise
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: {exc}") from None


def load_config(path: str | os.PathLike, *, overrides: list[str] = ()) -> TrainConfig:
    """Read a YAML config; ``overrides`` like ``optim.steps=100`` replace single keys."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"config file {path!r} does not exist; see the README for an example")
    doc = load_yaml(read_text(path, kind="config file"), where=f"config {path!r}") or {}
    return config_from_dict(apply_overrides(doc, overrides), where=path)


def apply_overrides(doc: dict, overrides) -> dict:
    """``section.key=value`` strings (value parsed as YAML) applied to a config mapping."""
    doc = dict(doc) if isinstance(doc, dict) else doc
    for item in overrides:
        key, sep, raw = item.partition("=")
        section, dot, name = key.partition(".")
        if sep and key == "recipe":
            if isinstance(doc, dict):
                doc["recipe"] = load_yaml(raw, where=f"override {item!r}: the value")
            continue
        if not sep or not dot or not name or not section:
            raise InputError(f"override {item!r} must look like section.key=value (e.g. optim.steps=100) "
                             "or recipe=NAME")
        if not isinstance(doc, dict) or not isinstance(doc.get(section) or {}, dict):
            continue  # config_from_dict names the section that is not a mapping
        value = load_yaml(raw, where=f"override {item!r}: the value")
        doc[section] = {**(doc.get(section) or {}), name: value}
    return doc


def _booleans(obj, section: str, *names: str) -> None:
    for name in names:
        if not isinstance(getattr(obj, name), bool):
            raise InputError(f"{section}.{name} must be true or false, got {getattr(obj, name)!r}")


def _coerce(cls, value: dict, section: str = "") -> dict:
    """Check each value against its field's type, naming ``section.key``; YAML reads ``1e-4`` as a string,
    so strings become floats where the field is a float."""
    out = dict(value)
    for f in dataclasses.fields(cls):
        if f.name in out:
            out[f.name] = _typed(out[f.name], str(f.type), f"{section or cls.__name__}.{f.name}")
    return out


_TYPE_NAMES = {"str": "a string", "int": "an integer", "float": "a number", "bool": "true or false",
               "tuple[int, ...]": "a list of integers"}


def _typed(v, annotation: str, where: str):
    optional = annotation.endswith(" | None")
    kind = annotation.removesuffix(" | None")
    if v is None and optional:
        return v
    if kind == "float" and isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            pass
    ok = {
        "str": lambda: isinstance(v, str),
        "int": lambda: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
        "bool": lambda: isinstance(v, bool),
        "tuple[int, ...]": lambda: isinstance(v, (list, tuple)) and all(type(i) is int for i in v),
    }.get(kind)
    if ok is not None and not ok():
        raise InputError(f"{where} must be {_TYPE_NAMES[kind]}{' or null' if optional else ''}, got {v!r}")
    if kind == "tuple[int, ...]":
        return tuple(v)
    return float(v) if kind == "float" and v is not None else v


def _section_class(name: str):
    return {"data": DataConfig, "model": EncoderConfig, "objective": ObjectiveConfig, "augment": AugmentSpec,
            "optim": OptimConfig, "run": RunConfig, "text": TextConfig}[name]
