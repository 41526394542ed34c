"""Turn a finished parts store into the deliverables: COGs, a STAC item and (optionally) a quicklook."""

from __future__ import annotations

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
) -> list[str]:
    """Write every product COG, then ``<stem>_item.json`` (and ``<stem>_quicklook.png``); return the paths.

    Each COG gets ``tags`` (the run's provenance) plus its product's own tags; the STAC item all of
    them. ``classes`` names the values of the first product when it is a class map.
    """
    from .quicklook import write_quicklook
    from .stac_item import write_stac_item

    written, item_tags = [], dict(tags)
    for product in products:
        item_tags.update(product.tags)
        blocks = ((t.slices, np.stack([parts.read(t, layer) for layer in product.layers])) for t in parts.tiles)
        written.append(
            write_cog_blocks(
                product.path, parts.grid, blocks, count=len(product.layers), dtype=product.dtype,
                nodata=product.nodata, tags={**tags, **product.tags}, band_names=list(product.layers), colormap=product.colormap,
            )
        )
    main = products[0]
    stem = main.path[: main.path.rfind(".")]
    assets = {_asset_key(p): _asset(p, classes if p is main else None) for p in products}
    if quicklook:
        legend = [(name, main.colormap[i]) for i, name in enumerate(classes)] if classes and main.colormap else None
        png = write_quicklook(main.path, f"{stem}_quicklook.png", title=os.path.basename(main.path), classes=legend)
        assets["quicklook"] = {"href": png, "type": "image/png", "roles": ["overview"]}
        written.append(png)
    assets.update(extra_assets or {})
    written.append(write_stac_item(f"{stem}_item.json", grid=parts.grid, assets=assets, provenance=item_tags, start=period[0], end=period[1]))
    return written


def _asset_key(product: Product) -> str:
    return product.layers[0] if len(product.layers) == 1 else "confidence"


def _asset(product: Product, classes: list[str] | None) -> dict:
    nodata = None if isinstance(product.nodata, float) and np.isnan(product.nodata) else product.nodata
    asset = {
        "href": product.path,
        "type": "image/tiff; application=geotiff; profile=cloud-optimized",
        "roles": ["data"],
        "title": ", ".join(product.layers),
        "raster:bands": [{"name": layer, "data_type": product.dtype, "nodata": "nan" if nodata is None else nodata} for layer in product.layers],
    }
    if classes:
        asset["classification:classes"] = [
            {"value": i, "name": name, **({"color_hint": "%02X%02X%02X" % product.colormap[i][:3]} if product.colormap else {})}
            for i, name in enumerate(classes)
        ]
    return asset
