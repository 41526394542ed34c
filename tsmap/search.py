"""Find Sentinel-2 L2A items: a STAC API (default Earth Search v1) or a static catalog on disk."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

from .errors import DataError, InputError
from .geo import BBox

EARTH_SEARCH = "https://earth-search.aws.element84.com/v1"
DEFAULT_COLLECTION = "sentinel-2-l2a"


@dataclass(frozen=True)
class Query:
    """What to look for."""

    bbox: BBox
    start: dt.datetime
    end: dt.datetime
    collection: str = DEFAULT_COLLECTION
    max_cloud: float = 100.0  #: keep items with ``eo:cloud_cover`` at most this (percent)

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise InputError(f"end date {self.end:%Y-%m-%d} is before start date {self.start:%Y-%m-%d}")
        if not 0 <= self.max_cloud <= 100:
            raise InputError(f"max cloud cover must be in [0, 100] percent, got {self.max_cloud}")

    @classmethod
    def for_year(cls, bbox: BBox, year: int, **kw) -> "Query":
        if not 2015 <= int(year) <= 2100:
            raise InputError(f"year {year} is outside the Sentinel-2 era; give a year from 2015 on")
        start = dt.datetime(int(year), 1, 1, tzinfo=dt.timezone.utc)
        end = dt.datetime(int(year), 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc)
        return cls(bbox=bbox, start=start, end=end, **kw)

    def describe(self) -> str:
        return (
            f"collection {self.collection!r}, {self.start:%Y-%m-%d}..{self.end:%Y-%m-%d}, "
            f"bbox {self.bbox.as_tuple()}, cloud cover <= {self.max_cloud:g}%"
        )


def search(query: Query, *, stac: str = EARTH_SEARCH) -> list:
    """Return the matching ``pystac.Item`` objects, sorted by time.

    ``stac`` is a STAC API URL or the path/URL of a static ``catalog.json``.
    """
    items = _search_static(query, stac) if _is_static(stac) else _search_api(query, stac)
    if not items:
        raise DataError(f"no Sentinel-2 items found for {query.describe()} in {stac}; widen the dates, bbox or cloud limit")
    return sorted(items, key=lambda it: it.datetime)


def _is_static(stac: str) -> bool:
    return stac.endswith(".json") or os.path.exists(stac)


def _search_api(query: Query, url: str) -> list:
    import pystac_client

    try:
        client = pystac_client.Client.open(url)
        result = client.search(
            collections=[query.collection],
            bbox=query.bbox.as_tuple(),
            datetime=(query.start, query.end),
            query={"eo:cloud_cover": {"lte": query.max_cloud}},
        )
        return list(result.items())
    except Exception as exc:  # network and API errors: one clear line
        raise DataError(f"STAC search at {url} failed: {exc}; check the URL and your network") from exc


def _search_static(query: Query, path: str) -> list:
    import pystac

    if "://" not in path and not os.path.exists(path):
        raise InputError(f"STAC catalog {path!r} does not exist; give the path of a catalog.json or a STAC API URL")
    try:
        catalog = pystac.read_file(path)
    except Exception as exc:
        raise InputError(f"{path!r} is not a readable STAC catalog ({exc}); give a catalog.json or a STAC API URL") from exc
    if isinstance(catalog, pystac.Item):
        candidates = [catalog]
    else:
        candidates = list(catalog.get_items(recursive=True))
    return [it for it in candidates if _matches(it, query)]


def _matches(item, query: Query) -> bool:
    if item.collection_id not in (None, query.collection):
        return False
    if item.datetime is None or not query.start <= _aware(item.datetime) <= query.end:
        return False
    if item.properties.get("eo:cloud_cover", 0.0) > query.max_cloud:
        return False
    w, s, e, n = item.bbox
    q = query.bbox
    return w < q.east and e > q.west and s < q.north and n > q.south


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)
