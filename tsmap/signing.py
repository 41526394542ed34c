"""Signed asset URLs whose tokens expire: Microsoft Planetary Computer SAS tokens.

Planetary Computer assets live in Azure Blob Storage and are readable only with a SAS token appended
to the URL; tokens expire (about an hour). tsmap keeps hrefs *unsigned* in the lazy graph and signs
at read time, so a long run re-signs instead of failing with HTTP 403 halfway. The signing function
and the clock are injected, so all of this is testable offline.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Callable
from urllib.parse import parse_qs, urlsplit, urlunsplit

from .errors import DataError

#: Hosts whose URLs need a SAS token.
AZURE_BLOB = ".blob.core.windows.net"
#: Re-sign when a token has less than this left. planetary-computer refreshes its own token cache at
#: 60 s before expiry, so a larger margin would get the same token back.
REFRESH_MARGIN = dt.timedelta(seconds=60)
_SAS_KEYS = {"st", "se", "sp", "sv", "sr", "sig", "skoid", "sktid", "skt", "ske", "sks", "skv", "spr", "srt", "ss"}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def needs_signing(href: str) -> bool:
    """True for Azure Blob Storage URLs (Planetary Computer data)."""
    return urlsplit(href).netloc.endswith(AZURE_BLOB)


def unsigned(href: str) -> str:
    """``href`` without a SAS token (other URLs and paths unchanged)."""
    parts = urlsplit(href)
    if not parts.netloc.endswith(AZURE_BLOB) or not parts.query:
        return href
    if not set(parse_qs(parts.query)) & _SAS_KEYS:
        return href
    return urlunsplit(parts._replace(query=""))


def expiry(url: str) -> dt.datetime | None:
    """The ``se`` (signed expiry) time of a SAS-signed URL; None if it carries none."""
    values = parse_qs(urlsplit(url).query).get("se")
    if not values:
        return None
    when = dt.datetime.fromisoformat(values[0].replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


class Signer:
    """Signs hrefs with expiring tokens and tells when a signed URL must be re-signed.

    ``sign`` maps an unsigned href to a signed URL (default: ``planetary_computer.sign_url``);
    ``clock`` returns the current UTC time. Signed URLs are cached per href until they are within
    ``margin`` of their ``se`` expiry. Pickles without its cache (for dask distributed).
    """

    def __init__(
        self,
        sign: Callable[[str], str] | None = None,
        *,
        clock: Callable[[], dt.datetime] = _utcnow,
        margin: dt.timedelta = REFRESH_MARGIN,
    ) -> None:
        self.sign = sign or _planetary_computer_sign
        self.clock = clock
        self.margin = margin
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()

    def __call__(self, href: str) -> str:
        """A signed URL for ``href`` that is fresh now; hrefs outside Azure Blob Storage are returned as is."""
        if not needs_signing(href):
            return href
        href = unsigned(href)
        with self._lock:
            url = self._cache.get(href)
            if url is None or not self.fresh(url):
                url = self._sign(href)
                self._cache[href] = url
            return url

    def fresh(self, url: str) -> bool:
        """Whether ``url`` is unsigned-by-design or its token is still valid for longer than the margin."""
        if not needs_signing(url):
            return True
        until = expiry(url)
        return until is None or self.clock() < until - self.margin

    def _sign(self, href: str) -> str:
        try:
            return self.sign(href)
        except Exception as exc:
            raise DataError(
                f"could not sign {href} for reading ({type(exc).__name__}: {exc}); check the network, "
                "or set PC_SDK_SUBSCRIPTION_KEY for Planetary Computer"
            ) from exc

    def __getstate__(self):
        return {"sign": self.sign, "clock": self.clock, "margin": self.margin}

    def __setstate__(self, state):
        self.__init__(state["sign"], clock=state["clock"], margin=state["margin"])

    def __dask_tokenize__(self):
        return ("tsmap.Signer", getattr(self.sign, "__qualname__", repr(self.sign)), self.margin)


def _planetary_computer_sign(href: str) -> str:
    try:
        import planetary_computer
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise DataError(
            "reading Planetary Computer data needs the planetary-computer package; pip install planetary-computer"
        ) from exc
    return planetary_computer.sign_url(href)
