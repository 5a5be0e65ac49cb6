"""`ServingError`: why an export, a signature name, a dev file or a test setting cannot be used."""

from __future__ import annotations

from power_bert_tf.errors import PowerBertError


class ServingError(PowerBertError, ValueError):
    """An unusable export directory, signature, dev file or setting; the message names it."""
