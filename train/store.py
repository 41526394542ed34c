"""The training store: one Zarr group with everything training and evaluation read.

Layout (N points, T = 12 months, C = 10 bands, P x P patch, V = 4 ground views, D = 512)::

    s2            (N, T, C, P, P) float32  composited digital numbers, NaN = month without data
    ground        (N, V, D)       float32  ground-photo embeddings, views in VIEWS order (0 where missing)
    ground_valid  (N, V)          bool     which views have a photo
    lc lu crop eunis bioregion country (N,) int16  class index per task (classes.py), -1 = no label
    point_id      (N,)            str
    lon lat       (N,)            float64
    split         (N,)            str      train / val / test

Attributes record the format version, the composite spec, bands, views, the task class lists, the
embedding source and a report of the points that could not be used (and why). Written atomically:
a failed write leaves nothing behind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

import numpy as np

from tsmap._files import atomic_path
from tsmap.errors import DataError, InputError

from .classes import TASKS

FORMAT = "tsmap-training-store"
VERSION = 1
#: Ground views in storage order (the LUCAS photo directions, as the authors concatenate them).
VIEWS = ("W", "E", "N", "S")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Samples:
    """Training samples in memory (see the module docstring for shapes)."""

    s2: np.ndarray
    ground: np.ndarray
    ground_valid: np.ndarray
    labels: dict[str, np.ndarray]
    point_id: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    split: np.ndarray
    attrs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.s2.shape[0]
        if self.s2.ndim != 5:
            raise DataError(f"s2 must be (N, T, C, P, P), got shape {self.s2.shape}")
        if self.ground.ndim != 3 or self.ground_valid.shape != self.ground.shape[:2]:
            raise DataError(
                f"ground must be (N, V, D) with ground_valid (N, V), got {self.ground.shape} / "
                f"{self.ground_valid.shape}"
            )
        for name, arr in {"ground": self.ground, "point_id": self.point_id, "lon": self.lon, "lat": self.lat,
                          "split": self.split, **self.labels}.items():
            if len(arr) != n:
                raise DataError(f"{name} has {len(arr)} rows but s2 has {n}")
        unknown = set(self.labels) - set(TASKS)
        if unknown:
            raise DataError(f"unknown label tasks {sorted(unknown)}; known: {', '.join(TASKS)}")

    def __len__(self) -> int:
        return int(self.s2.shape[0])

    @property
    def patch(self) -> int:
        return int(self.s2.shape[-1])

    def subset(self, index) -> "Samples":
        """The samples at ``index`` (boolean mask or integer indices)."""
        return replace(
            self,
            s2=self.s2[index], ground=self.ground[index], ground_valid=self.ground_valid[index],
            labels={k: v[index] for k, v in self.labels.items()}, point_id=self.point_id[index],
            lon=self.lon[index], lat=self.lat[index], split=self.split[index],
        )

    def select_split(self, split: str | None) -> "Samples":
        """Only the points of ``split`` (all points when None)."""
        if split is None:
            return self
        if split not in SPLITS:
            raise InputError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        chosen = self.subset(self.split == split)
        if not len(chosen):
            raise DataError(f"the store has no points in split {split!r}; counts: {split_counts(self.split)}")
        return chosen


def split_counts(split: np.ndarray) -> dict[str, int]:
    return {s: int((split == s).sum()) for s in SPLITS}


def center_crop(s2: np.ndarray, patch: int) -> np.ndarray:
    """Centre ``patch`` x ``patch`` pixels of (..., P, P), the authors' rule: start = P // 2 - patch // 2."""
    size = s2.shape[-1]
    if patch > size or patch < 1:
        raise InputError(
            f"cannot crop a {patch}x{patch} patch out of {size}x{size}; choose a patch between 1 and {size}"
        )
    start = size // 2 - patch // 2
    return s2[..., start : start + patch, start : start + patch]


