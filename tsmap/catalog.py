"""Find Sentinel-2 L2A items: a STAC API (default Earth Search v1) or a static catalog.

``stac`` is a known source name (:data:`SOURCES`), any STAC API URL, or a static catalog: a
``catalog.json``/``collection.json``, a folder holding one, an item or an item collection
(``.geojson``), on disk or at a URL. Filters: collection, bbox, dates, ``eo:cloud_cover``.
Boxes that cross the antimeridian (W > E, item bboxes included) are searched as their two parts.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import warnings
from collections import Counter
from dataclasses import dataclass, replace

from .errors import DataError, InputError
from .geo import BBox, intersects

log = logging.getLogger("tsmap")

EARTH_SEARCH = "https://earth-search.aws.element84.com/v1"
PLANETARY_COMPUTER = "https://planetarycomputer.microsoft.com/api/stac/v1"
CDSE = "https://stac.dataspace.copernicus.eu/v1"
#: Source names accepted for ``stac`` (reading CDSE assets needs S3 credentials, see the README).
SOURCES = {"earth-search": EARTH_SEARCH, "planetary-computer": PLANETARY_COMPUTER, "cdse": CDSE}
DEFAULT_COLLECTION = "sentinel-2-l2a"
#: Sentinel-2 L2A collection names of the supported services: Earth Search v1, Planetary Computer and
#: CDSE (``sentinel-2-l2a``), Earth Search v1's reprocessed Collection 1 (``sentinel-2-c1-l2a``) and
#: Earth Search v0 (``sentinel-s2-l2a-cogs``). STAC APIs are searched for the first (every service
#: has it); static catalogs take items of any of them.
L2A_COLLECTIONS = (DEFAULT_COLLECTION, "sentinel-2-c1-l2a", "sentinel-s2-l2a-cogs")
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
    #: collection name(s) (a tuple, or comma-separated); None: the default of the catalog (:func:`default_collections`)
    collection: str | tuple[str, ...] | None = None
    max_cloud: float = 100.0  #: keep items with ``eo:cloud_cover`` at most this (percent)

    def __post_init__(self) -> None:
        object.__setattr__(self, "collection", _collection_names(self.collection))
        object.__setattr__(self, "start", _aware(self.start))
        object.__setattr__(self, "end", _aware(self.end))
        if self.end < self.start:
            raise InputError(f"end date {self.end:%Y-%m-%d} is before start date {self.start:%Y-%m-%d}; swap them")
        if self.end.date() < FIRST_DATE:
            raise InputError(
                f"dates end {self.end:%Y-%m-%d}, before Sentinel-2 data begin ({FIRST_DATE}); give later dates"
            )
        span = (self.end - self.start).days
        if span > MAX_SPAN_DAYS:
            raise InputError(
                f"dates span {span} days; monthly composites need one year at most, so give a window of <= "
                f"{MAX_SPAN_DAYS} days"
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

    def for_stac(self, stac: str) -> "Query":
        """This query with its collections filled in for ``stac`` when none were given."""
        return self if self.collection else replace(self, collection=default_collections(stac))

    def describe(self) -> str:
        names = ", ".join(repr(c) for c in self.collection) if self.collection else "default"
        return (
            f"collection {names}, {self.start:%Y-%m-%d}..{self.end:%Y-%m-%d}, "
            f"bbox {self.bbox.as_tuple()}, cloud cover <= {self.max_cloud:g}%"
        )

    def in_collection(self, item) -> bool:
        """Whether an item is of one of this query's collections (items that name none pass)."""
        return item.collection_id is None or item.collection_id in (self.collection or L2A_COLLECTIONS)

    def matches(self, item) -> bool:
        """Whether a ``pystac.Item`` passes this query (for catalogs that cannot search)."""
        return self.in_collection(item) and self._matches_place_time_cloud(item)

    def _matches_place_time_cloud(self, item) -> bool:
        if item.datetime is None or not self.start <= _aware(item.datetime) <= self.end:
            return False
        if item.properties.get("eo:cloud_cover", 0.0) > self.max_cloud:
            return False
        return item.bbox is None or intersects(item.bbox, self.bbox)


