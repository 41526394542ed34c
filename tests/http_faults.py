"""A loopback HTTP file server with injected faults, for tests (run as a separate process).

    python -m tests.http_faults ROOT PLAN.json PORTFILE LOG

Serves files under ROOT on 127.0.0.1 (a free port, written to PORTFILE) with HTTP range requests,
the way GDAL reads COGs. PLAN.json is re-read on every request: a list of rules
``{"match": substring of the path, "fault": "503" | "stall" | "truncate", "times": n}`` (``times``
-1: forever). A matching rule with uses left answers a ranged GET with HTTP 503, with a stall of
``stall_s`` seconds before the answer, or with half the promised body and a closed connection.
Every request is appended to LOG. The process exits by itself after ``lifetime_s``.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import sys
import threading
import time

STALL_S = 3.0
LIFETIME_S = 600.0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    root = "."
    plan_path = ""
    log_path = os.devnull
    used: dict[int, int] = {}
    lock = threading.Lock()

    def log_message(self, *args):  # quiet
        pass

    def do_HEAD(self):
        self._serve(head=True)

    def do_GET(self):
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        path = os.path.normpath(os.path.join(self.root, self.path.split("?")[0].lstrip("/")))
        ranged = self.headers.get("Range")
        fault = None if head or not ranged else self._fault(self.path)
        with open(self.log_path, "a") as log:
            log.write(f"{self.command} {self.path} {ranged} {fault}\n")
        if not path.startswith(os.path.abspath(self.root)) or not os.path.isfile(path) or fault == "503":
            code = 503 if fault == "503" else 404
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if fault == "stall":
            time.sleep(STALL_S)
        with open(path, "rb") as f:
            body = f.read()
        start, end, status = 0, len(body) - 1, 200
        if ranged:
            m = re.match(r"bytes=(\d+)-(\d*)$", ranged.strip())
            if m:
                start = int(m.group(1))
                end = min(int(m.group(2)) if m.group(2) else len(body) - 1, len(body) - 1)
                status = 206
        part = body[start : end + 1]
        self.send_response(status)
        self.send_header("Content-Length", str(len(part)))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(body)}")
        self.end_headers()
        if head:
            return
        if fault == "truncate":
            self.wfile.write(part[: len(part) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(part)

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


def main(root: str, plan: str, portfile: str, log: str) -> None:
    Handler.root, Handler.plan_path, Handler.log_path = os.path.abspath(root), plan, log
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    timer = threading.Timer(LIFETIME_S, server.shutdown)
    timer.daemon = True
    timer.start()
    with open(portfile + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(portfile + ".tmp", portfile)
    server.serve_forever()


if __name__ == "__main__":
    main(*sys.argv[1:5])
