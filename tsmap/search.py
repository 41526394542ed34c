"""Find Sentinel-2 L2A items: a STAC API (default Earth Search v1) or a static catalog.

``stac`` is a known source name (:data:`SOURCES`), any STAC API URL, or a static catalog: a
``catalog.json``/``collection.json``, a folder holding one, an item or an item collection
(``.geojson``), on disk or at a URL. Filters: bbox, dates, ``eo:cloud_cover``.
"""

from __future__ import annotations

import datetime as dt
import os
import warnings
from dataclasses import dataclass

from .errors import DataError, InputError
from .geo import BBox

EARTH_SEARCH = "https://earth-search.aws.element84.com/v1"
PLANETARY_COMPUTER = "https://planetarycomputer.microsoft.com/api/stac/v1"
CDSE = "https://stac.dataspace.copernicus.eu/v1"
#: Source names accepted for ``stac`` (reading CDSE assets needs S3 credentials, see the README).
SOURCES = {"earth-search": EARTH_SEARCH, "planetary-computer": PLANETARY_COMPUTER, "cdse": CDSE}
DEFAULT_COLLECTION = "sentinel-2-l2a"
#: Launch of Sentinel-2A: no L2A data before it.
FIRST_DATE = dt.date(2015, 6, 23)
#: Longest search window: the model reads one year of calendar-month composites.
MAX_SPAN_DAYS = 366


@dataclass(frozen=True)
class Query:
    """What to look for. ``start`` and ``end`` are inclusive; naive times are taken as UTC."""

    bbox: BBox
    start: dt.datetime
    end: dt.datetime
    collection: str = DEFAULT_COLLECTION
    max_cloud: float = 100.0  #: keep items with ``eo:cloud_cover`` at most this (percent)

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _aware(self.start))
        object.__setattr__(self, "end", _aware(self.end))
        if self.end < self.start:
            raise InputError(f"end date {self.end:%Y-%m-%d} is before start date {self.start:%Y-%m-%d}; swap them")
        if self.end.date() < FIRST_DATE:
            raise InputError(f"dates end {self.end:%Y-%m-%d}, before Sentinel-2 data begin ({FIRST_DATE}); give later dates")
        span = (self.end - self.start).days
        if span > MAX_SPAN_DAYS:
            raise InputError(
                f"dates span {span} days; monthly composites need one year at most, so give a window of <= {MAX_SPAN_DAYS} days"
            )
        if not 0 <= self.max_cloud <= 100:
            raise InputError(f"max cloud cover must be in [0, 100] percent, got {self.max_cloud}")

    @classmethod
    def for_year(cls, bbox: BBox, year: int, **kw) -> "Query":
        """The calendar year ``year`` (UTC)."""
        try:
            year = int(year)
        except (TypeError, ValueError):
            raise InputError(f"year {year!r} is not a whole number; give e.g. 2023") from None
        if not FIRST_DATE.year <= year <= 2100:
            raise InputError(f"year {year} is outside the Sentinel-2 era; give a year from {FIRST_DATE.year} on")
        start = dt.datetime(year, 1, 1, tzinfo=dt.timezone.utc)
        end = dt.datetime(year, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc)
        return cls(bbox=bbox, start=start, end=end, **kw)

    @classmethod
    def for_dates(cls, bbox: BBox, start: str | dt.date, end: str | dt.date, **kw) -> "Query":
        """From ``start`` to ``end`` inclusive, each a ``YYYY-MM-DD`` string or a date."""
        first = _parse_date(start, "start")
        last = _parse_date(end, "end")
        return cls(
            bbox=bbox,
            start=dt.datetime.combine(first, dt.time(0, 0), tzinfo=dt.timezone.utc),
            end=dt.datetime.combine(last, dt.time(23, 59, 59), tzinfo=dt.timezone.utc),
            **kw,
        )

    def describe(self) -> str:
        return (
            f"collection {self.collection!r}, {self.start:%Y-%m-%d}..{self.end:%Y-%m-%d}, "
            f"bbox {self.bbox.as_tuple()}, cloud cover <= {self.max_cloud:g}%"
        )

    def matches(self, item) -> bool:
        """Whether a ``pystac.Item`` passes this query (for catalogs that cannot search)."""
        if item.collection_id not in (None, self.collection):
            return False
        if item.datetime is None or not self.start <= _aware(item.datetime) <= self.end:
            return False
        if item.properties.get("eo:cloud_cover", 0.0) > self.max_cloud:
            return False
        if item.bbox is None:
            return True
        b = item.bbox
        w, s, e, n = (b[0], b[1], b[3], b[4]) if len(b) == 6 else b
        q = self.bbox
        return w < q.east and e > q.west and s < q.north and n > q.south


