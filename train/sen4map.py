"""Read Sen4Map HDF5 files and composite each point's acquisitions with tsmap's own compositing.

A Sen4Map file holds one group per LUCAS point, ``Lucas_Point_<POINT_ID>``, with datasets
``B2 B3 B4 B5 B6 B7 B8 B8A B11 B12`` and ``SCL`` of shape (acquisitions, 64, 64) in raw L2A digital
numbers, and attributes ``Image_ID`` (product ids carrying the acquisition date), ``lc1``, ``lu1``,
``nuts0``, ``Coordinates`` (lon, lat) and, in the authors' derived files, ``bioregion_class_code`` and
``EUNIS_L2``. The authors' derived files may instead carry a pre-composited ``image`` dataset
(12, 10, H, W); it is used as is.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from tsmap.bands import SCL, SPECTRAL_NAMES
from tsmap.dims import BAND, TIME
from tsmap.composite import composite
from tsmap.specs import CompositeSpec
from tsmap.errors import DataError, InputError

#: Sen4Map dataset names, in tsmap's band order (B02..B12).
H5_BANDS = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")
GROUP_PREFIX = "Lucas_Point_"
_DATE = re.compile(r"(20\d{2})(0[1-9]|1[0-2])([0-2]\d|3[01])")
_MONTH = re.compile(r"(20\d{2})(0[1-9]|1[0-2])")


@dataclass(frozen=True)
class PointRecord:
    """One Sen4Map point: its composited patch (or None when it has no usable pixels) and attributes."""

    point_id: str
    s2: np.ndarray | None  #: (periods, 10, P, P) float32 composite, NaN = no data
    attrs: dict = field(default_factory=dict)
    problem: str | None = None  #: why the point has no pixels


def acquisition_date(image_id: str) -> np.datetime64:
    """Sensing date of a product id such as ``S2A_MSIL2A_20180105T103421_..._20180105T124015``."""
    text = image_id.decode() if isinstance(image_id, bytes) else str(image_id)
    m = _DATE.search(text)
    if m:
        return np.datetime64(dt.date(int(m[1]), int(m[2]), int(m[3])), "ns")
    m = _MONTH.search(text)
    if m:
        return np.datetime64(dt.date(int(m[1]), int(m[2]), 15), "ns")
    raise DataError(f"Image_ID {text!r} carries no YYYYMM(DD) date; Sen4Map product ids contain the sensing date")


def composite_series(dn: np.ndarray, scl: np.ndarray, dates, spec: CompositeSpec) -> np.ndarray:
    """Composite acquisitions (T, 10, ...) with their SCL (T, ...) into (spec.periods, 10, ...).

    Uses :func:`tsmap.composite` itself, so training data are composited exactly as maps are.
    Trailing axes are pixels; they are flattened for the call and restored.
    """
    dn = np.asarray(dn, dtype=np.float32)
    if dn.ndim < 2 or dn.shape[1] != len(SPECTRAL_NAMES) or scl.shape != (dn.shape[0],) + dn.shape[2:]:
        raise DataError(f"expected dn (T, 10, ...) and scl (T, ...), got {dn.shape} and {scl.shape}")
    pixels = dn.shape[2:]
    flat = dn.reshape(dn.shape[0], dn.shape[1], 1, -1)
    both = np.concatenate([flat, np.asarray(scl, dtype=np.float32).reshape(dn.shape[0], 1, 1, -1)], axis=1)
    cube = xr.DataArray(
        both,
        dims=(TIME, BAND, "y", "x"),
        coords={TIME: np.asarray(dates, dtype="datetime64[ns]"), BAND: list(SPECTRAL_NAMES) + [SCL.name]},
    )
    out = composite(cube, spec)["s2"].values  # (periods, 10, 1, n)
    return out.reshape(out.shape[0], out.shape[1], *pixels).astype(np.float32)


def h5py():
    """The h5py module, or a one-line error saying how to install it (it is the ``train`` extra's)."""
    try:
        import h5py
    except ImportError:
        raise InputError("reading Sen4Map HDF5 files needs h5py: pip install 'tsmap[train]'") from None
    return h5py


def point_ids(path: str) -> list[str]:
    """Point ids (the part after ``Lucas_Point_``) of a Sen4Map file, in file order."""
    with _open(path) as f:
        return [
            k[len(GROUP_PREFIX) :] if k.startswith(GROUP_PREFIX) else k
            for k in f.keys()
            if isinstance(f[k], h5py().Group)
        ]


def read_points(path: str, *, patch: int, spec: CompositeSpec, batch: int = 1024):
    """Yield a :class:`PointRecord` per point of a Sen4Map file, centre-cropped to ``patch``.

    Points are read in batches; within a batch, points with the same acquisition dates are
    composited together.
    """
    with _open(path) as f:
        keys = [k for k in f.keys() if isinstance(f[k], h5py().Group)]
        for start in range(0, len(keys), batch):
            raw = [_read_group(f[k], k, patch) for k in keys[start : start + batch]]
            yield from _composite_batch(raw, spec)


def _open(path: str):
    if not os.path.exists(path):
        raise InputError(f"Sen4Map file {path!r} does not exist; give the path of a Sen4Map .h5 file")
    try:
        return h5py().File(path, "r")
    except OSError as exc:
        raise DataError(f"{path!r} is not a readable HDF5 file ({exc})") from None


def _read_group(group, key: str, patch: int) -> dict:
    pid = key[len(GROUP_PREFIX) :] if key.startswith(GROUP_PREFIX) else key
    attrs = {k: _plain(v) for k, v in group.attrs.items()}
    rec = {"id": pid, "attrs": attrs}
    if "image" in group:  # the authors' derived files: already (12, 10, H, W) composites
        rec["image"] = _crop(group["image"], patch, pid).astype(np.float32)
        return rec
    missing = [b for b in H5_BANDS + ("SCL",) if b not in group]
    if missing:
        rec["problem"] = f"no pixels: datasets {missing} missing"
        return rec
    ids = np.atleast_1d(attrs.get("Image_ID", []))
    n = group["B2"].shape[0]
    if n == 0:
        rec["problem"] = "no pixels: no acquisitions"
        return rec
    if len(ids) != n:
        rec["problem"] = f"no pixels: {len(ids)} Image_IDs for {n} acquisitions"
        return rec
    rec["dates"] = tuple(acquisition_date(i) for i in ids)
    rec["dn"] = np.stack([_crop(group[b], patch, pid) for b in H5_BANDS], axis=1).astype(np.float32)
    rec["scl"] = _crop(group["SCL"], patch, pid)
    return rec


def _crop(ds, patch: int, pid: str) -> np.ndarray:
    size = ds.shape[-1]
    if patch > size or ds.shape[-2] != size:
        raise DataError(
            f"point {pid}: patch {ds.shape[-2:]} is smaller than the requested {patch}x{patch} or not square"
        )
    a = size // 2 - patch // 2
    return np.asarray(ds[..., a : a + patch, a : a + patch])


def _composite_batch(raw: list[dict], spec: CompositeSpec):
    groups: dict[tuple, list[int]] = {}
    for i, rec in enumerate(raw):
        if "dates" in rec:
            groups.setdefault(rec["dates"], []).append(i)
    out: dict[int, np.ndarray] = {}
    for dates, members in groups.items():
        dn = np.concatenate([raw[i]["dn"][..., None] for i in members], axis=-1)  # (T, 10, P, P, m)
        scl = np.concatenate([raw[i]["scl"][..., None] for i in members], axis=-1)
        comp = composite_series(dn, scl, dates, spec)  # (periods, 10, P, P, m)
        for j, i in enumerate(members):
            out[i] = comp[..., j]
    for i, rec in enumerate(raw):
        s2 = rec.get("image", out.get(i))
        problem = rec.get("problem")
        if s2 is not None and spec.periods != s2.shape[0]:
            problem, s2 = f"no pixels: stored composite has {s2.shape[0]} periods, not {spec.periods}", None
        if s2 is not None and not np.isfinite(s2).all(axis=(1, 2, 3)).any():
            problem, s2 = "no pixels: every month is cloudy or empty", None
        yield PointRecord(rec["id"], s2, rec["attrs"], problem)


def _plain(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()] if value.ndim else _plain(value.item())
    if isinstance(value, np.generic):
        return value.item()
    return value
