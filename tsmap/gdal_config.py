"""GDAL and HTTP settings for reading imagery: all in one place, each with the effect it had in the benchmark.

Measured with ``tests/bench/bench_remote.py`` (Sentinel-2-like COGs behind a loopback server with
50 ms per request; README "Large areas" has the figures). Reading a tile means, per (time, band)
asset: one request for the header, then one per needed block (1024 x 1024 px, DEFLATE).

* ``GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR``: no directory listing and no probing for ``.aux.xml``
  / ``.msk`` side-car files at open, which costs extra 404 round trips per asset otherwise.
* ``GDAL_HTTP_MERGE_CONSECUTIVE_RANGES=YES`` and ``GDAL_HTTP_MULTIRANGE=YES``: adjacent blocks come in
  one request.
* ``GDAL_HTTP_MULTIPLEX=YES`` with ``GDAL_HTTP_VERSION=2``: HTTP/2 streams share one connection where the
  server speaks HTTP/2 over TLS (object stores and CDNs); the loopback test server speaks HTTP/1.1,
  so the benchmark cannot show it.
* ``GDAL_INGESTED_BYTES_AT_OPEN``: the first request at open reads this much; 32 KB holds the whole
  header of a Sentinel-2 COG (tile offsets of five overview levels), so open is one request.
* ``CPL_VSIL_CURL_CACHE_SIZE``: GDAL's process-wide cache of downloaded byte ranges. A 256 px tile is
  a sixteenth of a 10 m block and a sixty-fourth of a 20 m one, so the block's bytes must survive until
  its neighbouring tiles are read (tiles go block by block, :func:`tsmap.tiles.block_order`):
  :func:`vsicurl_cache_bytes` holds one block per asset. Too small and every tile refetches its blocks.
* ``VSI_CACHE`` (per open file): on for opening, off for data, as stackstac does; the block bytes are
  kept by the process-wide cache above instead, once.
* ``GDAL_CACHEMAX``: decoded blocks; bounded (:data:`GDAL_CACHE_MB`) so memory does not grow with the AOI.

Concurrency: the assets of a tile are read by a bounded, process-wide pool of :data:`READ_THREADS`
threads (odc-stac's ``pool=``), so one tile's wall time is a few round trips, not ~1,000 in a row.
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


def gdal_env(n_assets: int):
    """The stackstac ``LayeredEnv`` for reading ``n_assets`` assets (see the module docstring for each setting)."""
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
