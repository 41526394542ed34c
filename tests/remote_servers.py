"""Loopback servers for remote-read tests and benchmarks: a COG server (tests/http_faults.py) shaped like a
distant object store, and a real STAC API (stac-fastapi-geoparquet, from its own venv; tests/stac_api)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .http_faults import counters

ROOT = Path(__file__).resolve().parents[1]
#: The STAC API server's venv (``.ci/run`` makes it): ``TSMAP_STAC_API_PYTHON`` or ``<repo>/.stac-venv``.
STAC_API_PYTHON = Path(os.environ.get("TSMAP_STAC_API_PYTHON", ROOT / ".stac-venv" / "bin" / "python"))
INSTALL_HINT = "python3 -m venv .stac-venv && .stac-venv/bin/pip install -r tests/stac_api/requirements.txt"


class _Process:
    def _start(self, cmd: list[str], portfile: Path, what: str, timeout: float = 90) -> str:
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + timeout
        while not portfile.exists():
            if time.time() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError(f"{what} did not start: {self.proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.05)
        return f"http://127.0.0.1:{portfile.read_text()}"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class CogServer(_Process):
    """Files under ``root`` over HTTP with ``latency_s``, ``bandwidth_bps``, ``max_concurrency`` and fault rules."""

    def __init__(self, root: Path, tmp: Path, **link) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.plan, self.log, port, config = tmp / "plan.json", tmp / "requests.log", tmp / "port", tmp / "link.json"
        self.set([])
        config.write_text(json.dumps(link))
        cmd = [
            sys.executable,
            "-m",
            "tests.http_faults",
            str(root),
            str(self.plan),
            str(port),
            str(self.log),
            str(config),
        ]
        self.url = self._start(cmd, port, "test COG server")

    def set(self, rules: list[dict]) -> None:
        self.plan.write_text(json.dumps(rules))

    def counters(self):
        """(requests, bytes sent) per path so far."""
        return counters(self.log)

    def reset(self) -> None:
        self.log.write_text("")

    def faults_served(self) -> list[str]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [line.split()[3] for line in lines if line.split()[3] != "None"]


class StacApi(_Process):
    """A STAC API on 127.0.0.1 serving ``items`` (dicts), from stac-fastapi-geoparquet in its own venv."""

    def __init__(self, items: list[dict], tmp: Path) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        path, port = tmp / "items.json", tmp / "api-port"
        path.write_text(json.dumps({"type": "FeatureCollection", "features": items}))
        cmd = [str(STAC_API_PYTHON), str(ROOT / "tests" / "stac_api" / "serve.py"), str(path), str(port)]
        self.url = self._start(cmd, port, "STAC API (stac-fastapi-geoparquet)")


def stac_api_missing() -> str | None:
    """Why the STAC API cannot run here (None when it can)."""
    if not STAC_API_PYTHON.exists():
        return (f"the loopback STAC API server is not installed ({STAC_API_PYTHON} is absent); "
                f"install it with: {INSTALL_HINT}")
    return None
