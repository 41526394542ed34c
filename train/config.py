"""Training configuration: frozen dataclasses read from one YAML file.

Example (every key optional except ``data.store`` and ``run.out``)::

    data: {store: train.zarr, split: train, patch: 1}
    model: {dim: 512, depth: 6, heads: 8, mlp_dim: 256, dropout: 0.2}     # tsmap EncoderConfig
    objective: {pooling: mean, queue_size: 2048, in_batch: false}
    augment: {name: tsdrop, p: 0.5}                                      # none|tsdrop|tsmixaug|tsmsdrop
    optim: {lr: 1.0e-4, weight_decay: 0.01, batch_size: 1024, accumulate: 1, epochs: 100, warmup_steps: 500}
    run: {out: runs/tsdrop, seed: 0, checkpoint_every: 1000, log_every: 50, device: auto, amp: auto}
    text: {clip_model: ViT-B-32, clip_pretrained: openai}               # the text model the ground side matches
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

import yaml

from tsmap.errors import InputError
from tsmap.model import EncoderConfig

from .augment import AugmentSpec
from .objective import POOLINGS


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

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise InputError(f"objective.pooling {self.pooling!r} must be one of {', '.join(POOLINGS)}")
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
    warmup_steps: int = 0  #: linear warm-up, then cosine decay to min_lr
    min_lr: float = 0.0

    def __post_init__(self) -> None:
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
    clip_model: str = "ViT-B-32"  #: text model the ground embeddings' image tower belongs to
    clip_pretrained: str = "openai"


@dataclass(frozen=True)
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: EncoderConfig = field(default_factory=EncoderConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    augment: AugmentSpec = field(default_factory=AugmentSpec)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(epochs=100))
    run: RunConfig = field(default_factory=RunConfig)
    text: TextConfig = field(default_factory=TextConfig)

    def __post_init__(self) -> None:
        if not self.data.store:
            raise InputError("config: data.store is required (the training store from `tsmap prepare`)")
        if not self.run.out:
            raise InputError("config: run.out is required (folder for checkpoints and the model)")
        if self.model.patch != self.data.patch:
            raise InputError(f"config: model.patch ({self.model.patch}) must equal data.patch ({self.data.patch})")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_SECTIONS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def config_from_dict(doc: dict, *, where: str = "config") -> TrainConfig:
    """Validate a parsed YAML mapping into a :class:`TrainConfig`; unknown keys are errors."""
    if not isinstance(doc, dict):
        raise InputError(f"{where}: must be a mapping of sections ({', '.join(_SECTIONS)})")
    unknown = set(doc) - set(_SECTIONS)
    if unknown:
        raise InputError(f"{where}: unknown section(s) {sorted(unknown)}; known: {', '.join(_SECTIONS)}")
    kwargs = {}
    for name, value in doc.items():
        cls = _section_class(name)
        value = value or {}
        if not isinstance(value, dict):
            raise InputError(f"{where}: section {name!r} must be a mapping")
        known = {f.name for f in dataclasses.fields(cls)}
        bad = set(value) - known
        if bad:
            raise InputError(f"{where}: unknown key(s) {sorted(bad)} in {name!r}; known: {', '.join(sorted(known))}")
        if name == "augment" and "always_bands" in value:
            value = {**value, "always_bands": tuple(value["always_bands"])}
        try:
            kwargs[name] = cls(**_coerce(cls, value))
        except (TypeError, ValueError) as exc:
            raise InputError(f"{where}: section {name!r}: {exc}") from None
    if "optim" not in kwargs:
        kwargs["optim"] = OptimConfig(epochs=100)
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
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"config {path!r} is not valid YAML: {str(exc).splitlines()[0]}") from None
    return config_from_dict(apply_overrides(doc, overrides), where=path)


def apply_overrides(doc: dict, overrides) -> dict:
    """``section.key=value`` strings (value parsed as YAML) applied to a config mapping."""
    doc = {k: dict(v or {}) for k, v in (doc or {}).items()} if isinstance(doc, dict) else doc
    for item in overrides:
        key, sep, raw = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot or not name:
            raise InputError(f"override {item!r} must look like section.key=value (e.g. optim.steps=100)")
        doc.setdefault(section, {})[name] = yaml.safe_load(raw)
    return doc


def _coerce(cls, value: dict) -> dict:
    """YAML reads ``1e-4`` as a string: turn strings into floats where the field is a float."""
    out = dict(value)
    for f in dataclasses.fields(cls):
        if f.name in out and isinstance(out[f.name], str) and "float" in str(f.type):
            try:
                out[f.name] = float(out[f.name])
            except ValueError:
                raise InputError(f"{cls.__name__}.{f.name} must be a number, got {out[f.name]!r}") from None
    return out


def _section_class(name: str):
    return {"data": DataConfig, "model": EncoderConfig, "objective": ObjectiveConfig, "augment": AugmentSpec,
            "optim": OptimConfig, "run": RunConfig, "text": TextConfig}[name]
