"""Helpers that write tiny files in exactly the public formats, for tests and examples.

- :func:`write_sen4map`: a Sen4Map HDF5 file (one ``Lucas_Point_<ID>`` group per point, datasets
  B2..B12 and SCL of shape (acquisitions, S, S), attributes Image_ID, lc1, lu1, nuts0, Coordinates).
- :func:`write_embedding_file`: the LUCAS frozen-CLIP embeddings dict ``"{NUTS0}_{ID}{DIR}" -> (1, D)``.
- :func:`point_series`: plausible digital numbers of a demo class over given dates.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from tsmap.synthetic import class_spectrum

from .sen4map import GROUP_PREFIX, H5_BANDS, h5py


def product_id(date: dt.date, tile: str = "T32ULB") -> str:
    """A Sentinel-2 L2A product id for ``date``, in the ESA naming scheme Sen4Map stores."""
    return f"S2A_MSIL2A_{date:%Y%m%d}T103021_N0206_R108_{tile}_{date:%Y%m%d}T124015"


def point_series(cls: str, dates: list[dt.date], *, size: int = 64, rng=None, noise: float = 0.02) -> np.ndarray:
    """DN (T, 10, size, size) of demo class ``cls`` on ``dates`` (no +1000 offset, like Sen4Map 2018)."""
    rng = rng or np.random.default_rng(0)
    refl = np.stack([class_spectrum(cls, d.month - 1 + (d.day - 1) / 30) for d in dates])  # (T, 10)
    refl = refl[:, :, None, None] * rng.normal(1, noise, (len(dates), 10, size, size))
    return np.clip(np.round(refl * 10_000), 1, 65_535).astype(np.uint16)


def write_sen4map(path: str, points: list[dict]) -> str:
    """Write points ``{"id", "dn" (T, 10, S, S), "scl" (T, S, S), "dates", "attrs"}`` as a Sen4Map file.

    ``"image"`` (12, 10, S, S) instead of dn/scl/dates writes the authors' pre-composited layout.
    """
    with h5py().File(path, "w") as f:
        for p in points:
            g = f.create_group(f"{GROUP_PREFIX}{p['id']}")
            if "image" in p:
                g.create_dataset("image", data=np.asarray(p["image"], dtype=np.float32))
            else:
                for i, band in enumerate(H5_BANDS):
                    g.create_dataset(band, data=np.asarray(p["dn"][:, i], dtype=np.uint16))
                g.create_dataset("SCL", data=np.asarray(p["scl"], dtype=np.uint8))
                g.attrs["Image_ID"] = [product_id(d) for d in p["dates"]]
            for key, value in p.get("attrs", {}).items():
                g.attrs[key] = value
    return path


def write_embedding_file(path: str, entries: dict[str, np.ndarray]) -> str:
    """Save ``{"{NUTS0}_{ID}{DIR}": (D,) vector}`` as the published ``.pt`` dict of (1, D) tensors."""
    import torch

    torch.save({k: torch.as_tensor(np.asarray(v, dtype=np.float32)).reshape(1, -1) for k, v in entries.items()}, path)
    return path
