"""Error hierarchy. Every message says what failed and how to fix the call.

The CLI turns any :class:`TsmapError` into a one-line message and a non-zero exit code,
without a traceback.
"""

import re

#: ANSI/VT100 escape sequences (colours, bold, cursor moves, OSC titles) that other libraries put in messages.
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


class TsmapError(Exception):
    """Base class of all errors tsmap raises on purpose."""


class InputError(TsmapError, ValueError):
    """A user-supplied value (bbox, dates, file, option) is invalid."""


class DataError(TsmapError):
    """Imagery or catalog content cannot be used (no items, missing bands, unreadable asset)."""


class ModelError(TsmapError):
    """A checkpoint or text-model weight file cannot be loaded."""


def plain_message(exc: BaseException | str, *, first_line: bool = True) -> str:
    """The text of another library's error for wrapping in ours: terminal escape codes removed and,
    by default, only its first non-empty line kept (so our messages stay one plain line)."""
    text = _ESCAPES.sub("", str(exc))
    if not first_line:
        return text
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) stopped a run; the message says what was kept and how to resume."""
