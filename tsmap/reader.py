"""The per-asset reader behind the lazy cube: stackstac's rasterio reader plus signing and clear errors.

stackstac builds one reader per (item, band) asset and calls it from the dask tasks. This one signs the href
when the reader opens (Planetary Computer), removes the item's DN offset, re-opens with a freshly signed URL
once the token is about to expire, and turns any open/read failure — including the I/O trouble GDAL only warns
about — into a one-line :class:`AssetError` that names the asset, so the tile can leave that asset out
(:func:`tsmap.retry.read_leaving_out`).
"""

from __future__ import annotations

from stackstac.rio_reader import AutoParallelRioReader

from .errors import DataError
from .retry import GdalIOWatch


class AssetReader(AutoParallelRioReader):
    """A stackstac ``Reader`` with an optional :class:`tsmap.signing.Signer` and per-asset DN offsets.

    ``offsets`` maps hrefs to a digital-number offset subtracted from every value read (the +1000 of
    processing baseline >= 04.00), window by window, so harmonising never copies a whole chunk.
    """

    def __init__(self, *, signer=None, offsets=None, **kwargs) -> None:
        self.href = kwargs["url"]  # unsigned: what the graph holds
        self.signer = signer
        self.offsets = offsets or {}
        super().__init__(**kwargs)

    def _open(self):
        try:
            if self.signer is not None:
                self.url = self.signer(self.href)
            with GdalIOWatch():  # in the read pool's thread: a header cut short is an error, not a warning
                return super()._open()
        except DataError:
            raise
        except Exception as exc:
            raise unreadable(self.href, exc) from exc

    def read(self, window, **kwargs):
        if self.signer is not None:
            with self._dataset_lock:
                if self._dataset is not None and not self.signer.fresh(self.url):
                    # Re-open on next access with a new token; a read in flight keeps the old dataset.
                    self._dataset = None
        try:
            with GdalIOWatch():  # GDAL only warns about some failed reads; here they fail (and are retried)
                data = super().read(window, **kwargs)
        except DataError:
            raise
        except Exception as exc:
            raise unreadable(self.href, exc) from exc
        offset = self.offsets.get(self.href)
        if offset:
            data = data - data.dtype.type(offset)  # one window, not a chunk; NaN (no data) stays NaN
        return data

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.update(url=self.href, signer=self.signer, offsets=self.offsets)
        return state


class AssetError(DataError):
    """One asset (one band of one item) cannot be opened or read; ``href`` names it."""

    def __init__(self, message: str, href: str) -> None:
        super().__init__(message)
        self.href = href

    def __reduce__(self):  # picklable across Dask workers
        return (type(self), (str(self), self.href))


def unreadable(href: str, exc: BaseException) -> AssetError:
    """The one-line error for an asset that cannot be opened or read."""
    cause = exc.__cause__ or exc
    text = " ".join(str(cause).split())[:300]
    return AssetError(
        f"cannot read asset {href} ({type(cause).__name__}: {text}); check that it exists and is reachable "
        "(path, network, credentials or token)", href,
    )
