"""The Hugging Face Hub, where checkpoints and CLIP weights come from: the cache first, no network in seconds.

With no network, huggingface_hub retries each request five times with back-off (about half a minute a file,
every retry logged twice) before it gives up. tsmap looks in the local cache first and, only when a file must
really be downloaded, asks once whether the Hub's host answers at all: when it does not, the run stops at once
with one line saying how to work offline. ``HF_ENDPOINT`` (a mirror) is honoured; ``HF_HUB_OFFLINE=1`` makes
huggingface_hub refuse downloads itself, also at once.
"""

from __future__ import annotations

import functools
import socket
from urllib.parse import urlsplit

from .errors import ModelError

#: Seconds to wait for the Hub's host to accept a connection.
CONNECT_TIMEOUT = 3.0


def cached_file(repo_id: str, filename: str, revision: str | None = None) -> str | None:
    """The local copy of a Hub file when huggingface_hub's cache holds it, else None (no network used)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, revision=revision)
    return found if isinstance(found, str) else None


def check_reachable(what: str, *, fix: str) -> None:
    """Raise a one-line :class:`ModelError` naming ``what`` and ``fix`` when the Hub cannot be reached now."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return  # huggingface_hub raises its own offline error without retrying
    url = urlsplit(constants.ENDPOINT)
    problem = _unreachable(url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443))
    if problem:
        raise ModelError(f"cannot download {what}: {problem} (no network?); {fix}")


@functools.lru_cache(maxsize=8)
def _unreachable(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be reached (asked once per process), or None when it accepts a connection."""
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        return f"{host} cannot be reached ({exc.strerror or type(exc).__name__})"
    return None
