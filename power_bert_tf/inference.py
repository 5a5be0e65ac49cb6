"""Compiled inference: one predict function for evaluation, benchmarks and notebooks.

No optimizer and no training state: a `Predictor` holds the model and a compiled
`features -> outputs` function (a `tf.function` on TensorFlow, `jax.jit` over
`stateless_call` on JAX), traced once for every batch shape on TensorFlow.
"""

from __future__ import annotations

from collections.abc import Iterable

import keras
import numpy as np

FEATURES = ("token_ids", "segment_ids", "padding_mask")


def _features_of(batch):
    """The feature dict of a `features` or `(features, labels, ...)` batch."""
    return batch[0] if isinstance(batch, tuple) else batch


class Predictor:
    """A model's compiled inference call.

    Args:
        model: a Keras model taking a feature dict (e.g. `PowerBertClassifier`).
        batch_size, seq_len: fix the TensorFlow input signature (None: any size,
            one trace); ignored on JAX, which compiles once per shape.
        dtypes: feature name -> dtype for the TensorFlow signature; only the
            features named here are passed. Default: the model's
            `input_features` (else `FEATURES`), ids int32 and the mask bool.

    Example:
    >>> import keras_hub
    >>> from power_bert_tf import PowerBertClassifier
    >>> backbone = keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, max_sequence_length=16)
    >>> model = PowerBertClassifier(backbone, num_classes=2, retention="6,3")
    >>> features = {"token_ids": np.ones((4, 8), "int32"),
    ...             "segment_ids": np.zeros((4, 8), "int32"),
    ...             "padding_mask": np.ones((4, 8), bool)}
    >>> Predictor(model).predict([features, features]).shape
    (8, 2)
    """

    def __init__(self, model, batch_size: int | None = None, seq_len: int | None = None, dtypes=None):
        if not model.built and hasattr(model, "build_from_example"):
            model.build_from_example()  # stateless (JAX) calls need every variable
        self.model = model
        names = getattr(model, "input_features", FEATURES)
        self.dtypes = dict(dtypes or {name: "bool" if name == "padding_mask" else "int32" for name in names})
        self.backend = keras.backend.backend()
        self._call = self._compile(batch_size, seq_len)

    def _compile(self, batch_size, seq_len):
        model = self.model
        if self.backend == "tensorflow":
            import tensorflow as tf

            signature = {
                name: tf.TensorSpec([batch_size, seq_len], tf.as_dtype(dtype), name=name)
                for name, dtype in self.dtypes.items()
            }
            return tf.function(lambda inputs: model(inputs, training=False), input_signature=[signature])
        if self.backend == "jax":
            import jax

            @jax.jit
            def call(trainable, non_trainable, inputs):
                outputs, _ = model.stateless_call(trainable, non_trainable, inputs, training=False)
                return outputs

            # Read the variables at call time, so that later weight updates are seen.
            return lambda inputs: call(
                [v.value for v in model.trainable_variables],
                [v.value for v in model.non_trainable_variables],
                inputs,
            )
        return lambda inputs: model(inputs, training=False)

    def _cast(self, features: dict) -> dict:
        return {name: keras.ops.cast(features[name], dtype) for name, dtype in self.dtypes.items()}

    def __call__(self, features: dict):
        """Outputs of one batch, as a backend tensor (asynchronous on accelerators)."""
        return self._call(self._cast(features))

    def predict(self, batches: Iterable) -> np.ndarray:
        """float32 outputs of every batch, concatenated: `[examples, outputs]`.

        Args:
            batches: an iterable (e.g. a `tf.data.Dataset`) of feature dicts or
                `(features, labels)` tuples.
        """
        outputs = [
            np.asarray(keras.ops.convert_to_numpy(self(_features_of(batch))), dtype=np.float32)
            for batch in batches
        ]
        if not outputs:
            width = getattr(self.model, "num_classes", 1)
            return np.zeros((0, width), np.float32)
        return np.concatenate(outputs, axis=0)


def outputs_to_predictions(outputs: np.ndarray, is_regression: bool) -> np.ndarray:
    """Class ids from logits, or the score column for regression."""
    if is_regression:
        return outputs[:, 0]
    return np.argmax(outputs, axis=-1).astype(np.int32)


def evaluate(model, batches: Iterable, labels: np.ndarray, compute_metrics) -> dict:
    """Metrics of `model` on labelled batches.

    Args:
        model: a classifier with `is_regression`.
        batches: feature batches in the order of `labels`.
        labels: the true labels (or scores).
        compute_metrics: `(labels, predictions) -> {name: value}`, e.g. a GLUE task's.
    """
    predictions = outputs_to_predictions(Predictor(model).predict(batches), model.is_regression)
    return compute_metrics(labels, predictions)
