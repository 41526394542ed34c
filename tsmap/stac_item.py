"""A STAC item describing a run's outputs: footprint, grid, assets, provenance and source items.

Written beside the outputs as ``<stem>_item.json``. Asset hrefs are relative to the item's folder
(so the folder can be moved or published as is), ``derived_from`` links point at the Sentinel-2
items the outputs were made from, and provenance properties keep their types (numbers, lists,
objects). The item validates against the schemas of the extensions it declares
(``tests/test_stac_item.py`` checks that offline). Nothing in it is time-dependent: an identical
run writes an identical file.
"""

from __future__ import annotations

import json
import os

from . import __version__
from ._files import write_text
from .geo import Grid

PROJECTION = "https://stac-extensions.github.io/projection/v1.0.0/schema.json"
RASTER = "https://stac-extensions.github.io/raster/v1.1.0/schema.json"
CLASSIFICATION = "https://stac-extensions.github.io/classification/v1.1.0/schema.json"
PROCESSING = "https://stac-extensions.github.io/processing/v1.1.0/schema.json"
#: Provenance keys that become links instead of properties.
LINK_KEYS = ("item_hrefs",)


def write_stac_item(
    path: str | os.PathLike,
    *,
    grid: Grid,
    assets: dict[str, dict],
    provenance: dict,
    start: str | None = None,
    end: str | None = None,
    folder: str | None = None,
) -> str:
    """Write the item JSON at ``path``. ``assets`` maps a key to ``{"href": file, ...extra fields}``.

    Relative hrefs are relative to ``folder`` (default: the item's own), the folder the item ends up
    in when it is written elsewhere first; asset files given in ``path``'s folder count as being there.
    """
    path = os.fspath(path)
    here = os.path.dirname(os.path.abspath(path))
    folder = os.path.abspath(folder or here)
    assets = {k: {**a, "href": _moved(a["href"], here, folder)} for k, a in assets.items()}
    box = grid.lonlat_bbox()
    w, s, e, n = box.as_tuple()
    typed = {k: typed_value(v) for k, v in sorted(provenance.items()) if k not in LINK_KEYS}
    item = {
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": _extensions(assets),
        "id": os.path.basename(path).removesuffix(".json").removesuffix("_item"),
        "bbox": [w, s, e, n],
        "geometry": box.geometry(),
        "properties": {
            "datetime": None,
            "start_datetime": start,
            "end_datetime": end,
            "proj:epsg": int(grid.epsg),
            "proj:shape": [int(v) for v in grid.shape],
            "proj:transform": [float(v) for v in list(grid.transform)[:6]],
            "processing:software": {"tsmap": __version__},
            "processing:lineage": "TimeSenCLIP embeddings of cloud-masked Sentinel-2 L2A composites, scored against text prompts",
            **{f"tsmap:{k}": v for k, v in typed.items()},
        },
        "links": [{"rel": "derived_from", "href": _href(h, folder), "type": "application/geo+json"}
                  for h in typed_value(provenance.get("item_hrefs", "[]")) if h],
        "assets": {key: {**a, "href": _href(a["href"], folder)} for key, a in assets.items()},
    }
    write_text(path, json.dumps(item, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return path


def _moved(href: str, here: str, folder: str) -> str:
    """A local file in ``here`` (the staging folder) as the file of that name in ``folder``."""
    path = str(href)
    if "://" in path or os.path.dirname(os.path.abspath(path)) != here:
        return href
    return os.path.join(folder, os.path.basename(path))


def typed_value(value):
    """A provenance value as its JSON type: tags hold text, so ``"[1, 2]"``, ``"3"``, ``"{...}"`` are parsed back."""
    if not isinstance(value, str) or value[:1] not in '[{-0123456789tfn"':
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _extensions(assets: dict) -> list[str]:
    used = [PROJECTION, PROCESSING]
    if any("raster:bands" in a for a in assets.values()):
        used.append(RASTER)
    if any("classification:classes" in a or any("classification:classes" in b for b in a.get("raster:bands", []))
           for a in assets.values()):
        used.append(CLASSIFICATION)
    return sorted(used)


def _href(href: str, folder: str) -> str:
    """URLs as they are; local files relative to the item's folder (resolvable wherever the folder goes)."""
    href = str(href)
    if "://" in href:
        return href
    return os.path.relpath(os.path.abspath(href), folder).replace(os.sep, "/")
