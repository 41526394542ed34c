"""The imagery side of a run: search the items, fix the grid, describe the encoder and what to record."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

from . import __version__
from .encode import EncoderSpec
from .errors import InputError
from .geo import Grid
from .items import band_assets, check_href, prepare_item
from .retry import RetryPolicy
from .catalog import EARTH_SEARCH, SOURCES, Query, search
from .tasks import Imagery

log = logging.getLogger("tsmap")


@dataclass(frozen=True)
class Source:
    """What was found, on which grid, encoded by which model, and the provenance every output records."""

    items: tuple
    grid: Grid
    encoder: EncoderSpec
    dim: int  #: embedding size of the encoder
    imagery: Imagery
    provenance: dict
    period: tuple[str, str]  #: start and end of the query (ISO dates)


def open_source(*, bbox=None, year=None, grid=None, query=None, stac=EARTH_SEARCH, encoder: EncoderSpec, retry=None,
                aoi=None, allow_local_assets: bool = False) -> Source:
    """Search the imagery for an AOI and year (or ``query``) and load the encoder (once, in this process).

    ``aoi`` (a :class:`tsmap.aoi.AOI`) limits the outputs to its polygons; its box is the default ``bbox``.
    Asset hrefs of a remote catalog (a STAC API, a catalog URL) must be http(s) or object-store URLs;
    local files are read only from a local catalog, or with ``allow_local_assets`` (:func:`check_hrefs`).
    """
    if query is None:
        bbox = bbox or (aoi.bbox if aoi is not None else None)
        if bbox is None or year is None:
            raise InputError("give bbox and year (or a query) to map an area")
        query = Query.for_year(bbox, year)
    grid = grid or Grid.from_bbox(query.bbox)
    pixel_encoder = encoder.load()
    if encoder.checkpoint is None:
        log.warning(
            "no checkpoint given: the satellite encoder has RANDOM weights (seed %d); maps are meaningless. "
            "Pass --checkpoint (e.g. hf://pallavijainpj/TimeSenCLIP/TimeSenCLIP_1x1.ckpt) for real results",
            encoder.seed,
        )
    query = query.for_stac(stac)  # the collections searched, for the provenance
    items = tuple(search(query, stac=stac))
    for item in items:
        band_assets(item)  # a missing band is an input problem: say so now, before any tile runs
    check_hrefs(items, stac=stac, allow_local=allow_local_assets)
    log.info("found %d items; grid %s x %s px in EPSG:%d", len(items), *grid.shape, grid.epsg)
    prep = pixel_encoder.preprocessing
    hrefs = json.dumps([[it.id, sorted(a.href for a in it.assets.values())] for it in items])
    provenance = {
        "tsmap_version": __version__,
        "checkpoint": encoder.weights_id,
        "preprocessing": json.dumps(prep.to_dict(), sort_keys=True, default=str),
        "stac": stac,
        "query": query.describe(),
        "items": json.dumps([it.id for it in items]),
        "items_sha256": hashlib.sha256(hrefs.encode()).hexdigest(),
        "item_hrefs": json.dumps([it.get_self_href() for it in items]),
        "synthetic": "yes" if any(it.properties.get("tsmap:synthetic") for it in items) else "no",
        **({"aoi": aoi.geometry} if aoi is not None else {}),
    }
    imagery = Imagery(items, grid, prep, retry or RetryPolicy(), aoi)
    return Source(items, grid, encoder, pixel_encoder.out_dim, imagery, provenance, (query.start.isoformat(), query.end.isoformat()))


def check_hrefs(items, *, stac: str, allow_local: bool = False) -> None:
    """Refuse hrefs the catalog ``stac`` may not give (:func:`tsmap.items.check_href`)."""
    where = SOURCES.get(stac, stac)
    local_catalog = "://" not in where or where.lower().startswith("file://")
    for item in items:
        for band, asset in prepare_item(item)["assets"].items():
            check_href(asset["href"], item_id=item.id, band=band, catalog=stac, local_ok=local_catalog or allow_local)
