"""What every output of a run records about where it came from: one typed record, rendered and read back.

:func:`tsmap.pipeline.open_source` builds one :class:`Provenance` per run. :meth:`Provenance.tags` renders
it as the text tags every COG carries, the ``tsmap_provenance`` attribute of an embedding store and the
inputs a ledger digests (the STAC item types those values back, :func:`tsmap.outputs.typed_value`);
:meth:`Provenance.from_tags` reads it back from any of them (``tsmap info``, scoring a store).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from ._version import __version__


@dataclass(frozen=True)
class Provenance:
    """The imagery and the encoder behind a run's outputs."""

    checkpoint: str  #: the encoder weights' id (``EncoderSpec.weights_id``; ``random-init...`` for random weights)
    preprocessing: str  #: the encoder's preprocessing spec as JSON (sorted keys)
    stac: str  #: the catalog searched (a name such as ``earth-search``, a URL or a path)
    query: str  #: the search, in words (``Query.describe``)
    items: tuple[str, ...] = ()  #: ids of the Sentinel-2 items found
    items_sha256: str = ""  #: SHA-256 of the items' ids and asset hrefs
    item_hrefs: tuple[str | None, ...] = ()  #: where each item's JSON lives (links of the STAC item)
    synthetic: bool = False  #: whether any item is synthetic imagery (:mod:`tsmap.synthetic`)
    aoi: str | None = None  #: the AOI polygons as GeoJSON, when the run was limited to them
    encoding: str | None = None  #: how the embeddings are stored (``float16``, ``int8``), once chosen
    tsmap_version: str = __version__

    @classmethod
    def of(cls, items, *, checkpoint: str, preprocessing: dict, stac: str, query: str, aoi: str | None = None,
           encoding: str | None = None) -> "Provenance":
        """The record of a run over the pystac ``items``."""
        hrefs = json.dumps([[it.id, sorted(a.href for a in it.assets.values())] for it in items])
        return cls(
            checkpoint=checkpoint, preprocessing=json.dumps(preprocessing, sort_keys=True, default=str), stac=stac,
            query=query, items=tuple(it.id for it in items), items_sha256=hashlib.sha256(hrefs.encode()).hexdigest(),
            item_hrefs=tuple(it.get_self_href() for it in items),
            synthetic=any(bool(it.properties.get("tsmap:synthetic")) for it in items), aoi=aoi, encoding=encoding,
        )

    @property
    def n_items(self) -> int:
        return len(self.items)

    def tags(self) -> dict[str, str]:
        """The record as text tags, in the order and form every output has always held them."""
        tags = {
            "tsmap_version": self.tsmap_version,
            "checkpoint": self.checkpoint,
            "preprocessing": self.preprocessing,
            "stac": self.stac,
            "query": self.query,
            "items": json.dumps(list(self.items)),
            "items_sha256": self.items_sha256,
            "item_hrefs": json.dumps(list(self.item_hrefs)),
            "synthetic": "yes" if self.synthetic else "no",
        }
        if self.aoi is not None:
            tags["aoi"] = self.aoi
        if self.encoding is not None:
            tags["encoding"] = self.encoding
        return tags

    @classmethod
    def from_tags(cls, tags: Mapping) -> "Provenance":
        """The record held in ``tags`` (a COG's tags, a store's ``tsmap_provenance``, a STAC item's properties
        without their ``tsmap:`` prefix); keys it lacks take their defaults, other keys are ignored."""
        return cls(
            checkpoint=str(tags.get("checkpoint", "")), preprocessing=_text(tags.get("preprocessing", "")),
            stac=str(tags.get("stac", "")), query=str(tags.get("query", "")), items=_names(tags.get("items")),
            items_sha256=str(tags.get("items_sha256", "")), item_hrefs=_names(tags.get("item_hrefs"), keep_none=True),
            synthetic=str(tags.get("synthetic", "no")).lower() in ("yes", "true"), aoi=_optional(tags.get("aoi")),
            encoding=_optional(tags.get("encoding")), tsmap_version=str(tags.get("tsmap_version", "")),
        )


def _names(value, *, keep_none: bool = False) -> tuple:
    """A list tag read back: a JSON array, a list already parsed, or the comma-joined text of early outputs.

    Empty text or an empty array is no names at all (never one empty name)."""
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        names = list(value)
    else:
        text = str(value).strip()
        names = json.loads(text) if text.startswith("[") else text.split(",")
    return tuple(n if n is None else str(n) for n in names if n != "" and (keep_none or n is not None))


def _text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _optional(value) -> str | None:
    return None if value is None else _text(value)
