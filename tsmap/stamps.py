"""What a run's inputs were, down to their content, and what changed between two runs.

A run's fingerprint hashes what was asked for (items and hrefs, grid, products, the loaded model);
the *stamps* say what the imagery behind each href was: size and modification time for a local file,
the ETag (else Last-Modified) for an HTTP URL — one HEAD request per asset, made in parallel before
the run starts — and nothing for object-store URLs (``s3://`` and the like), which are not checked. A
resume needs the same fingerprint and no asset whose stamp changed; a stamp that could not be taken
(a HEAD that failed) is unknown and matches anything, so a flaky server never throws away finished
tiles. :func:`changes` words the difference for the "starting afresh" message.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import os
from urllib.parse import urlsplit
from urllib.request import url2pathname

from .items import prepare_item
from .signing import Signer, needs_signing

#: HEAD requests in flight at once.
HEAD_THREADS = 16


def asset_stamps(items, *, timeout: float = 30.0) -> dict[str, str]:
    """href -> stamp of every band asset of ``items`` ("" where it cannot be known)."""
    hrefs = sorted({a["href"] for it in items for a in prepare_item(it)["assets"].values()})
    signer = Signer() if any(needs_signing(h) for h in hrefs) else None
    remote = [h for h in hrefs if urlsplit(h).scheme.lower() in ("http", "https")]
    stamps = {h: _local_stamp(h) for h in hrefs if h not in remote}
    if remote:
        with cf.ThreadPoolExecutor(min(HEAD_THREADS, len(remote))) as pool:
            stamps.update(zip(remote, pool.map(lambda h: _http_stamp(h, signer, timeout), remote)))
    return stamps


def digest(value) -> str:
    """A short stable hash of a JSON-able value."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def changed_assets(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """hrefs whose stamps are known in both runs and differ."""
    return sorted(h for h in old.keys() & new.keys() if old[h] and new[h] and old[h] != new[h])


def changes(old: dict, new: dict) -> str:
    """What differs between two runs' ``{"parts": {name: digest}, "stamps": {href: stamp}}``, in words."""
    if not old:
        return "the earlier run was made by another tsmap version"
    parts_old, parts_new = old.get("parts", {}), new.get("parts", {})
    names = sorted(k for k in parts_old.keys() | parts_new.keys() if parts_old.get(k) != parts_new.get(k))
    assets = changed_assets(old.get("stamps", {}), new.get("stamps", {}))
    said = [", ".join(names)] if names else []
    if assets:
        h = assets[0]
        more = f" and {len(assets) - 1} more" if len(assets) > 1 else ""
        said.append(f"asset {h} ({old['stamps'][h]} -> {new['stamps'][h]}){more}")
    return "; ".join(said) or "nothing recorded"


def _local_stamp(href: str) -> str:
    parts = urlsplit(href)
    if parts.scheme.lower() not in ("", "file") and len(parts.scheme) > 1:
        return ""  # object stores: not checked
    path = url2pathname(parts.path) if parts.scheme.lower() == "file" else href
    try:
        st = os.stat(path)
    except OSError:
        return "absent"
    return f"{st.st_size} bytes, mtime_ns {st.st_mtime_ns}"


def _http_stamp(href: str, signer, timeout: float) -> str:
    from urllib.request import Request, urlopen

    try:
        with urlopen(Request(signer(href) if signer else href, method="HEAD"), timeout=timeout) as r:
            etag, modified, size = (
                r.headers.get("ETag"),
                r.headers.get("Last-Modified"),
                r.headers.get("Content-Length"),
            )
    except Exception:  # unknown: matches anything (a flaky HEAD must not discard finished work)
        return ""
    if etag:
        return f"etag {etag}"
    return f"last-modified {modified}, {size} bytes" if modified else ""
