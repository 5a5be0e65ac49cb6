"""Exported SavedModels as benchmark variants: their token-id signature on the pre-tokenized features.

The export (scripts/export_savedmodel.py) is found and its metadata read
through `benchmarks.serving` (`resolve_version_dir`, `checked_metadata`,
`register_text_ops`); the graph is the one TF Serving would run, loaded with
`tf.saved_model.load`, not through Keras. Its ``serve_token_ids`` signature
takes exactly the features the model reads (int32) and removes the padding of
each request itself, so the padded protocol's batches are trimmed to their
longest sentence inside the graph.
"""

from __future__ import annotations

import numpy as np

from benchmarks.speed.config import BenchmarkError


class SavedModelVariant:
    """An export's token-id signature, called on batches of features.

    Args:
        path: a version directory or a base directory (its highest version).
        flag: the flag that named it (for error messages).

    Raises:
        BenchmarkError: naming the flag, when TensorFlow is missing or the export unusable.
    """

    def __init__(self, path: str, flag: str):
        try:
            import tensorflow as tf

            from benchmarks.serving.errors import ServingError
            from benchmarks.serving.exports import checked_metadata, resolve_version_dir
            from benchmarks.serving.model import register_text_ops
            from power_bert_tf.export.metadata import SIGNATURE_TOKEN_IDS
        except ImportError as error:
            raise BenchmarkError(
                f"{flag}: timing a SavedModel needs TensorFlow ({error})"
            ) from None
        try:
            self.version_dir = resolve_version_dir(path)
            self.metadata = checked_metadata(self.version_dir)
            register_text_ops()
        except ServingError as error:
            raise BenchmarkError(f"{flag} {error}") from None
        spec = self.metadata["signatures"].get(SIGNATURE_TOKEN_IDS)
        if spec is None:
            raise BenchmarkError(
                f"{flag} {self.version_dir}: no {SIGNATURE_TOKEN_IDS} signature in its metadata"
            )
        try:
            loaded = tf.saved_model.load(str(self.version_dir))
        except (OSError, ValueError, tf.errors.OpError) as error:
            first = (str(error).strip().splitlines() or [""])[0]
            raise BenchmarkError(
                f"{flag} {self.version_dir}: cannot load the SavedModel ({first})"
            ) from None
        self._loaded = loaded  # the signature uses its variables: keep it alive
        self._function = loaded.signatures[SIGNATURE_TOKEN_IDS]
        self.inputs = tuple(spec["inputs"])
        self.signature = SIGNATURE_TOKEN_IDS
        self._tf = tf

    @property
    def facts(self) -> dict:
        """``source``, ``retention``, ``flops_fraction`` (the export's own, at its
        ``sequence_length``), ``sequence_length`` and ``mode`` from the metadata."""
        metadata = self.metadata
        budgets = metadata.get("budgets") or [{}]
        return {
            "source": f"{self.version_dir} ({self.signature})",
            "retention": budgets[0].get("retention", metadata.get("retention")),
            "flops_fraction": budgets[0].get("flops_fraction", metadata.get("flops_fraction")),
            "sequence_length": metadata.get("sequence_length"),
            "mode": metadata.get("mode"),
        }

    def prepare(self, batch: dict) -> dict:
        """A numpy batch as the signature's int32 tensors (made before timing)."""
        missing = [name for name in self.inputs if name not in batch]
        if missing:
            raise BenchmarkError(
                f"{self.version_dir}: its signature needs {', '.join(missing)}, "
                "which the benchmark's features lack"
            )
        return {name: self._tf.constant(np.asarray(batch[name], np.int32)) for name in self.inputs}

    def __call__(self, tensors: dict) -> np.ndarray:
        """The logits of one prepared batch, waited for."""
        return self._function(**tensors)["logits"].numpy()
