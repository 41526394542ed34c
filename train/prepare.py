"""``tsmap prepare``: Sen4Map HDF5 files + LUCAS ground embeddings (or photos) -> one training store.

Every point that cannot be used is reported with the reason (no pixels, no ground photos,
excluded, not in the split file); points with some but not all four photos are kept, their
missing views masked, and listed too.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from tsmap.bands import SPECTRAL_NAMES
from tsmap.specs import CompositeSpec
from tsmap.errors import DataError, InputError
from tsmap.text_model import DEFAULT_MODEL, DEFAULT_PRETRAINED
from tsmap.userfiles import read_text

from .classes import BIOREGION, COUNTRY, CROPS, EUNIS, LAND_COVER, LAND_USE, MISSING, TASKS
from .ground import GroundEmbeddings, encode_photos, load_embedding_file
from .sen4map import GROUP_PREFIX, h5py, read_points
from .store import SPLITS, VIEWS, Samples, split_counts, write_store

#: Points the authors leave out of training (``lucas_sen_data.py``).
EXCLUDED_POINTS = ("45061526", "45281654", "47501690")
#: Columns of the authors' label table (``Sen4Map_Test_all_labels.csv``) per task.
CSV_COLUMNS = {"lc": "lc_label", "lu": "lu_label", "crop": "crop_label", "country": "nuts_label",
               "bioregion": "bioregion_class", "eunis": "eunis_class"}


@dataclass(frozen=True)
class PrepareReport:
    """What ``prepare`` wrote and which points it could not use."""

    store: str
    n_points: int  #: points written
    n_seen: int  #: points found in the Sen4Map files
    splits: dict[str, int]
    dropped: list[dict] = field(default_factory=list)  #: {"point_id", "reason"}
    partial_views: list[dict] = field(default_factory=list)  #: {"point_id", "missing": "W,N"}
    embeddings_without_point: int = 0  #: ground embeddings whose point is in no Sen4Map file

    def summary(self) -> str:
        lines = [
            f"wrote {self.store}: {self.n_points} of {self.n_seen} points "
            f"({', '.join(f'{k} {v}' for k, v in self.splits.items())})"
        ]
        reasons: dict[str, list[str]] = {}
        for d in self.dropped:
            reasons.setdefault(d["reason"], []).append(d["point_id"])
        for reason, ids in sorted(reasons.items()):
            lines.append(f"dropped {len(ids)} ({reason}): {', '.join(ids[:10])}{' ...' if len(ids) > 10 else ''}")
        if self.partial_views:
            ids = [f"{p['point_id']}[-{p['missing']}]" for p in self.partial_views]
            lines.append(
                f"kept {len(ids)} with missing photos (masked): {', '.join(ids[:10])}{' ...' if len(ids) > 10 else ''}"
            )
        if self.embeddings_without_point:
            lines.append(f"{self.embeddings_without_point} points have ground embeddings but no Sen4Map patch")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"n_points": self.n_points, "n_seen": self.n_seen, "splits": self.splits, "dropped": self.dropped,
                "partial_views": self.partial_views, "embeddings_without_point": self.embeddings_without_point}


def prepare(
    sen4map: list[str],
    *,
    out: str,
    embeddings: str | None = None,
    photos: str | None = None,
    labels_csv: str | None = None,
    split_csv: str | None = None,
    patch: int = 1,
    composite: CompositeSpec = CompositeSpec(rule="authors"),
    split_fractions: tuple[float, float, float] = (0.7, 0.1, 0.2),
    seed: int = 0,
    exclude: tuple[str, ...] = EXCLUDED_POINTS,
    clip_model: str = DEFAULT_MODEL,
    clip_pretrained: str = DEFAULT_PRETRAINED,
    overwrite: bool = False,
) -> PrepareReport:
    """Build the training store ``out`` from Sen4Map files and ground embeddings (or photos)."""
    if (embeddings is None) == (photos is None):
        raise InputError("give exactly one ground source: --embeddings (LUCAS CLIP .pt file) or --photos (folder)")
    if not sen4map:
        raise InputError("give at least one Sen4Map .h5 file")
    if len(split_fractions) != 3 or min(split_fractions) < 0 or abs(sum(split_fractions) - 1) > 1e-6:
        raise InputError(f"split fractions {split_fractions} must be three non-negative numbers summing to 1")
    if os.path.exists(out) and not overwrite:
        raise InputError(f"training store {out!r} already exists; pass --overwrite to replace it or use another --out")
    labels = _read_label_csv(labels_csv) if labels_csv else {}
    splits = _read_split_csv(split_csv) if split_csv else None
    ground = (
        load_embedding_file(embeddings)
        if embeddings
        else _photo_embeddings(sen4map, photos, clip_model, clip_pretrained)
    )

    rows, dropped, partial, seen = [], [], [], set()
    for path in sen4map:
        for rec in read_points(path, patch=patch, spec=composite):
            seen.add(rec.point_id)
            reason = _unusable(rec, exclude, splits)
            views, have = ground.views(rec.point_id)
            if reason is None and not have.any():
                reason = "no ground photos"
            if reason:
                dropped.append({"point_id": rec.point_id, "reason": reason})
                continue
            if not have.all():
                partial.append({"point_id": rec.point_id, "missing": ",".join(d for d, h in zip(VIEWS, have) if not h)})
            split = splits[rec.point_id] if splits else _hash_split(rec.point_id, split_fractions, seed)
            rows.append(
                (
                    rec,
                    views,
                    have,
                    split,
                    _labels(rec.attrs, labels.get(rec.point_id)),
                    _coords(rec.attrs, labels.get(rec.point_id)),
                )
            )
    if not rows:
        raise DataError(f"no usable points in {', '.join(sen4map)} ({len(dropped)} dropped); see the reasons with -v")

    samples = Samples(
        s2=np.stack([r[0].s2 for r in rows]),
        ground=np.stack([r[1] for r in rows]),
        ground_valid=np.stack([r[2] for r in rows]),
        labels={t: np.array([r[4][t] for r in rows], dtype=np.int64) for t in TASKS},
        point_id=np.array([r[0].point_id for r in rows], dtype=str),
        lon=np.array([r[5][0] for r in rows]),
        lat=np.array([r[5][1] for r in rows]),
        split=np.array([r[3] for r in rows], dtype=str),
    )
    report = PrepareReport(
        out, len(samples), len(seen), split_counts(samples.split), dropped, partial, len(ground.point_ids() - seen)
    )
    samples = replace(samples, attrs={
        "source": "sen4map", "sen4map_files": [os.path.basename(p) for p in sen4map], "ground_source": ground.source,
        "composite": asdict(composite), "patch": patch, "bands": list(SPECTRAL_NAMES), "report": report.to_dict(),
    })
    write_store(samples, out, overwrite=overwrite)
    return report


def _unusable(rec, exclude, splits) -> str | None:
    if rec.point_id in exclude:
        return "excluded by the authors' list"
    if rec.s2 is None:
        return rec.problem or "no pixels"
    if splits is not None and rec.point_id not in splits:
        return "not in the split file"
    return None


def _photo_embeddings(paths, root, clip_model, clip_pretrained) -> GroundEmbeddings:
    points: dict[str, str | None] = {}
    for path in paths:
        if not os.path.exists(path):
            raise InputError(f"Sen4Map file {path!r} does not exist; give the path of a Sen4Map .h5 file")
        with h5py().File(path, "r") as f:
            for key in f.keys():
                nuts0 = f[key].attrs.get("nuts0")
                pid = key[len(GROUP_PREFIX):] if key.startswith(GROUP_PREFIX) else key
                points[pid] = (
                    nuts0.decode() if isinstance(nuts0, bytes) else (str(nuts0) if nuts0 is not None else None)
                )
    return encode_photos(root, points, clip_model=clip_model, clip_pretrained=clip_pretrained)


def _labels(attrs: dict, row: dict | None) -> dict[str, int]:
    lc1 = attrs.get("lc1")
    out = {
        "lc": LAND_COVER.index(lc1), "crop": CROPS.index(lc1), "lu": LAND_USE.index(attrs.get("lu1")),
        "country": COUNTRY.index(attrs.get("nuts0")), "bioregion": BIOREGION.index(attrs.get("bioregion_class_code")),
        "eunis": EUNIS.index(attrs.get("EUNIS_L2")),
    }
    for task, column in CSV_COLUMNS.items():
        if row and row.get(column) not in (None, ""):
            value = TASKS[task].index(row[column])
            if value != MISSING or row[column].strip().upper() == "NA":
                out[task] = value
    return out


def _coords(attrs: dict, row: dict | None) -> tuple[float, float]:
    if row and row.get("lat") and row.get("lon"):
        return float(row["lat"]), float(row["lon"])  # the authors' table stores longitude under 'lat'
    c = attrs.get("Coordinates")
    if c is not None and len(np.atleast_1d(c)) == 2:
        return float(c[0]), float(c[1])
    return float("nan"), float("nan")


def _strip(pid: str) -> str:
    return pid[len(GROUP_PREFIX):] if pid.startswith(GROUP_PREFIX) else pid


def _read_label_csv(path: str) -> dict[str, dict]:
    if not os.path.exists(path):
        raise InputError(f"labels file {path!r} does not exist; give the Sen4Map label table (CSV)")
    with io.StringIO(read_text(path, kind="labels file"), newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "im_id" not in reader.fieldnames:
            raise InputError(f"labels file {path!r} needs an 'im_id' column (the authors' Sen4Map label table)")
        return {_strip(r["im_id"]): r for r in reader}


def _read_split_csv(path: str) -> dict[str, str]:
    if not os.path.exists(path):
        raise InputError(f"split file {path!r} does not exist; give a CSV with columns point_id,split")
    out = {}
    with io.StringIO(read_text(path, kind="split file"), newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"point_id", "split"} <= set(reader.fieldnames):
            raise InputError(f"split file {path!r} needs columns point_id,split")
        for i, r in enumerate(reader, start=2):
            if r["split"] not in SPLITS:
                raise InputError(
                    f"split file {path!r} line {i}: split {r['split']!r} is not one of {', '.join(SPLITS)}"
                )
            out[_strip(r["point_id"])] = r["split"]
    return out


def _hash_split(point_id: str, fractions, seed: int) -> str:
    """A split that depends only on the point id and seed, so adding files never reshuffles points."""
    u = int(hashlib.sha256(f"{seed}:{point_id}".encode()).hexdigest()[:12], 16) / float(16**12)
    return SPLITS[int(np.searchsorted(np.cumsum(fractions), u, side="right").clip(0, 2))]