def search(query: Query, *, stac: str = EARTH_SEARCH) -> list:
    """The matching ``pystac.Item`` objects, sorted by time; :class:`DataError` if there are none.

    ``stac`` is a name from :data:`SOURCES`, a STAC API URL, or a static catalog / item collection.
    """
    where = SOURCES.get(stac, stac)
    items = _search_static(query, where) if is_static(where) else _search_api(query, where)
    items = [it for it in items if query.matches(it)]  # APIs without the query extension ignore max_cloud
    if not items:
        raise DataError(
            f"no Sentinel-2 items found for {query.describe()} in {stac}; widen the dates, bbox or cloud limit "
            "(and check the bbox order: W,S,E,N in lon/lat degrees)"
        )
    return sorted(items, key=lambda it: it.datetime)


def is_static(stac: str) -> bool:
    """True for a local path or a URL of a JSON file (static catalog); False for a STAC API URL."""
    return "://" not in stac or stac.lower().endswith((".json", ".geojson"))


def _search_api(query: Query, url: str) -> list:
    import pystac_client

    try:
        client = pystac_client.Client.open(url)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DoesNotConformTo(query): then filtered here instead
            result = client.search(
                collections=[query.collection], bbox=query.bbox.as_tuple(), datetime=(query.start, query.end),
                **_cloud_filter(client, query.max_cloud),
            )
            return list(result.items())
    except Exception as exc:  # network and API errors: one clear line
        text = " ".join(str(exc).split())[:200]
        raise DataError(
            f"STAC search at {url} failed ({type(exc).__name__}: {text}); check the URL and your network, "
            "or search a local static catalog instead: --stac catalog.json"
        ) from exc


def _cloud_filter(client, max_cloud: float) -> dict:
    """The cloud limit in the API's own terms: the query extension, else CQL2 (stac-fastapi-geoparquet has
    only that), else nothing (then :func:`search` filters)."""
    from pystac_client.conformance import ConformanceClasses

    if max_cloud >= 100:
        return {}
    if client.conforms_to(ConformanceClasses.QUERY):
        return {"query": {"eo:cloud_cover": {"lte": max_cloud}}}
    if client.conforms_to(ConformanceClasses.FILTER):
        return {"filter": {"op": "<=", "args": [{"property": "eo:cloud_cover"}, max_cloud]}, "filter_lang": "cql2-json"}
    return {}


def _search_static(query: Query, path: str) -> list:
    import pystac

    local = "://" not in path
    if local and os.path.isdir(path):
        found = [os.path.join(path, n) for n in ("catalog.json", "collection.json") if os.path.exists(os.path.join(path, n))]
        if not found:
            raise InputError(f"folder {path!r} holds no catalog.json or collection.json; give the catalog file or a STAC API URL")
        path = found[0]
    if local and not os.path.exists(path):
        raise InputError(f"STAC catalog {path!r} does not exist; give the path of a catalog.json or a STAC API URL")
    try:
        d = pystac.StacIO.default().read_json(path)
        if d.get("type") == "FeatureCollection":
            return list(pystac.ItemCollection.from_dict(d, preserve_dict=False))
        obj = pystac.read_dict(d, href=os.path.abspath(path) if local else path)
    except Exception as exc:
        text = " ".join(str(exc).split())[:200]
        raise InputError(f"{path!r} is not a readable STAC catalog ({text}); give a catalog.json or a STAC API URL") from exc
    if isinstance(obj, pystac.Item):
        return [obj]
    return list(obj.get_items(recursive=True))


def _parse_date(value, which: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise InputError(f"{which} date {value!r} is not a valid date; give it as YYYY-MM-DD, e.g. 2023-03-01") from None


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)
