"""A synthetic cross-view data set: Sentinel-2 time series paired with ground embeddings.

Each class has the distinct 12-month spectral phenology of tsmap's demo scene
(:func:`tsmap.synthetic.class_spectrum`). A sample draws two acquisitions per month with a
per-sample phenology shift and brightness, per-acquisition noise and clouds (the same cloud
types and SCL codes as the demo scene), and is composited with :func:`tsmap.composite`, exactly
like a map. Its four ground views are scattered around its class's anchor, a text embedding of
the class (for the demo: the class's land-cover prompts through the configured text tower), so a
model that learns the pairing can be scored zero-shot against the same text embeddings.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import numpy as np

from tsmap.bands import SPECTRAL_NAMES
from tsmap.specs import CompositeSpec
from tsmap.synthetic import CLASSES, YEAR, class_spectrum
from tsmap.text_model import DEFAULT_MODEL

from .sen4map import composite_series
from .store import SPLITS, Samples

#: SCL code of a clear pixel per demo class (as in the demo scene).
_CLEAR_SCL = {"Water": 6, "Cropland": 4, "Woodland": 4, "Grassland": 4}
_DAYS = (5, 20)


@dataclass(frozen=True)
class CrossViewSpec:
    """How the synthetic samples vary."""

    classes: tuple[str, ...] = tuple(CLASSES)  #: demo class names (tsmap.synthetic.CLASSES)
    per_class: int = 400  #: samples per class
    patch: int = 1  #: patch side P
    phase_jitter: float = 0.5  #: std of the per-sample phenology shift, months
    brightness_jitter: float = 0.08  #: std of the per-sample brightness factor
    noise: float = 0.03  #: std of the multiplicative per-acquisition noise
    cloud_prob: float = 0.15  #: chance an acquisition is cloud, fringe, shadow or cirrus affected
    ground_noise: float = 0.35  #: norm of the per-view scatter around the anchor
    sample_noise: float = 0.15  #: norm of the per-sample scatter shared by its views
    missing_view_prob: float = 0.0  #: chance a ground view has no photo
    split: tuple[float, float, float] = (0.7, 0.1, 0.2)  #: train / val / test fractions
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [c for c in self.classes if c not in CLASSES]
        if unknown or len(self.classes) < 2:
            raise ValueError(f"classes must be >= 2 of {list(CLASSES)}, got {list(self.classes)}")
        if self.per_class < 1 or self.patch < 1:
            raise ValueError("per_class and patch must be >= 1")
        if not 0 <= self.cloud_prob <= 1 or not 0 <= self.missing_view_prob < 1:
            raise ValueError("cloud_prob must be in [0, 1] and missing_view_prob in [0, 1)")
        if len(self.split) != 3 or abs(sum(self.split) - 1) > 1e-6 or min(self.split) < 0:
            raise ValueError(f"split {self.split} must be three non-negative fractions summing to 1")


def make_crossview(anchors: np.ndarray, spec: CrossViewSpec = CrossViewSpec(), *,
                   composite: CompositeSpec = CompositeSpec(rule="authors")) -> Samples:
    """Samples for ``spec.classes``, ground views around ``anchors`` (K, D), one row per class.

    Labels are stored under task ``lc`` as the classes' land-cover indices (tsmap.synthetic.CLASSES).
    """
    anchors = np.asarray(anchors, dtype=np.float32)
    if anchors.ndim != 2 or anchors.shape[0] != len(spec.classes):
        raise ValueError(f"need one anchor row per class ({len(spec.classes)}), got shape {anchors.shape}")
    rng = np.random.default_rng(spec.seed)
    cls = np.repeat(np.arange(len(spec.classes)), spec.per_class)
    rng.shuffle(cls)
    n = cls.size
    dn, scl, dates = _acquisitions(cls, spec, rng)
    s2 = composite_series(dn, scl, dates, composite)  # (periods, 10, P, P, n)
    ground, valid = _ground(anchors[cls], spec, rng)
    split = np.array(SPLITS)[np.searchsorted(np.cumsum(spec.split), rng.random(n), side="right").clip(0, 2)]
    lc = np.array([CLASSES[c] for c in spec.classes])[cls]
    return Samples(
        s2=np.ascontiguousarray(np.moveaxis(s2, -1, 0)), ground=ground, ground_valid=valid, labels={"lc": lc},
        point_id=np.array([f"SYN{i:07d}" for i in range(n)]), lon=rng.uniform(5, 10, n), lat=rng.uniform(45, 55, n),
        split=split,
        attrs={"source": "synthetic cross-view generator", "synthetic": asdict(spec), "composite": asdict(composite),
               "patch": spec.patch, "bands": list(SPECTRAL_NAMES)},
    )


def acquisition_dates() -> list[np.datetime64]:
    """The synthetic acquisition dates: days 5 and 20 of every month of the demo year."""
    return [np.datetime64(dt.date(YEAR, m + 1, d), "ns") for m in range(12) for d in _DAYS]


def _acquisitions(cls: np.ndarray, spec: CrossViewSpec, rng) -> tuple[np.ndarray, np.ndarray, list]:
    """DN (T, 10, P, P, n) without offset, SCL (T, P, P, n), dates (T,)."""
    n, p = cls.size, spec.patch
    months = np.array([m + (d - 1) / 30 for m in range(12) for d in _DAYS])
    phase = rng.normal(0, spec.phase_jitter, n)
    bright = rng.normal(1, spec.brightness_jitter, n)
    grid = np.linspace(-4, 16, 401)
    table = np.stack([np.stack([class_spectrum(c, m) for m in grid]) for c in spec.classes])  # (K, G, 10)
    when = months[:, None] + phase[None, :]  # (T, n)
    refl = np.empty((months.size, len(SPECTRAL_NAMES), n))
    for k in range(len(spec.classes)):
        sel = cls == k
        for b in range(len(SPECTRAL_NAMES)):
            refl[:, b, sel] = np.interp(when[:, sel], grid, table[k, :, b])
    refl = refl * bright[None, None, :]
    refl = refl[:, :, None, None, :] * rng.normal(1, spec.noise, (months.size, len(SPECTRAL_NAMES), p, p, n))
    clear = np.array([_CLEAR_SCL.get(c, 5) for c in spec.classes])[cls]
    scl = np.broadcast_to(clear, (months.size, p, p, n)).copy()
    _clouds(refl, scl, spec.cloud_prob, rng)
    dn = np.clip(np.round(refl * 10_000), 1, 65_535).astype(np.float32)
    return dn, scl, acquisition_dates()


def _clouds(refl: np.ndarray, scl: np.ndarray, prob: float, rng) -> None:
    """Per acquisition and sample: a cloud core (SCL 9), its fringe (8), shadow (3) or cirrus (10)."""
    t, _, p, _, n = refl.shape
    kind = np.where(rng.random((t, n)) < prob, rng.integers(0, 4, (t, n)), -1)
    for code, k in ((9, 0), (8, 1), (3, 2), (10, 3)):
        ti, ni = np.nonzero(kind == k)
        if not ti.size:
            continue
        block = refl[ti, :, :, :, ni]  # (m, 10, P, P)
        if k == 0:
            block = 0.55 + rng.normal(0, 0.02, block.shape)
        elif k == 1:
            block = 0.5 * block + 0.2
        elif k == 2:
            block = 0.4 * block
        else:
            block = block + 0.05
        refl[ti, :, :, :, ni] = block
        scl[ti, :, :, ni] = code


def _ground(centres: np.ndarray, spec: CrossViewSpec, rng) -> tuple[np.ndarray, np.ndarray]:
    """Four views per sample: unit vectors around ``centres`` (n, D); missing views are zero."""
    n, d = centres.shape
    centres = centres / np.linalg.norm(centres, axis=1, keepdims=True)
    shared = rng.normal(0, spec.sample_noise / np.sqrt(d), (n, 1, d))
    views = centres[:, None, :] + shared + rng.normal(0, spec.ground_noise / np.sqrt(d), (n, 4, d))
    views /= np.linalg.norm(views, axis=-1, keepdims=True)
    valid = rng.random((n, 4)) >= spec.missing_view_prob
    valid[np.arange(n), rng.integers(0, 4, n)] = True  # at least one photo per sample
    return np.where(valid[..., None], views, 0).astype(np.float32), valid


def demo_anchors(classes: tuple[str, ...] = tuple(CLASSES), *, prompts: str = "land-cover",
                 clip_model: str = DEFAULT_MODEL, clip_pretrained: str = "none") -> np.ndarray:
    """Text embeddings (K, D) of the demo classes from the ``prompts`` set, as ``tsmap predict`` scores them."""
    from tsmap.scorers import class_embeddings
    from tsmap.prompts import load_prompts

    prompt_set = load_prompts(prompts)
    emb = class_embeddings(prompt_set, clip_model=clip_model, clip_pretrained=clip_pretrained).vectors
    return emb[[prompt_set.names.index(c) for c in classes]]
