"""GDAL and HTTP settings for reading imagery: all in one place, each with the effect it had in the benchmark.

Measured with ``tests/bench/bench_remote.py --ablations`` (Earth-Search-like COGs, 1024 px DEFLATE
blocks, behind a loopback server with 50 ms per request; 73 acquisitions, 512 x 512 px in 256 px
tiles), one setting changed at a time against tsmap's choice (9.2 requests per 1000 output pixels,
1.02x the minimum bytes):

* ``CPL_VSIL_CURL_CACHE_SIZE``: GDAL's process-wide cache of downloaded byte ranges. A 256 px tile is
  a sixteenth of a 10 m block and a sixty-fourth of a 20 m one, so a block's bytes must survive until
  its neighbouring tiles are read (tiles come in Z-order, :func:`tsmap.tiles.tile_grid`):
  :func:`vsicurl_cache_bytes` holds one block per asset. GDAL's default 16 MB: 33.6 requests per
  1000 px and 5.9x the minimum bytes; peak memory 2.4 GB instead of 4.2 GB (the cache's price).
* Reading the assets of a tile concurrently (:data:`READ_THREADS`; odc-stac's ``pool=`` is prior art):
  one thread instead of 32 made a tile's reads 490 s instead of 70-84 s (same requests and bytes).
* ``GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR`` (at open): no directory listing or side-car probes;
  ``FALSE`` made 37.1 requests per 1000 px (4x).
* ``GDAL_HTTP_MERGE_CONSECUTIVE_RANGES`` / ``GDAL_HTTP_MULTIRANGE``: no measurable effect here (a 256 px
  tile needs one block per file, so there is nothing adjacent to merge); kept on for larger tiles.
* ``GDAL_INGESTED_BYTES_AT_OPEN``: 32 KB holds a Sentinel-2 COG's header with all overview levels;
  GDAL's 16 KB made no difference on these files (9.19 requests per 1000 px).
* ``VSI_CACHE`` (per open file): on for opening, off for data, as stackstac does; on for data too changed
  nothing (9.22) but memory.
* ``GDAL_HTTP_MULTIPLEX=YES`` with ``GDAL_HTTP_VERSION=2``: HTTP/2 streams share one connection where the
  server speaks HTTP/2 over TLS (object stores, CDNs); the loopback server speaks HTTP/1.1, so unmeasured.
* ``GDAL_CACHEMAX``: decoded blocks; bounded (:data:`GDAL_CACHE_MB`) so memory does not grow with the AOI.
* ``GTIFF_IGNORE_READ_ERRORS=NO``: a block GDAL cannot decode is a read error, never a zero-filled block
  (``YES`` in the user's environment would make it one); what decodes silently is checked by
  :mod:`tsmap.plausibility`.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import threading

#: Concurrent asset reads per process (all tiles in flight share them). ``TSMAP_READ_THREADS`` overrides.
READ_THREADS = int(os.environ.get("TSMAP_READ_THREADS", 32))
#: GDAL block cache while reading (MB). GDAL's default, 5 % of RAM, fills up as the AOI grows.
GDAL_CACHE_MB = 128
#: Bytes read at open: the whole header of a Sentinel-2 COG.
HEADER_BYTES = 32768
#: Compressed bytes of one Sentinel-2 block (1024 x 1024 px, DEFLATE): about 2 bytes per pixel.
BLOCK_BYTES = 2_200_000

_pool, _pool_lock = None, threading.Lock()


def vsicurl_cache_bytes(n_assets: int) -> int:
    """Byte-range cache holding one block per asset (and their headers), between 256 MB and 8 GB."""
    return int(min(max(n_assets * (BLOCK_BYTES + HEADER_BYTES), 256 << 20), 8 << 30))


def gdal_env(n_assets: int, extra: dict | None = None):
    """The stackstac ``LayeredEnv`` for reading ``n_assets`` assets (see the module docstring for each setting),
    plus ``extra`` settings. It is entered by whichever thread opens or reads: settings made with
    ``rasterio.Env`` around the call did not reach the read pool's threads, so they come in through ``extra``."""
    import stackstac

    return stackstac.DEFAULT_GDAL_ENV.updated(
        always={
            "GDAL_CACHEMAX": GDAL_CACHE_MB,
            "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
            "GDAL_HTTP_MULTIRANGE": "YES",
            "GDAL_HTTP_MULTIPLEX": "YES",
            "GDAL_HTTP_VERSION": "2",
            "GDAL_INGESTED_BYTES_AT_OPEN": str(HEADER_BYTES),
            "CPL_VSIL_CURL_CACHE_SIZE": str(vsicurl_cache_bytes(n_assets)),
            "GTIFF_IGNORE_READ_ERRORS": "NO",
            **(extra or {}),
        },
        open={"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"},
    )


def read_pool() -> cf.ThreadPoolExecutor:
    """The process-wide pool that reads assets (created on first use)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = cf.ThreadPoolExecutor(max(1, READ_THREADS), thread_name_prefix="tsmap-read")
        return _pool
