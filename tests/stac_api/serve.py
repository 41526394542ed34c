"""Serve STAC items as a STAC API on 127.0.0.1, with stac-fastapi-geoparquet (run from its own venv).

    .stac-venv/bin/python tests/stac_api/serve.py ITEMS.json PORTFILE

ITEMS.json is a FeatureCollection; it is written as stac-geoparquet beside itself and served from
there. The port (free, chosen by the OS) is written to PORTFILE once the API answers. This script
imports nothing of tsmap: it runs in the server's venv.
"""

import json
import socket
import sys
import threading
import time
import urllib.request
from pathlib import Path

import rustac
import uvicorn
from rustac import DuckdbClient
from rustac_duckdb_extensions import extension_directory
from stac_fastapi.geoparquet.api import create
from stac_fastapi.geoparquet.settings import Settings

LIFETIME_S = 900


def main(items_path: str, portfile: str) -> None:
    items = json.loads(Path(items_path).read_text())["features"]
    parquet = str(Path(items_path).with_suffix(".parquet"))
    rustac.write_sync(parquet, items)
    client = DuckdbClient(
        extension_directory=extension_directory(), install_extensions=False, extensions=["spatial", "icu"]
    )
    settings = Settings(stac_fastapi_geoparquet_href=parquet, stac_fastapi_landing_id="tsmap-test",
                        stac_fastapi_title="tsmap test API", stac_fastapi_description="loopback STAC API for tests")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create(settings, client).app, host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=_announce, args=(port, portfile, server), daemon=True).start()
    server.run()


def _announce(port: int, portfile: str, server) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
            break
        except OSError:
            time.sleep(0.1)
    Path(portfile + ".tmp").write_text(str(port))
    Path(portfile + ".tmp").rename(portfile)
    time.sleep(LIFETIME_S)
    server.should_exit = True


if __name__ == "__main__":
    main(*sys.argv[1:3])
