"""Turn a finished parts store into the deliverables: COGs, a STAC item and (optionally) a quicklook.

The STAC item, ``<stem>_item.json`` beside the outputs, describes them: footprint, grid, assets,
provenance and source items. Asset hrefs are relative to the item's folder
(so the folder can be moved or published as is), ``derived_from`` links point at the Sentinel-2
items the outputs were made from, and provenance properties keep their types (numbers, lists,
objects). The item validates against the schemas of the extensions it declares
(``tests/test_interop.py`` checks that offline). Nothing in it is time-dependent: an identical
run writes an identical file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from ._version import __version__
from ._files import write_text
from .geo import Grid
from .quicklook import write_quicklook
from .scorers import SCENIC_LAYER
from .store import RasterStore
from .write import Product, write_cog_blocks


@dataclass(frozen=True)
class OutputPaths:
    """Every file name of a run, decided from its main output ``main`` (``--out``): the one place they are made.

    ``main`` is a map (``map.tif``) or an embedding store (``emb.zarr``); the deliverables beside it share
    its stem (``map``), the run's own files add a suffix to the whole name (``map.tif.ledger.jsonl``).
    """

    main: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "main", os.fspath(self.main))

    @property
    def stem(self) -> str:
        """The name without its extension (``out/map.tif`` -> ``out/map``); a name without one is its own stem."""
        return self.main[: self.main.rfind(".")] if "." in os.path.basename(self.main) else self.main

    @property
    def score(self) -> str:
        """The confidence COG beside a class map (score, probability, margin)."""
        return f"{self.stem}_score.tif"

    @property
    def scenic(self) -> str:
        """The scenicness COG that ``predict --scenic`` writes beside the class map."""
        return f"{self.stem}_scenic.tif"

    @property
    def item(self) -> str:
        """The STAC item describing the outputs."""
        return f"{self.stem}_item.json"

    @property
    def quicklook(self) -> str:
        """The PNG picture of the main map with its legend."""
        return f"{self.stem}_quicklook.png"

    @property
    def ledger(self) -> str:
        """The per-tile ledger that lets the same command resume (:mod:`tsmap.ledger`)."""
        return f"{self.main}.ledger.jsonl"

    @property
    def parts(self) -> str:
        """The per-tile map layers of an unfinished run (a Zarr store)."""
        return f"{self.main}.parts.zarr"

    @property
    def partial(self) -> str:
        """An embedding store while it is being built; moved to ``main`` when complete."""
        return f"{self.main}.partial"

    @property
    def lock(self) -> str:
        """The lock file that keeps a second run off the same output (:mod:`tsmap.lock`)."""
        return f"{self.main}.lock"

    @property
    def stage_prefix(self) -> str:
        """Start of the name of the hidden folder the deliverables are staged in before they appear together."""
        return f".{os.path.basename(self.main)}.deliver-"


def publish(
    parts: RasterStore,
    products: list[Product],
    *,
    tags: dict,
    classes: list[str] | None = None,
    quicklook: bool = False,
    extra_assets: dict[str, dict] | None = None,
    period: tuple[str | None, str | None] = (None, None),
    folder: str | None = None,
) -> list[str]:
    """Write every product COG, then ``<stem>_item.json`` (and ``<stem>_quicklook.png``); return the paths.

    Each COG gets ``tags`` (the run's provenance) plus its product's own tags; the STAC item all of
    them. A class map's legend (``product.legend``) becomes its colour table, GDAL categories
    (``<cog>.aux.xml``), STAC classes and the quicklook's legend. ``classes`` is accepted for
    callers that name the values of the first product without a legend. ``folder``: where the files
    will be moved to (and the item's relative hrefs point from), when they are staged elsewhere first.
    """
    written, item_tags = [], dict(tags)
    for product in products:
        item_tags.update(product.tags)
        notes = {"warnings": json.dumps(warnings_of({**tags, **product.tags}))}  # the file says when it is a demo only
        blocks = ((t.slices, np.stack([parts.read(t, layer) for layer in product.layers])) for t in parts.tiles)
        categories = product.legend.categories() if product.legend is not None else None
        written.append(
            write_cog_blocks(
                product.path, parts.grid, blocks, count=len(product.layers), dtype=product.dtype,
                nodata=product.nodata, tags={**tags, **product.tags, **notes}, band_names=list(product.layers),
                colormap=product.colormap, categories=categories,
            )
        )
        if categories:
            written.append(f"{product.path}.aux.xml")
    item_tags["warnings"] = json.dumps(warnings_of(item_tags))
    main, paths = products[0], OutputPaths(products[0].path)
    assets = {_asset_key(p): _asset(p) for p in products}
    if quicklook:
        title = quicklook_title(main, item_tags, period, parts.grid.epsg)
        png = write_quicklook(main.path, paths.quicklook, title=title, legend=main.legend,
                              scenic=SCENIC_LAYER in main.layers)
        assets["quicklook"] = {
            "href": png,
            "type": "image/png",
            "roles": ["overview"],
            "title": "quicklook with legend",
        }
        written.append(png)
    assets.update(extra_assets or {})
    written.append(write_stac_item(paths.item, grid=parts.grid, assets=assets, provenance=item_tags,
                                   start=period[0], end=period[1], folder=folder))
    return written


def quicklook_title(product: Product, tags: dict, period, epsg: int) -> str:
    """``<prompt set> | <start>..<end> | EPSG:<code>``, then a line of warnings (synthetic imagery, random weights)."""
    what = tags.get("prompts_name") or tags.get("scenic_prompts") or os.path.basename(product.path)
    when = "..".join(str(p)[:10] for p in period if p) or "period unknown"
    line = " | ".join((str(what), when, f"EPSG:{epsg}"))
    notes = warnings_of(tags)
    return line + ("\n" + "; ".join(notes) if notes else "")


def warnings_of(tags: dict) -> list[str]:
    """What makes a map a demonstration only: synthetic imagery, a random encoder or text tower."""
    notes = []
    if str(tags.get("synthetic", "")) == "yes":
        notes.append("SYNTHETIC imagery")
    if str(tags.get("checkpoint", "")).startswith("random-init"):
        notes.append("RANDOM encoder weights")
    if str(tags.get("text_model", "")).endswith("/none"):
        notes.append("RANDOM text tower")
    return notes


def _asset_key(product: Product) -> str:
    return product.layers[0] if len(product.layers) == 1 else "confidence"


def _asset(product: Product) -> dict:
    nodata = None if isinstance(product.nodata, float) and np.isnan(product.nodata) else product.nodata
    asset = {
        "href": product.path,
        "type": "image/tiff; application=geotiff; profile=cloud-optimized",
        "roles": ["data"],
        "title": ", ".join(product.layers),
        "raster:bands": [{"name": layer, "data_type": product.dtype, "nodata": "nan" if nodata is None else nodata}
                         for layer in product.layers],
    }
    if product.legend is not None:
        asset["classification:classes"] = product.legend.stac_classes()
    return asset


# --- The STAC item ---

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
            "processing:lineage": "TimeSenCLIP embeddings of cloud-masked Sentinel-2 L2A composites, scored against "
            "text prompts",
            **{f"tsmap:{k}": v for k, v in typed.items()},
        },
        "links": [
            {"rel": "derived_from", "href": _href(h, folder), "type": "application/geo+json"}
            for h in typed_value(provenance.get("item_hrefs", "[]"))
            if h
        ],
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