def default_collections(stac: str) -> tuple[str, ...]:
    """Collections searched when none is given: ``sentinel-2-l2a`` at a STAC API, any of :data:`L2A_COLLECTIONS`
    in a static catalog."""
    return L2A_COLLECTIONS if is_static(SOURCES.get(stac, stac)) else (DEFAULT_COLLECTION,)


def search(query: Query, *, stac: str = EARTH_SEARCH) -> list:
    """The matching ``pystac.Item`` objects, sorted by time; :class:`DataError` if there are none.

    ``stac`` is a name from :data:`SOURCES`, a STAC API URL, or a static catalog / item collection.
    """
    query = query.for_stac(stac)
    where = SOURCES.get(stac, stac)
    found = _search_static(query, where) if is_static(where) else _search_api(query, where)
    items = [it for it in found if query.matches(it)]  # APIs without the query extension ignore max_cloud
    skipped = _skipped_collections(query, found)
    if skipped:
        log.warning("%s", skipped)
    if not items:
        raise DataError(
            f"no Sentinel-2 items found for {query.describe()} in {stac}; "
            + (skipped or "widen the dates, bbox or cloud limit (and check the bbox order: W,S,E,N in lon/lat degrees)")
        )
    return sorted(items, key=lambda it: it.datetime)


def _skipped_collections(query: Query, found: list) -> str:
    """What was left out for its collection alone (static catalogs may mix collections), as a sentence."""
    other = Counter(
        str(it.collection_id) for it in found if not query.in_collection(it) and query._matches_place_time_cloud(it)
    )
    if not other:
        return ""
    counts = ", ".join(f"{name}: {n}" for name, n in sorted(other.items()))
    wanted = ", ".join(query.collection)
    return (
        f"skipped {sum(other.values())} item(s) of other collections ({counts}): only {wanted} are searched "
        "as Sentinel-2 L2A; pass --collection NAME (Query(collection=...)) to use them"
    )


def is_static(stac: str) -> bool:
    """True for a local path or a URL of a JSON file (static catalog); False for a STAC API URL."""
    return "://" not in stac or stac.lower().endswith((".json", ".geojson"))


def _search_api(query: Query, url: str) -> list:
    import pystac_client

    try:
        client = pystac_client.Client.open(url)
        found = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DoesNotConformTo(query): then filtered here instead
            for part in query.bbox.parts():  # an AOI across 180° is searched west and east of it
                result = client.search(
                    collections=list(query.collection), bbox=part.as_tuple(), datetime=(query.start, query.end),
                    **_cloud_filter(client, query.max_cloud),
                )
                found.update({(it.collection_id, it.id): it for it in result.items()})
        return list(found.values())
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
        found = [
            os.path.join(path, n) for n in ("catalog.json", "collection.json") if os.path.exists(os.path.join(path, n))
        ]
        if not found:
            raise InputError(
                f"folder {path!r} holds no catalog.json or collection.json; give the catalog file or a STAC API URL"
            )
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
        raise InputError(
            f"{path!r} is not a readable STAC catalog ({text}); give a catalog.json or a STAC API URL"
        ) from exc
    if isinstance(obj, pystac.Item):
        return [obj]
    return list(obj.get_items(recursive=True))


def _collection_names(value) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = value.split(",") if isinstance(value, str) else list(value)
    names = tuple(dict.fromkeys(str(n).strip() for n in names if str(n).strip()))
    if not names:
        raise InputError(f"collection {value!r} names no collection; give e.g. {DEFAULT_COLLECTION} (or omit it)")
    return names


def _parse_date(value, which: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise InputError(
            f"{which} date {value!r} is not a valid date; give it as YYYY-MM-DD, e.g. 2023-03-01"
        ) from None


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)
