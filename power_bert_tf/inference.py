"""Compiled inference (`Predictor`: a `tf.function`, or `jax.jit` over `stateless_call`) for
evaluation, benchmarks and notebooks; which word-pieces each encoder layer keeps
(`surviving_words`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import keras
import numpy as np

if TYPE_CHECKING:
    from power_bert_tf.models import PowerBertClassifier

FEATURES = ("token_ids", "segment_ids", "padding_mask")


class Predictor:
    """A model's compiled inference call.

    Args:
        model: a Keras model taking a feature dict (e.g. `PowerBertClassifier`).
        batch_size, seq_len: fix the TensorFlow input signature (None: any size).
        dtypes: feature name -> dtype of the features passed; default the model's
            `input_features` (else `FEATURES`), ids int32 and the mask bool.
        jit_compile: compile with XLA on TensorFlow.

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

    def __init__(
        self,
        model,
        batch_size: int | None = None,
        seq_len: int | None = None,
        dtypes=None,
        jit_compile: bool = False,
    ):
        if not model.built and hasattr(model, "build_from_example"):
            model.build_from_example()  # stateless (JAX) calls need every variable
        self.model = model
        names = getattr(model, "input_features", FEATURES)
        self.dtypes = dict(
            dtypes or {name: "bool" if name == "padding_mask" else "int32" for name in names}
        )
        self.backend = keras.backend.backend()
        self.jit_compile = jit_compile
        self._call = self._compile(batch_size, seq_len)

    def _compile(self, batch_size, seq_len):
        model = self.model
        if self.backend == "tensorflow":
            import tensorflow as tf

            signature = {
                name: tf.TensorSpec([batch_size, seq_len], tf.as_dtype(dtype), name=name)
                for name, dtype in self.dtypes.items()
            }
            return tf.function(
                lambda inputs: model(inputs, training=False),
                input_signature=[signature],
                jit_compile=self.jit_compile,
            )
        if self.backend == "jax":
            import jax

            @jax.jit
            def call(trainable, non_trainable, inputs):
                outputs, _ = model.stateless_call(trainable, non_trainable, inputs, training=False)
                return outputs

            # The variables read at call time: later weight updates are seen.
            return lambda inputs: call(
                [v.value for v in model.trainable_variables],
                [v.value for v in model.non_trainable_variables],
                inputs,
            )
        return lambda inputs: model(inputs, training=False)

    def __call__(self, features: dict):
        """Outputs of one batch, as a backend tensor (asynchronous on accelerators)."""
        return self._call({n: keras.ops.cast(features[n], t) for n, t in self.dtypes.items()})

    def predict(self, batches: Iterable) -> np.ndarray:
        """float32 outputs of every batch (feature dicts or `(features, labels)` tuples, e.g. a
        `tf.data.Dataset`), concatenated: `[examples, outputs]`."""
        features = (batch[0] if isinstance(batch, tuple) else batch for batch in batches)
        outputs = [np.asarray(keras.ops.convert_to_numpy(self(f)), np.float32) for f in features]
        if not outputs:
            return np.zeros((0, getattr(self.model, "num_classes", 1)), np.float32)
        return np.concatenate(outputs, axis=0)


def outputs_to_predictions(outputs: np.ndarray, is_regression: bool) -> np.ndarray:
    """Class ids from logits, or the score column for regression."""
    if is_regression:
        return outputs[:, 0]
    return np.argmax(outputs, axis=-1).astype(np.int32)


def surviving_words(model: PowerBertClassifier, sentence: str) -> tuple[list[str], np.ndarray]:
    """The word-pieces of `sentence` (unpadded) and which of them survive each encoder layer.

    Args:
        model: a classifier with a preprocessor (e.g. a hard-mode `PowerBertClassifier`
            from `runs.load_classifier`).
        sentence: one raw text.

    Returns:
        `(tokens, kept)`: the `n` token strings (special tokens included) and a bool array
        `[num_layers, n]`, True where that token's word-vector is still there after the
        layer's extraction.

    Raises:
        ValueError: the model has no preprocessor.
    """
    if model.preprocessor is None:
        raise ValueError("the model has no preprocessor")
    features = model.preprocessor([sentence], y=None)
    length = int(np.asarray(features["padding_mask"]).sum())
    features = {name: value[:, :length] for name, value in features.items()}
    outputs = model.encoder(features, training=False, return_kept_positions=True)
    kept = np.zeros((len(outputs["kept_positions"]), length), bool)
    for layer, positions in enumerate(outputs["kept_positions"]):
        kept[layer, np.asarray(positions)[0]] = True
    tokenizer = model.preprocessor.tokenizer
    ids = np.asarray(features["token_ids"])[0]
    tokens = [str(tokenizer.id_to_token(int(i))) for i in ids]
    return tokens, kept
