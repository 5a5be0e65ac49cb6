"""`ExportError`: why a checkpoint, model or export directory cannot be exported."""

from __future__ import annotations


class ExportError(ValueError):
    """The checkpoint or export directory is unusable; the message says why."""
