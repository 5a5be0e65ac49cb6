"""`ExportError`: why a checkpoint, model or export directory cannot be exported."""

from __future__ import annotations

from power_bert_tf.errors import PowerBertError


class ExportError(PowerBertError, ValueError):
    """The checkpoint or export directory is unusable; the message says why."""