def write_store(samples: Samples, path: str | os.PathLike, *, overwrite: bool = False) -> str:
    """Write ``samples`` as a Zarr store at ``path`` (atomically) and return the path."""
    import zarr

    path = os.fspath(path)
    if os.path.exists(path) and not overwrite:
        raise InputError(f"training store {path!r} already exists; remove it or choose another output path")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise InputError(f"output folder {parent!r} does not exist; create it first")
    with atomic_path(path) as tmp:
        group = zarr.open_group(tmp, mode="w")
        n = len(samples)
        _array(group, "s2", samples.s2.astype(np.float32), chunks=(min(n, 4096),) + samples.s2.shape[1:])
        _array(group, "ground", samples.ground.astype(np.float32), chunks=(min(n, 4096),) + samples.ground.shape[1:])
        _array(group, "ground_valid", samples.ground_valid.astype(bool))
        for task, labels in samples.labels.items():
            _array(group, task, labels.astype(np.int16))
        for name in ("lon", "lat"):
            _array(group, name, getattr(samples, name).astype(np.float64))
        for name in ("point_id", "split"):
            arr = group.create_array(name, shape=(n,), dtype=str, chunks=(max(n, 1),))
            if n:
                arr[:] = np.asarray(getattr(samples, name), dtype=str)
        group.attrs.update(
            {"format": FORMAT, "version": VERSION, "views": list(VIEWS),
             "tasks": {t: list(TASKS[t].classes) for t in samples.labels}, **samples.attrs}
        )
    return path


def _array(group, name: str, data: np.ndarray, chunks=None) -> None:
    arr = group.create_array(name, shape=data.shape, dtype=data.dtype, chunks=chunks or data.shape or (1,))
    if data.size:
        arr[...] = data


def read_store(path: str | os.PathLike, *, split: str | None = None, patch: int | None = None) -> Samples:
    """Read a training store into memory: only ``split`` (all when None), centre-cropped to ``patch``."""
    import zarr

    path = os.fspath(path)
    if not os.path.isdir(path):
        raise InputError(f"training store {path!r} does not exist; build one with `tsmap prepare`")
    try:
        group = zarr.open_group(path, mode="r")
        attrs = dict(group.attrs)
    except Exception as exc:
        raise DataError(f"{path!r} is not a readable Zarr store ({type(exc).__name__}: {exc})") from None
    if attrs.get("format") != FORMAT:
        raise DataError(
            f"{path!r} is not a tsmap training store (format {attrs.get('format')!r}); build one with `tsmap prepare`"
        )
    if attrs.get("version", 0) > VERSION:
        raise DataError(
            f"training store {path!r} has version {attrs['version']}; this tsmap reads up to {VERSION}, upgrade tsmap"
        )
    names = set(group.array_keys())
    splits = _strings(group["split"][:])
    index = np.flatnonzero(splits == split) if split is not None else np.arange(len(splits))
    if split is not None and split not in SPLITS:
        raise InputError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if not index.size:
        raise DataError(f"training store {path!r} has no points in split {split!r}; counts: {split_counts(splits)}")
    sel = slice(None) if index.size == len(splits) else index

    def take(name):
        arr = group[name]
        return (
            arr[:] if isinstance(sel, slice) else arr.get_orthogonal_selection((sel,) + (slice(None),) * (arr.ndim - 1))
        )

    s2 = take("s2")
    if patch is not None:
        s2 = np.ascontiguousarray(center_crop(s2, patch))
    return Samples(
        s2=s2, ground=take("ground"), ground_valid=take("ground_valid").astype(bool),
        labels={t: take(t).astype(np.int64) for t in TASKS if t in names},
        point_id=_strings(take("point_id")), lon=take("lon"), lat=take("lat"),
        split=splits[index], attrs=attrs,
    )


def _strings(arr) -> np.ndarray:
    """Zarr's variable-length strings (numpy StringDType) as a plain unicode array."""
    return np.asarray(arr).astype(object).astype(str)
