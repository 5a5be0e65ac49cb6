"""`PowerBertError`: the base of every error the package raises on purpose (`ExportError` too).

Each says in one line what is wrong and names what is at fault (the command-line tools print
it and exit with status 2); each subclass also derives from the fitting built-in exception."""

from __future__ import annotations


class PowerBertError(Exception):
    """A clear, one-line refusal: bad input, an unusable file or setting, a missing resource."""


class ExportError(PowerBertError, ValueError):
    """The checkpoint or export directory is unusable; the message says why."""
