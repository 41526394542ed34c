"""A STAC item describing a run's outputs: footprint, grid, assets and provenance.

Written beside the maps as ``<stem>_item.json`` with relative asset hrefs, so the folder can be
moved or published as is. Contains nothing time-dependent: an identical run writes an identical file.
"""

from __future__ import annotations

import json
import os

from . import __version__
from .geo import Grid

EXTENSIONS = [
    "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/classification/v2.0.0/schema.json",
    "https://stac-extensions.github.io/processing/v1.2.0/schema.json",
]


def write_stac_item(
    path: str | os.PathLike,
    *,
    grid: Grid,
    assets: dict[str, dict],
    provenance: dict,
    start: str | None = None,
    end: str | None = None,
) -> str:
    """Write the item JSON at ``path``. ``assets`` maps a key to ``{"href": file, ...extra fields}``."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    w, s, e, n = grid.lonlat_bbox().as_tuple()
    item = {
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": EXTENSIONS,
        "id": os.path.basename(path).removesuffix(".json").removesuffix("_item"),
        "bbox": [w, s, e, n],
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
        "properties": {
            "datetime": None,
            "start_datetime": start,
            "end_datetime": end,
            "proj:code": f"EPSG:{grid.epsg}",
            "proj:shape": list(grid.shape),
            "proj:transform": list(grid.transform)[:6],
            "processing:software": {"tsmap": __version__},
            **{f"tsmap:{k}": v for k, v in sorted(provenance.items())},
        },
        "links": [],
        "assets": {key: {**a, "href": os.path.relpath(os.path.abspath(a["href"]), folder)} for key, a in assets.items()},
    }
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(item, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)
    return path
