"""A loopback HTTP file server with injected faults, latency and a bandwidth cap, for tests and benchmarks
(run as a separate process).

    python -m tests.http_faults ROOT PLAN.json PORTFILE LOG [CONFIG.json]

Serves files under ROOT on 127.0.0.1 (a free port, written to PORTFILE) with HTTP range requests,
the way GDAL reads COGs; symbolic links are followed, so one file can be served under many names.
PLAN.json is re-read on every request: a list of rules
``{"match": substring of the path, "fault": "503" | "stall" | "truncate", "times": n}`` (``times``
-1: forever). A matching rule with uses left answers a ranged GET with HTTP 503, with a stall of
``stall_s`` seconds before the answer, or with half the promised body and a closed connection.

CONFIG.json (optional, read once) shapes the link like an object store seen from far away:
``latency_s`` (added before every answer, HEAD included), ``bandwidth_bps`` (one cap shared by all
connections), ``max_concurrency`` (requests served at once; the others wait their turn, as behind a
per-client limit) and ``stall_s``. Every request is appended to LOG as
``METHOD PATH RANGE FAULT BYTES IN_FLIGHT`` (BYTES: body bytes sent; IN_FLIGHT: requests being served
when it arrived), so tests and benchmarks count requests and bytes per file (:func:`counters`).
Files are served with an ETag and Last-Modified from their size and modification time, as static
file servers and object stores do. The process exits by itself after ``lifetime_s``.
"""

from __future__ import annotations

import email.utils
import http.server
import json
import os
import re
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass

STALL_S = 3.0
LIFETIME_S = 600.0


@dataclass
class Link:
    """How the server's answers travel: delay per request, shared bandwidth, requests served at once."""

    latency_s: float = 0.0
    bandwidth_bps: float = 0.0  #: 0: unlimited
    max_concurrency: int = 0  #: 0: unlimited
    stall_s: float = STALL_S
    lifetime_s: float = LIFETIME_S

    def __post_init__(self) -> None:
        self.slots = threading.BoundedSemaphore(self.max_concurrency) if self.max_concurrency > 0 else None
        self._lock, self._free_at = threading.Lock(), 0.0

    def pace(self, nbytes: int) -> None:
        """Sleep until ``nbytes`` more fit through the shared link (a virtual clock of when it is free)."""
        if self.bandwidth_bps <= 0 or nbytes <= 0:
            return
        with self._lock:
            now = time.monotonic()
            self._free_at = max(self._free_at, now) + nbytes / self.bandwidth_bps
            wait = self._free_at - now
        time.sleep(wait)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    root = "."
    plan_path = ""
    log_path = os.devnull
    link = Link()
    used: dict[int, int] = {}
    lock = threading.Lock()
    active = 0  #: requests being served now

    def log_message(self, *args):  # quiet
        pass

    def do_HEAD(self):
        self._limited(head=True)

    def do_GET(self):
        self._limited(head=False)

    def _limited(self, head: bool) -> None:
        if self.link.slots is not None:
            self.link.slots.acquire()
        with self.lock:
            type(self).active += 1
            self.concurrent = self.active
        try:
            self._serve(head)
        finally:
            with self.lock:
                type(self).active -= 1
            if self.link.slots is not None:
                self.link.slots.release()

    def _serve(self, head: bool) -> None:
        if self.link.latency_s:
            time.sleep(self.link.latency_s)
        path = os.path.normpath(os.path.join(self.root, self.path.split("?")[0].lstrip("/")))
        ranged = self.headers.get("Range")
        fault = None if head or not ranged else self._fault(self.path)
        if not path.startswith(os.path.abspath(self.root)) or not os.path.isfile(path) or fault == "503":
            code = 503 if fault == "503" else 404
            self._log(ranged, fault, 0)
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if fault == "stall":
            time.sleep(self.link.stall_s)
        size = os.path.getsize(path)
        start, end, status = 0, size - 1, 200
        if ranged:
            m = re.match(r"bytes=(\d+)-(\d*)$", ranged.strip())
            if m:
                start = int(m.group(1))
                end = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
                status = 206
        length = max(0, end - start + 1)
        body = b""
        if not head:
            with open(path, "rb") as f:
                f.seek(start)
                body = f.read(length)
        sent = 0 if head else (len(body) // 2 if fault == "truncate" else len(body))
        self._log(ranged, fault, sent)
        self.link.pace(sent)
        self.send_response(status)
        st = os.stat(path)
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{st.st_size:x}-{st.st_mtime_ns:x}"')
        self.send_header("Last-Modified", email.utils.formatdate(st.st_mtime, usegmt=True))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if head:
            return
        if fault == "truncate":
            self.wfile.write(body[:sent])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def _log(self, ranged, fault, sent: int) -> None:
        line = f"{self.command} {self.path} {str(ranged).replace(' ', '')} {fault} {sent} {self.concurrent}\n"
        with self.lock, open(self.log_path, "a") as log:
            log.write(line)

    def _fault(self, path: str) -> str | None:
        try:
            with open(self.plan_path) as f:
                rules = json.load(f)
        except (OSError, ValueError):
            return None
        with self.lock:
            for i, rule in enumerate(rules):
                if rule["match"] in path:
                    used = self.used.get(i, 0)
                    if rule["times"] < 0 or used < rule["times"]:
                        self.used[i] = used + 1
                        return rule["fault"]
        return None


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # GDAL opens many connections at once: do not refuse them


def max_in_flight(log_path) -> int:
    """The most requests the server was serving at once."""
    with open(log_path) as f:
        return max((int(line.split()[5]) for line in f if len(line.split()) >= 6), default=0)


def counters(log_path) -> tuple[Counter, Counter]:
    """(requests, bytes sent) per served path (query string dropped), from the server's LOG."""
    requests, sent = Counter(), Counter()
    if not os.path.exists(log_path):
        return requests, sent
    with open(log_path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 5:
                path = parts[1].split("?")[0]
                requests[path] += 1
                sent[path] += int(parts[4])
    return requests, sent


def main(root: str, plan: str, portfile: str, log: str, config: str | None = None) -> None:
    link = Link(**json.load(open(config))) if config else Link()
    Handler.root, Handler.plan_path, Handler.log_path, Handler.link = os.path.abspath(root), plan, log, link
    server = Server(("127.0.0.1", 0), Handler)
    timer = threading.Timer(link.lifetime_s, server.shutdown)
    timer.daemon = True
    timer.start()
    with open(portfile + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(portfile + ".tmp", portfile)
    server.serve_forever()


if __name__ == "__main__":
    main(*sys.argv[1:6])
