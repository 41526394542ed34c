"""Turn a finished parts store into the deliverables: COGs, a STAC item and (optionally) a quicklook."""

from __future__ import annotations

import json
import os

import numpy as np

from .store import RasterStore
from .write import Product, write_cog_blocks


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
    from .quicklook import write_quicklook
    from .stac_item import write_stac_item

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
    main = products[0]
    assets = {_asset_key(p): _asset(p) for p in products}
    if quicklook:
        png = write_quicklook(main.path, quicklook_path(main.path), title=quicklook_title(main, item_tags, period, parts.grid.epsg),
                              legend=main.legend, scenic="scenic" in main.layers)
        assets["quicklook"] = {"href": png, "type": "image/png", "roles": ["overview"], "title": "quicklook with legend"}
        written.append(png)
    assets.update(extra_assets or {})
    written.append(write_stac_item(item_path(main.path), grid=parts.grid, assets=assets, provenance=item_tags,
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


def item_path(main: str) -> str:
    """The STAC item beside the main map: ``<stem>_item.json``."""
    return f"{main[: main.rfind('.')]}_item.json"


def quicklook_path(main: str) -> str:
    """The quicklook beside the main map: ``<stem>_quicklook.png``."""
    return f"{main[: main.rfind('.')]}_quicklook.png"


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
