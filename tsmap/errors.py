"""Error hierarchy. Every message says what failed and how to fix the call.

The CLI turns any :class:`TsmapError` into a one-line message and a non-zero exit code,
without a traceback.
"""


class TsmapError(Exception):
    """Base class of all errors tsmap raises on purpose."""


class InputError(TsmapError, ValueError):
    """A user-supplied value (bbox, dates, file, option) is invalid."""


class DataError(TsmapError):
    """Imagery or catalog content cannot be used (no items, missing bands, unreadable asset)."""


class ModelError(TsmapError):
    """A checkpoint or text-model weight file cannot be loaded."""
