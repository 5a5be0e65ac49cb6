"""The serving module, its signatures, and writing it as a TF Serving version directory.

Signatures (see the package docstring): `serving_default` (raw text, tokenized and
packed in the graph; BERT / ALBERT backbones) and `serve_token_ids` (exactly the
features the model reads, `model.input_features`). The saved object graph tracks the
model's variables, not the Keras model, so loading needs neither Keras nor this package.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Sequence

import tensorflow as tf

from power_bert_tf.export.checkpoints import checkpoint_and_run_config, load_for_export
from power_bert_tf.export.errors import ExportError
from power_bert_tf.export.metadata import (
    SIGNATURE_TEXT,
    SIGNATURE_TOKEN_IDS,
    check_exportable,
    export_metadata,
    has_text_signature,
    write_metadata,
)
from power_bert_tf.export.packing import text_featurizer
from power_bert_tf.export.versions import staged_version, version_directory


def _check_backend() -> None:
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ExportError(
            "SavedModel export needs the TensorFlow Keras backend "
            f"(KERAS_BACKEND=tensorflow), not '{keras.backend.backend()}'"
        )


def _function(python_function, names, dtype, shape):
    """A tf.function of `python_function(*tensors)` whose signature names its inputs `names`."""
    specs = [tf.TensorSpec(shape, dtype, name=name) for name in names]
    return tf.function(python_function, input_signature=specs, autograph=False)


def _token_id_checks(features: dict, max_length: int, vocabulary_size: int, num_segments: int):
    """Assertions that turn a malformed token-id request into InvalidArgument."""
    token_ids = features["token_ids"]
    shape = tf.shape(token_ids)
    checks = [
        tf.debugging.assert_equal(
            tf.shape(features[name]), shape, message=f"{name} must have the shape of token_ids")
        for name in features if name != "token_ids"
    ]
    checks += [
        tf.debugging.assert_less_equal(
            shape[1], max_length,
            message=f"inputs may have at most {max_length} tokens (sequence_length)"),
        tf.debugging.assert_greater(shape[1], 0, message="inputs need at least one token ([CLS])"),
        tf.debugging.assert_non_negative(token_ids, message="token_ids must be >= 0"),
        tf.debugging.assert_less(
            token_ids, vocabulary_size,
            message=f"token_ids must be < vocabulary size {vocabulary_size}"),
    ]
    if "segment_ids" in features:
        segment_ids = features["segment_ids"]
        checks += [
            tf.debugging.assert_non_negative(segment_ids, message="segment_ids must be >= 0"),
            tf.debugging.assert_less(
                segment_ids, num_segments, message=f"segment_ids must be < {num_segments}"),
        ]
    return checks


def build_serving_module(model, metadata: dict, asset_dir: str | None = None):
    """A `tf.Module` whose tf.functions run `model` (TensorFlow backend).

    Args:
        model: a built `PowerBertClassifier` (with a keras-hub preprocessor for
            the text signature).
        metadata: `export_metadata(...)`; its labels, `is_pair`, signatures and
            sequence length shape the signatures.
        asset_dir: where the tokenizer's asset files are written so the
            SavedModel copies them into `assets/` (none written if None).

    Returns:
        `(module, signatures)`: pass both to `tf.saved_model.save`.
    """
    _check_backend()
    text = has_text_signature(metadata)
    check_exportable(model, text)
    preprocessor = getattr(model, "preprocessor", None)
    max_length = int(model.sequence_length)
    text_length = int(metadata["sequence_length"])
    if text and model.mode != "none" and text_length > max_length:
        raise ExportError(
            f"preprocessor sequence_length {text_length} exceeds the model's {max_length}"
        )
    vocabulary_size = int(model.backbone.vocabulary_size)
    num_segments = int(getattr(model.backbone, "num_segments", 2) or 2)
    label_names = tf.constant(metadata["label_names"] or [""], tf.string)
    feature_names = tuple(model.input_features)

    def head(features):
        outputs = tf.cast(model(features, training=False), tf.float32)
        if model.is_regression:
            return {"score": outputs[:, 0]}
        return {
            "logits": outputs,
            "probabilities": tf.nn.softmax(outputs, axis=-1),
            "label": tf.gather(label_names, tf.argmax(outputs, axis=-1, output_type=tf.int32)),
        }

    def serve_token_ids(*tensors):
        features = dict(zip(feature_names, tensors))
        checks = _token_id_checks(features, max_length, vocabulary_size, num_segments)
        with tf.control_dependencies(checks):
            features = {name: tf.identity(value) for name, value in features.items()}
        return head(features)

    module = tf.Module(name="power_bert_serving")
    # Tracking the variables (not the Keras model object) keeps the saved
    # object graph free of Keras internals.
    module.model_variables = list(model.variables)
    module.serve_token_ids = _function(serve_token_ids, feature_names, tf.int32, [None, None])
    # tf.functions (not concrete functions): `tf.saved_model.save` traces
    # them once, in its save context.
    signatures = {SIGNATURE_TOKEN_IDS: module.serve_token_ids}
    if text:
        featurize = text_featurizer(preprocessor)
        text_names = ["sentence1", "sentence2"] if metadata["is_pair"] else ["sentence"]
        module.tokenize = _function(featurize, text_names, tf.string, [None])

        def serve_text(*texts):
            return head(featurize(*texts))

        module.serve_text = _function(serve_text, text_names, tf.string, [None])
        signatures = {SIGNATURE_TEXT: module.serve_text, **signatures}

    # Metadata an operator can read after `tf.saved_model.load`.
    def string_variable(value):
        return tf.Variable(value, dtype=tf.string, trainable=False)

    module.retention_config = string_variable(metadata["retention_config"] or "")
    module.task = string_variable(metadata["task"])
    module.mode = string_variable(metadata["mode"])
    module.label_names = tf.Variable(
        tf.constant(metadata["label_names"], tf.string, shape=[len(metadata["label_names"])]),
        trainable=False,
    )
    module.sequence_length = tf.Variable(text_length, dtype=tf.int32, trainable=False)
    module.flops_fraction = tf.Variable(
        metadata["flops_fraction"], dtype=tf.float32, trainable=False
    )
    module.metadata_json = string_variable(json.dumps(metadata, sort_keys=True))

    # The tokenizer's own asset files (vocabulary.txt for WordPiece) go to
    # assets/; `loaded.assets` lists them.
    tokenizer = getattr(preprocessor, "tokenizer", None)
    if asset_dir is not None and hasattr(tokenizer, "save_assets"):
        tokenizer.save_assets(asset_dir)
        module.assets = [
            tf.saved_model.Asset(os.path.join(asset_dir, name))
            for name in sorted(os.listdir(asset_dir))
        ]
    return module, signatures


def export_model(model, export_dir, version: int | None = None,
                 run_config: dict | None = None,
                 checkpoint: str | None = None, *, text_signature: bool = True) -> str:
    """Write `model` as `<export_dir>/<version>/`; returns that path.

    The SavedModel is written into a temporary directory next to the version
    directory and renamed into place, so TF Serving never sees a partial
    version and an existing version is never overwritten.

    Args:
        text_signature: include the raw-text `serving_default` signature (BERT /
            ALBERT backbones with a preprocessor); False exports `serve_token_ids` alone.
    """
    check_exportable(model, text_signature)
    final = version_directory(export_dir, version)
    metadata = export_metadata(model, run_config, checkpoint, text_signature)
    metadata["version"] = int(final.name)
    with staged_version(final) as staging:
        with tempfile.TemporaryDirectory() as asset_dir:
            module, signatures = build_serving_module(model, metadata, asset_dir)
            tf.saved_model.save(module, str(staging), signatures=signatures)
        write_metadata(staging, metadata)
    return str(final)


def export_savedmodel(checkpoint, export_dir, version: int | None = None, *,
                      task: str | None = None,
                      label_names: Sequence[str] | None = None,
                      is_pair: bool | None = None,
                      text_signature: bool = True) -> str:
    """Export a training run's model for TF Serving.

    Args:
        checkpoint: a run output directory (uses `retrain.keras`, else
            `finetune.keras`, and `run_config.json`) or a `.keras` file.
        export_dir: the TF Serving model base path.
        version: the version directory to write; default 1 + the largest
            existing one (1 if none). An existing version is never replaced.
        task, label_names, is_pair: override (or, for a bare `.keras` file,
            supply) the `run_config.json` values.
        text_signature: see `export_model`.

    Returns:
        the path of the written version directory.

    Raises:
        ExportError: bad checkpoint, existing version, a model whose text
            signature cannot be built.
    """
    checkpoint_and_run_config(checkpoint)  # fail fast, before loading anything
    version_directory(export_dir, version)
    model, keras_file, run_config = load_for_export(checkpoint)
    overrides = {"task": task, "label_names": label_names, "is_pair": is_pair}
    run_config.update({k: v for k, v in overrides.items() if v is not None})
    return export_model(
        model, export_dir, version=version, run_config=run_config,
        checkpoint=str(keras_file), text_signature=text_signature,
    )
